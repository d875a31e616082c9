# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Argument spec of triton_server, shared by the module and its action plugin (which validates first)."""

from __future__ import annotations

from typing import Any

from ._client import AUTH_ARG_SPEC
from ._options import argument_spec as triton_argument_spec


def _opt(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, **extra}


# Chart-equivalent and beyond-chart options, from the option table (_options.py): no argspec default, so the
# merge can tell "not set" apart and let values files fill them. Their defaults are _values.DEFAULTS.
TRITON_OPTIONS: dict[str, dict[str, Any]] = triton_argument_spec()

RELEASE_OPTIONS: dict[str, dict[str, Any]] = {
    "name": _opt("str", required=True, aliases=["release_name"]),
    "namespace": _opt("str", default="default", aliases=["release_namespace"]),
    "create_namespace": _opt("bool", default=False),
    "state": _opt("str", default="present", choices=["present", "absent"]),
    "values": _opt("dict", default={}, aliases=["release_values"]),
    "values_files": _opt("list", elements="path", default=[]),
    "wait": _opt("bool", default=True),
    "wait_timeout": _opt("int", default=600),
    "rollback_on_failure": _opt("bool", default=False),
    "preflight": _opt("str", default="fail", choices=["fail", "warn", "skip"]),
    "force_conflicts": _opt("bool", default=True),
    "adopt_helm_release": _opt("bool", default=False),
    # Set by the action plugin: the rendered manifests and merged options. Not for users.
    "rendered": _opt("dict"),
}


def auth_spec() -> dict[str, dict[str, Any]]:
    """AUTH_ARG_SPEC with its environment fallbacks in AnsibleModule's form."""
    from ansible.module_utils.basic import env_fallback

    spec = {}
    for name, option in AUTH_ARG_SPEC.items():
        option = dict(option)
        if "fallback" in option:
            option["fallback"] = (env_fallback, option["fallback"][1])
        spec[name] = option
    return spec


def argument_spec() -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {}
    spec.update(auth_spec())
    spec.update(RELEASE_OPTIONS)
    spec.update(TRITON_OPTIONS)
    return spec
