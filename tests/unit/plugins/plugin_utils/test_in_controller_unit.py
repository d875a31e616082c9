"""_in_controller: ControllerModule stands in for AnsibleModule when a module runs in the controller's task process, so
a task fails and succeeds with the same words either way; run_here turns whatever the module does into a result;
why_not_here says when a task must run its module the usual way. The same results from a real playbook, in the
controller and as module processes, are compared on the local cluster by tests/integration/test_in_controller.py
(this file has another name: pytest cannot collect two test modules of the same name from folders without
``__init__.py``)."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.inference.triton.plugins.module_utils._module import reported_failures
from ansible_collections.inference.triton.plugins.plugin_utils import _in_controller
from ansible_collections.inference.triton.plugins.plugin_utils._in_controller import (
    ControllerModule,
    ModuleExit,
    run_here,
    why_not_here,
)

MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True, "aliases": ["release_name"]},
    "replicas": {"type": "int", "default": 1},
    "mode": {"type": "str", "choices": ["explicit", "poll"]},
    "token": {"type": "str", "no_log": True},
}


def echo(module: Any) -> None:
    """A module that says what it was given, a no_log value included."""
    module.exit_json(changed=False, said=f"name={module.params['name']} token={module.params['token']}")


def with_ansible_module(args: dict[str, Any], run: Any = echo) -> dict[str, Any]:
    """The result a real AnsibleModule prints for ``args``, run in this process (exit_json/fail_json exit)."""
    out = io.StringIO()
    with patch_module_args({**args, "_ansible_no_log": True}), contextlib.redirect_stdout(out):  # no syslog line
        with pytest.raises(SystemExit):
            run(AnsibleModule(argument_spec=SPEC, supports_check_mode=True))
    return json.loads(out.getvalue())


def with_controller_module(args: dict[str, Any], run: Any = echo, name: str = "demo") -> dict[str, Any]:
    with pytest.raises(ModuleExit) as done:
        run(ControllerModule(name, SPEC, args, check_mode=False, diff=False))
    return done.value.result


# -- the same result as AnsibleModule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({}, "missing required arguments: name"),
        ({"name": "t", "mode": "sometimes"}, "value of mode must be one of: explicit, poll, got: sometimes"),
        (
            {"name": "t", "replicas": "two"},
            "argument 'replicas' is of type str and we were unable to convert to int: \"'two'\" cannot be converted "
            "to an int",
        ),
        (
            {"name": "t", "replica": 2, "other": 1},
            "Unsupported parameters for (demo) module: other, replica. "
            "Supported parameters include: mode, name, replicas, token (release_name).",
        ),
    ],
)
def test_bad_arguments_fail_with_ansible_modules_words(args, msg):
    result = with_controller_module(args)
    assert result["failed"] is True
    assert result["msg"] == msg
    # A module process names itself in the unsupported-parameters message; in this process AnsibleModule is basic.py.
    real = with_ansible_module(args)
    assert result == {**real, "msg": real["msg"].replace("(basic.py)", "(demo)")}


def test_a_success_has_the_same_result_and_invocation_as_ansible_modules():
    args = {"release_name": "t", "token": "s3cr3t", "mode": "poll"}
    result = with_controller_module(args)
    assert result == with_ansible_module(args)
    # The alias given stays in the invocation beside the option it stands for, as AnsibleModule leaves it.
    assert result["invocation"] == {
        "module_args": {"release_name": "t", "name": "t", "replicas": 1, "mode": "poll", "token": MASK}
    }


def test_no_log_values_are_masked_wherever_they_appear():
    result = with_controller_module({"name": "t", "token": "s3cr3t"})
    assert result["said"] == "name=t token=********"
    assert result["invocation"]["module_args"]["token"] == MASK
    assert "s3cr3t" not in json.dumps(result)


def test_a_failure_message_is_masked_too_and_keeps_the_other_keys():
    def fail(module: Any) -> None:
        module.fail_json(msg=f"cannot log in with {module.params['token']}", option="token")

    result = with_controller_module({"name": "t", "token": "s3cr3t"}, fail)
    assert result == {**with_ansible_module({"name": "t", "token": "s3cr3t"}, fail)}
    assert result["msg"] == "cannot log in with ********" and result["option"] == "token" and result["failed"]


def test_warnings_are_returned_in_order_and_masked():
    # A module process returns its warnings as structured events that Ansible shows as these same lines.
    def warn(module: Any) -> None:
        module.warn("preflight: cannot list nodes (forbidden)")
        module.warn(f"token {module.params['token']} expires soon")
        module.exit_json(changed=False)

    result = with_controller_module({"name": "t", "token": "s3cr3t"}, warn)
    assert result["warnings"] == ["preflight: cannot list nodes (forbidden)", "token ******** expires soon"]
    assert "warnings" not in with_controller_module({"name": "t"})


def test_the_result_is_plain_json_as_a_module_process_prints_it():
    import datetime

    def odd_values(module: Any) -> None:
        module.exit_json(changed=True, at=datetime.date(2026, 12, 5), pair=("a", 1), kinds={"Service"})

    result = with_controller_module({"name": "t"}, odd_values)
    assert (result["at"], result["pair"], result["kinds"]) == ("2026-12-05", ["a", 1], ["Service"])


def test_check_mode_and_diff_are_what_the_task_asked():
    module = ControllerModule("demo", SPEC, {"name": "t"}, check_mode=True, diff=True)
    assert module.check_mode is True and module._diff is True
    assert module.params == {"name": "t", "replicas": 1, "mode": None, "token": None}


# -- ModuleExit ends the module, whatever it catches -------------------------------------------------------------------


def test_module_exit_passes_through_except_exception():
    def careless(module: Any) -> None:
        try:
            module.exit_json(changed=False, done=True)
        except Exception:  # noqa: BLE001 - what the test is about: a module's broad handler must not stop exit_json
            module.fail_json(msg="exit_json was caught")

    assert with_controller_module({"name": "t"}, careless)["done"] is True
    assert not issubclass(ModuleExit, Exception) and issubclass(ModuleExit, BaseException)


def test_exit_inside_reported_failures_is_a_success_and_an_error_a_failure():
    # Every module of the collection exits inside `with reported_failures(module)`, which catches Exception.
    def exits_inside(module: Any) -> None:
        with reported_failures(module):
            module.exit_json(changed=True)

    def raises_inside(module: Any) -> None:
        with reported_failures(module):
            raise RuntimeError("boom")

    assert with_controller_module({"name": "t"}, exits_inside)["changed"] is True
    failed = with_controller_module({"name": "t"}, raises_inside)
    assert failed["failed"] and failed["msg"] == "unexpected error talking to the cluster: boom"
    assert "RuntimeError: boom" in failed["exception"]


# -- run_here: a module's run(module) in this process, as a task's result ----------------------------------------------


@pytest.fixture
def no_auth_environment(monkeypatch):
    """run_here adds the connection options, whose fallbacks read K8S_AUTH_* variables."""
    for var in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("K8S_AUTH_SSL_CA_CERT", "K8S_AUTH_CERT_FILE", "K8S_AUTH_KEY_FILE", "K8S_AUTH_VERIFY_SSL"):
        monkeypatch.delenv(var, raising=False)


def test_run_here_adds_the_connection_options_and_masks_the_api_key(no_auth_environment):
    result = run_here("demo", SPEC, echo, {"name": "t", "api_key": "sha256~abc", "token": "s3cr3t"}, False, False)
    module_args = result["invocation"]["module_args"]
    assert module_args["api_key"] == MASK and module_args["request_timeout"] == 30.0
    assert "sha256~abc" not in json.dumps(result)


def test_run_here_turns_an_error_into_a_failed_task_and_a_silent_end_into_one_too(no_auth_environment):
    def crashes(module: Any) -> None:
        raise KeyError("rendered")

    failed = run_here("demo", SPEC, crashes, {"name": "t"}, False, False)
    assert failed["failed"] is True
    assert failed["msg"] == "unexpected error talking to the cluster: 'rendered'"
    assert "KeyError" in failed["exception"]
    silent = run_here("demo", SPEC, lambda module: None, {"name": "t"}, False, False)
    assert silent == {"failed": True, "msg": "the module ended without a result"}


def test_run_here_reports_bad_arguments_like_a_module_process(no_auth_environment):
    result = run_here("rollout_status", SPEC, echo, {"name": "t", "timeout": 5}, False, False)
    assert result["failed"] is True
    assert result["msg"].startswith("Unsupported parameters for (rollout_status) module: timeout. Supported parameters")


# -- why_not_here: when a task runs its module the usual way -----------------------------------------------------------


def action(
    connection: str = "local",
    become: bool = False,
    async_val: int = 0,
    environment: list[Any] | None = None,
    interpreter: str = sys.executable,
) -> SimpleNamespace:
    """The parts of an action plugin why_not_here reads."""
    return SimpleNamespace(
        _connection=SimpleNamespace(transport=connection),
        _play_context=SimpleNamespace(become=become),
        _task=SimpleNamespace(async_val=async_val, environment=environment or []),
        _templar=SimpleNamespace(template=lambda value: interpreter if "{{" in value else value),
    )


@pytest.mark.parametrize(
    ("the_action", "task_vars", "reason"),
    [
        (action(), {}, None),
        (action(connection="ansible.builtin.local"), {}, None),
        (action(), {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, None),
        (action(), {"ansible_python_interpreter": sys.executable}, None),
        (action(), {"ansible_python_interpreter": "{{ some_python }}"}, None),  # resolves to this interpreter
        (action(connection="ssh"), {}, "connection ssh"),
        (action(become=True), {}, "become"),
        (action(async_val=30), {}, "async"),
        (action(environment=[{"HTTPS_PROXY": "http://198.18.0.1:3128"}]), {}, "environment"),
        (action(environment=[{}]), {}, None),  # an empty environment keyword changes nothing
        (action(), {"ansible_python_interpreter": "/usr/bin/python3.9"}, "ansible_python_interpreter"),
        (
            action(interpreter="/opt/other/bin/python"),
            {"ansible_python_interpreter": "{{ some_python }}"},
            "ansible_python_interpreter",
        ),
    ],
)
def test_why_not_here(the_action, task_vars, reason):
    assert why_not_here(the_action, task_vars) == reason


def test_a_controller_without_the_kubernetes_library_runs_the_module_on_its_target(monkeypatch):
    monkeypatch.setattr(_in_controller, "HAS_K8S", False)
    assert why_not_here(action(), {}) == "no kubernetes library on the controller"


def test_an_interpreter_that_cannot_be_resolved_here_is_left_to_the_target():
    def undefined(value: str) -> str:
        raise ValueError(f"{value}: undefined variable")

    broken = action()
    broken._templar = SimpleNamespace(template=undefined)
    assert (
        why_not_here(broken, {"ansible_python_interpreter": "{{ undefined_python }}"}) == "ansible_python_interpreter"
    )
