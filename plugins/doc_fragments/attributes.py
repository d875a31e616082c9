# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment:
    # The attributes of the modules that only read the cluster (inference.triton.attributes.read_only).
    DOCUMENTATION = r"""
options: {}
"""

    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    description: Only reads; the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  idempotent:
    support: full
    description: Only reads.
"""
