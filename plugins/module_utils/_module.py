# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""What every Kubernetes module of the collection does the same way: its connection options, the check for
the kubernetes library, and turning failures into messages (never a traceback in ``msg``)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ._client import HAS_K8S, K8S_IMPORT_ERROR, ClusterError, unexpected_failure_message
from ._spec import auth_spec


def k8s_module(argument_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the shared connection options; fails cleanly without the kubernetes library."""
    spec = auth_spec()
    spec.update(argument_spec)
    module = AnsibleModule(argument_spec=spec, **kwargs)
    if not HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(K8S_IMPORT_ERROR))
    return module


@contextmanager
def reported_failures(
    module: AnsibleModule,
    expected: tuple[type[BaseException], ...] = (),
    done: Callable[[], dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
) -> Iterator[None]:
    """Expected failures end the task with their own message (and the option at fault, when they name one);
    anything else with a short message, the traceback kept aside in ``exception``. Every module fails this way.

    ``done()`` adds what the run had already written before it failed (a change the user must see); ``warnings``
    collected so far are still reported."""
    try:
        yield
    except (ClusterError, *expected) as exc:
        option = getattr(exc, "option", None)
        _warn(module, warnings)
        module.fail_json(msg=str(exc), **({"option": option} if option else {}), **(done() if done else {}))
    except Exception as exc:  # noqa: BLE001 - the last resort: a message, not a traceback
        _warn(module, warnings)
        module.fail_json(
            msg=unexpected_failure_message(exc), exception=traceback.format_exc(), **(done() if done else {})
        )


def _warn(module: AnsibleModule, warnings: list[str] | None) -> None:
    for warning in warnings or []:
        module.warn(warning)
