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
from ansible_collections.inference.triton.plugins.module_utils._wait import (
    rollout_failure,
    rollout_stopped,
    serving_failure,
)
from ansible_collections.inference.triton.plugins.modules import rollout_status, rollout_undo, triton_server  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.inference.triton.plugins.plugin_utils._in_controller import execute_module

display = Display()
MODULE = "triton_server"
ROLLOUT_MODULE = "rollout_status"
UNDO_MODULE = "rollout_undo"
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
        if "rendered" in args:
            return {"failed": True, "msg": "rendered: internal option, set by the action plugin; remove it"}

        validated = ArgumentSpecValidator(argument_spec()).validate(args)
        if validated.error_messages:
            return {"failed": True, "msg": "; ".join(validated.error_messages)}
        p = validated.validated_parameters

        try:
            validate_release(p["name"], p["namespace"])
            rendered = self._render_release(p) if p["state"] == "present" else None
        except (ValidationError, ValuesError) as exc:
            return {"failed": True, "msg": str(exc), "option": getattr(exc, "option", None), "changed": False}

        module_args = {k: v for k, v in args.items() if k not in ("values", "values_files", "release_values")}
        module_args["rendered"] = rendered
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

    def _render_release(self, p: dict[str, Any]) -> dict[str, Any]:
        """What the module applies: the rendered release, or what a take-over of a Helm release needs."""
        return self._adoption(p) if p["adopt_helm_release"] else self._rendered(p)

    def _adoption(self, p: dict[str, Any]) -> dict[str, Any]:
        """adopt_helm_release: the chart's values (over the live release's, which the module reads) and the server
        flags; the collection's other options have no place in the chart's objects and are refused."""
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

    def _rendered(self, p: dict[str, Any]) -> dict[str, Any]:
        """Values merged over the defaults, validated, rendered: the manifests and what the module needs besides."""
        documents = self._documents(p)
        native = {k: p.get(k) for k in TRITON_OPTIONS}
        warnings: list[str] = []  # chart values the module reads differently from the chart, then dubious input
        options, origin = merge_options(native, documents, warnings)
        warnings += validate(options, origin, native)
        context = build_context(p["name"], p["namespace"], options)
        manifests = render(p["name"], p["namespace"], options, context=context)
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
        namespace, name = p["namespace"], result["fullname"]
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
                    "namespace": namespace,
                    "timeout": max(1, int(min(PROGRESS_INTERVAL, remaining))),
                    "fail_on_timeout": False,
                    "verify_pods": True,
                    "verify_models": list((result.get("options") or {}).get("models") or []),
                },
                task_vars,
            )
            if status.get("failed"):
                result.update(failed=True, msg=f"rollout of Deployment {namespace}/{name}: {status.get('msg')}")
                return result
            if status["complete"]:
                result["rollout"] = status
                if status.get("serving_problems"):
                    result.update(failed=True, msg=serving_failure(namespace, name, status))
                return result
            if deadline - time.monotonic() <= 0 or rollout_stopped(status):
                break
            if status.get("summary") != last_text:
                last_text = status.get("summary")
                elapsed = int(time.monotonic() - started)
                display.display(
                    f"[{host}] rollout of {namespace}/{name}: {last_text} ({elapsed}s of {p['wait_timeout']}s)"
                )
        elapsed = time.monotonic() - started if rollout_stopped(status) else None
        msg = rollout_failure(namespace, name, status, p["wait_timeout"], elapsed)
        if p["rollback_on_failure"]:
            undo = execute_module(self, UNDO_MODULE, {**auth, "name": name, "namespace": namespace}, task_vars)
            msg += f". Rolled back: {undo.get('rollback', undo.get('msg'))}"
            result["rollback"] = undo.get("rollback")
        result.update(failed=True, msg=msg, rollout=status)
        return result
