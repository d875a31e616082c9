# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Runs the gpu_nodes_info module in the controller's task process when the task runs on the controller."""

from __future__ import annotations

from ansible_collections.inference.triton.plugins.modules import gpu_nodes_info  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.inference.triton.plugins.plugin_utils._in_controller import ModuleInControllerAction


class ActionModule(ModuleInControllerAction):
    MODULE = "gpu_nodes_info"
