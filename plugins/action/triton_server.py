# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Controller side of triton_server: validate, merge values, render the templates, run the module, then follow
the rollout with visible progress."""

from __future__ import annotations

import time
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.inference.triton.plugins.module_utils._client import AUTH_OPTIONS
from ansible_collections.inference.triton.plugins.module_utils._render import build_context, render
from ansible_collections.inference.triton.plugins.module_utils._spec import TRITON_OPTIONS, argument_spec
from ansible_collections.inference.triton.plugins.module_utils._validate import (
    ValidationError,
    validate,
    validate_release,
)
from ansible_collections.inference.triton.plugins.module_utils._values import ValuesError, merge_options
from ansible_collections.inference.triton.plugins.module_utils._wait import GPU_STALL_TEXT
from ansible_collections.inference.triton.plugins.modules import rollout_status, triton_server  # noqa: F401
from ansible_collections.inference.triton.plugins.plugin_utils._in_controller import execute_module

display = Display()
MODULE = "triton_server"
ROLLOUT_MODULE = "rollout_status"
# Each rollout_status call watches for at most this long, so progress shows between calls.
PROGRESS_INTERVAL = 15
# The options that still apply to a release taken over with adopt_helm_release: the server's flags.
ADOPTION_SERVER_OPTIONS = ("model_control_mode", "load_models", "server_args")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(argument_spec())

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        if "plan" in args:
            return {"failed": True, "msg": "plan: internal option, set by the action plugin; remove it"}

        validated = ArgumentSpecValidator(argument_spec()).validate(args)
        if validated.error_messages:
            return {"failed": True, "msg": "; ".join(validated.error_messages)}
        p = validated.validated_parameters

        plan = None
        if p["state"] == "present" and p["adopt_helm_release"]:
            try:
                plan = self._adoption_plan(p)
            except (ValidationError, ValuesError) as exc:
                return {"failed": True, "msg": str(exc), "option": getattr(exc, "option", None), "changed": False}
        elif p["state"] == "present":
            try:
                plan = self._plan(p)
            except (ValidationError, ValuesError) as exc:
                return {"failed": True, "msg": str(exc), "option": getattr(exc, "option", None), "changed": False}
        elif p["state"] == "absent":
            try:
                validate_release(p["name"], p["namespace"])
            except ValidationError as exc:
                return {"failed": True, "msg": str(exc), "option": exc.option, "changed": False}

        module_args = {k: v for k, v in args.items() if k not in ("values", "values_files", "release_values")}
        module_args["plan"] = plan
        started = time.monotonic()
        result.update(execute_module(self, MODULE, module_args, task_vars))
        if result.get("failed") or p["state"] != "present" or not p["wait"] or self._task.check_mode:
            return result
        if result.get("rollout_complete"):
            # The module saw the rollout complete (or the Deployment unchanged and complete): nothing to wait for.
            return result
        return self._follow_rollout(p, args, result, task_vars, started)

    def _documents(self, p: dict[str, Any]) -> list[tuple[str, Any]]:
        documents = []
        for path in p["values_files"]:
            found = self._find_needle("files", path)
            try:
                documents.append((path, self._loader.load_from_file(found) or {}))
            except AnsibleError as exc:
                raise ValuesError(f"values_files: cannot read {path}: {exc}") from exc
        if p["values"]:
            documents.append(("values", p["values"]))
        return documents

    def _adoption_plan(self, p: dict[str, Any]) -> dict[str, Any]:
        """adopt_helm_release: the chart's values (over the live release's, which the module reads) and the server
        flags; the collection's other options have no place in the chart's objects and are refused."""
        validate_release(p["name"], p["namespace"])
        documents = self._documents(p)
        for source, document in documents:
            if not isinstance(document, dict):
                raise ValuesError(f"{source}: a values document must be a mapping")
        others = sorted(k for k in TRITON_OPTIONS if p.get(k) is not None and k not in ADOPTION_SERVER_OPTIONS)
        if others:
            raise ValidationError(
                "adopt_helm_release",
                f"{', '.join(others)} cannot be set while taking over a Helm release, whose objects keep the chart's "
                "shape; give the chart's values in values or values_files instead",
            )
        server = {k: p.get(k) for k in ADOPTION_SERVER_OPTIONS if p.get(k) is not None}
        if server.get("model_control_mode") not in (None, "explicit") and server.get("load_models"):
            raise ValidationError("load_models", "only with model_control_mode explicit")
        return {"adopt": {"documents": documents, "server": server}, "warnings": []}

    def _plan(self, p: dict[str, Any]) -> dict[str, Any]:
        validate_release(p["name"], p["namespace"])
        documents = self._documents(p)
        native = {k: p.get(k) for k in TRITON_OPTIONS}
        warnings: list[str] = []  # chart values the module reads differently from the chart, then dubious input
        options, origin = merge_options(native, documents, warnings)
        warnings += validate(options, origin, native)
        manifests = render(p["name"], p["namespace"], options)
        context = build_context(p["name"], p["namespace"], options)
        keep = ("fullname", "selector_labels", "node_selector", "affinity", "tolerations")
        return {
            "options": options,
            "origin": origin,
            "manifests": manifests,
            "context": {k: context[k] for k in keep},
            "warnings": warnings,
        }

    def _follow_rollout(
        self,
        p: dict[str, Any],
        args: dict[str, Any],
        result: dict[str, Any],
        task_vars: dict[str, Any],
        started: float,
    ) -> dict[str, Any]:
        """The module followed the rollout for its first slice; go on in rollout_status slices, showing progress."""
        auth = {k: args[k] for k in AUTH_OPTIONS if k in args}
        name = result["fullname"]
        deadline = started + p["wait_timeout"]
        host = task_vars.get("inventory_hostname", "localhost")
        last_text = None
        while True:
            remaining = deadline - time.monotonic()
            status = execute_module(
                self,
                ROLLOUT_MODULE,
                {
                    **auth,
                    "name": name,
                    "namespace": p["namespace"],
                    "timeout": max(1, int(min(PROGRESS_INTERVAL, remaining))),
                    "fail_on_timeout": False,
                    "verify_pods": True,
                    "verify_models": list((result.get("options") or {}).get("models") or []),
                },
                task_vars,
            )
            if status.get("failed"):
                result.update(failed=True, msg=f"rollout of Deployment {p['namespace']}/{name}: {status.get('msg')}")
                return result
            if status["complete"]:
                result["rollout"] = status
                if status.get("serving_problems"):
                    result.update(
                        failed=True,
                        msg=f"rollout of Deployment {p['namespace']}/{name} completed, but its new pods do not serve "
                        "as declared: " + "; ".join(status["serving_problems"]),
                    )
                return result
            remaining = deadline - time.monotonic()
            progress = status.get("progress") or {}
            if (
                remaining <= 0
                or progress.get("deadline_exceeded")
                or progress.get("crash_loop")
                or progress.get("gpu_stall")
                or progress.get("models_unavailable")
            ):
                break
            text = status.get("summary")
            if text != last_text:
                display.display(
                    f"[{host}] rollout of {p['namespace']}/{name}: {text} ({int(time.monotonic() - started)}s of "
                    f"{p['wait_timeout']}s)"
                )
                last_text = text
        reasons = status.get("reasons") or []
        crash_loop = (status.get("progress") or {}).get("crash_loop")
        if crash_loop:
            # A container of the new pods keeps exiting: waiting until wait_timeout would not change that.
            msg = (
                f"rollout of Deployment {p['namespace']}/{name} stopped after {int(time.monotonic() - started)}s "
                f"of {p['wait_timeout']}s: new pods keep crashing ({', '.join(crash_loop)}), which does not recover "
                f"without a change ({status.get('summary')}): " + "; ".join(reasons)
            )
        elif (status.get("progress") or {}).get("models_unavailable"):
            # Explicit mode does not retry a model that failed to load: the pod never becomes ready.
            msg = (
                f"rollout of Deployment {p['namespace']}/{name} stopped after {int(time.monotonic() - started)}s "
                f"of {p['wait_timeout']}s: declared models cannot load, which Triton does not retry in explicit mode "
                f"({status.get('summary')}): " + "; ".join(reasons)
            )
        elif (status.get("progress") or {}).get("gpu_stall"):
            msg = (
                f"rollout of Deployment {p['namespace']}/{name} stopped after {int(time.monotonic() - started)}s "
                f"of {p['wait_timeout']}s: {GPU_STALL_TEXT} ({status.get('summary')}): " + "; ".join(reasons)
            )
        else:
            msg = (
                f"rollout of Deployment {p['namespace']}/{name} did not complete within {p['wait_timeout']}s "
                f"({status.get('summary')}): " + "; ".join(reasons)
            )
        if p["rollback_on_failure"]:
            undo = execute_module(
                self,
                ROLLOUT_MODULE,
                {
                    **auth,
                    "name": name,
                    "namespace": p["namespace"],
                    "rollback": True,
                    "timeout": 0,
                    "fail_on_timeout": False,
                },
                task_vars,
            )
            msg += f". Rolled back: {undo.get('rollback', undo.get('msg'))}"
            result["rollback"] = undo.get("rollback")
        result.update(failed=True, msg=msg, rollout=status)
        return result
