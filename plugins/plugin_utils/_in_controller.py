# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run the collection's Kubernetes modules inside the controller's task process when the task runs on the controller.

A module run the usual way is a new Python process per task: Ansible packs the module, starts an interpreter, and
the module imports the kubernetes client (0.3-0.45 s) before its first request. Kubernetes modules nearly always
run on the controller (connection local), where none of that is needed. Ansible's linear and free strategies load
an action plugin's class in the ``ansible-playbook`` process itself before they fork the task's worker, so whatever
the action plugin imports (this file, the kubernetes client, the modules' code, the templates' Jinja environment) is
imported once per ``ansible-playbook`` process and shared by every later task of the run, for every release and
cluster. The module's own ``run(module)`` does the work in the worker, with a stand-in for AnsibleModule that
validates with the same argument spec, masks the same ``no_log`` values and returns the same result.

A task runs its module the usual way, as a process on the target, when running it here could behave differently:
a connection that is not local (a task delegated to another host, or a cluster host reached by SSH), ``become``,
``async``, an ``environment`` keyword (it is the module process's environment), a Python interpreter chosen for the
host other than the controller's own, or a controller without the kubernetes library.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.inference.triton.plugins.module_utils._client import HAS_K8S, unexpected_failure_message
from ansible_collections.inference.triton.plugins.module_utils._spec import auth_spec

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local")
_PLAYBOOK_PYTHON = ("{{ ansible_playbook_python }}", "{{ansible_playbook_python}}")


class ModuleExit(BaseException):  # like SystemExit: no "except Exception" in a module stops it
    """exit_json / fail_json of :class:`ControllerModule`: the module's result, as AnsibleModule would print it."""

    def __init__(self, result: dict[str, Any]):
        super().__init__(result.get("msg", ""))
        self.result = result


class ControllerModule:
    """What the collection's modules use of AnsibleModule, for a run in the controller's task process."""

    def __init__(self, name: str, argument_spec: dict[str, Any], args: dict[str, Any], check_mode: bool, diff: bool):
        self.check_mode = check_mode
        self._diff = diff
        self._warnings: list[str] = []
        validated = ArgumentSpecValidator(argument_spec).validate(args)
        self._no_log_values = validated._no_log_values
        self.params = validated.validated_parameters
        if validated.error_messages:
            # AnsibleModule's own wording, so that a task fails the same way wherever its module runs.
            msg = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                msg = f"Unsupported parameters for ({name}) module: {msg}"
            self.fail_json(msg=msg)

    def warn(self, warning: str) -> None:
        self._warnings.append(warning)

    def exit_json(self, **result: Any) -> None:
        raise ModuleExit(self._finished(result))

    def fail_json(self, msg: str, **result: Any) -> None:
        result.update(failed=True, msg=str(msg))
        raise ModuleExit(self._finished(result))

    def _finished(self, result: dict[str, Any]) -> dict[str, Any]:
        result.setdefault("invocation", {"module_args": self.params})
        if self._warnings:
            result["warnings"] = list(self._warnings)
        # Through JSON like a module's output: no shared objects, no tuples, dates as text.
        return json.loads(json.dumps(remove_values(result, self._no_log_values), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def run_here(
    name: str,
    argument_spec: dict[str, Any],
    run: Callable[[Any], None],
    args: dict[str, Any],
    check_mode: bool,
    diff: bool,
) -> dict[str, Any]:
    """Run a module's ``run(module)`` in this process; its result as the module process would have returned it."""
    spec = auth_spec()
    spec.update(argument_spec)
    try:
        run(ControllerModule(name, spec, args, check_mode, diff))
    except ModuleExit as done:
        return done.result
    except Exception as exc:  # noqa: BLE001 - as a module process would: a failed task, not a crashed worker
        return {"failed": True, "msg": unexpected_failure_message(exc), "exception": traceback.format_exc()}
    return {"failed": True, "msg": "the module ended without a result"}


def why_not_here(action: Any, task_vars: dict[str, Any]) -> str | None:
    """None when the task's module can run in this process; else why it runs as a process on its target."""
    connection = getattr(action._connection, "transport", None) or getattr(action._connection, "_load_name", None)
    if connection not in LOCAL_CONNECTIONS:
        return f"connection {connection}"
    if action._play_context.become:
        return "become"
    if action._task.async_val:
        return "async"
    if any(action._task.environment or []):
        return "environment"
    if not HAS_K8S:
        return "no kubernetes library on the controller"
    interpreter = task_vars.get("ansible_python_interpreter")
    if interpreter and str(interpreter).strip() not in _PLAYBOOK_PYTHON:
        try:
            chosen = action._templar.template(interpreter)
        except Exception:  # noqa: BLE001 - an interpreter we cannot resolve here is the target's business
            return "ansible_python_interpreter"
        if os.path.realpath(str(chosen)) != os.path.realpath(sys.executable):
            return "ansible_python_interpreter"
    return None


def execute_module(action: Any, module: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
    """Run ``inference.triton.<module>`` here when the task runs on the controller, else as Ansible always does."""
    if why_not_here(action, task_vars) is not None:
        return action._execute_module(f"inference.triton.{module}", module_args=module_args, task_vars=task_vars)
    code = importlib.import_module(f"ansible_collections.inference.triton.plugins.modules.{module}")
    return run_here(
        module, code.ARGUMENT_SPEC, code.run, module_args, bool(action._task.check_mode), bool(action._task.diff)
    )


class ModuleInControllerAction(ActionBase):
    """The action plugin of a Kubernetes module of the collection: its module runs in this process when it can."""

    TRANSFERS_FILES = False
    MODULE = ""

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result.update(execute_module(self, self.MODULE, dict(self._task.args), task_vars or {}))
        return result


def _preload() -> None:
    """Import and compile in ansible-playbook, before the task workers fork, what every module run needs."""
    from ansible_collections.inference.triton.plugins.module_utils import _apply, _release, _render, _wait  # noqa: F401

    _render.preload_templates()


_preload()
