# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment:
    # The Deployment a module watches or rolls back (rollout_status, rollout_undo).
    DOCUMENTATION = r"""
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    default: default
"""
