"""Reliability on the real local control plane: injected API faults (tests/integration/faultproxy.py), an API
server gone between two writes or during the wait, two runs of one release at once, least-privilege RBAC
(docs/rbac.yml), a field owned by another manager (an autoscaler), Pod Security, and credentials kept out of
output. docs/reliability.md lists each guarantee with its test."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from typing import Any

import pytest
from conftest import Runner, free_node_port
from faultproxy import FaultProxy
from kubernetes import client
from rbac_docs import allowed, create_rbac, rbac_objects, token_kubeconfig

APPLY = "PATCH"


@pytest.fixture
def proxy(kube_cluster, tmp_path):
    with FaultProxy(kube_cluster.kubeconfig, tmp_path) as running:
        yield running


@pytest.fixture
def via_proxy(proxy, tmp_path):
    """A runner whose every request (module, action plugin's rollout follow-up) goes through the fault proxy."""
    return Runner(proxy.kubeconfig, tmp_path)


def release_objects(k8s, namespace: str, release: str) -> dict[str, list[str]]:
    """Names of every object of the release, by kind (found by its instance label, as uninstall does)."""
    selector = f"app.kubernetes.io/instance={release}"
    apps, core, policy = client.AppsV1Api(k8s), client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    return {
        "Deployment": [
            d.metadata.name for d in apps.list_namespaced_deployment(namespace, label_selector=selector).items
        ],
        "Service": [s.metadata.name for s in core.list_namespaced_service(namespace, label_selector=selector).items],
        "PodDisruptionBudget": [
            p.metadata.name
            for p in policy.list_namespaced_pod_disruption_budget(namespace, label_selector=selector).items
        ],
    }


def failed_changed_nothing(result: dict[str, Any]) -> bool:
    return result.get("changed") is False and set(result.get("actions", {}).values()) <= {"unchanged"}


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# -- 1. transient faults are retried with bounded backoff, and counted ---------------------------------------------


def test_transient_429_5xx_are_retried_and_counted(via_proxy, proxy, runner, k8s, namespace):
    deployments = rf"/namespaces/{namespace}/deployments/rel-triton$"
    services = rf"/namespaces/{namespace}/services/rel-triton$"
    pdbs = rf"/namespaces/{namespace}/poddisruptionbudgets/rel-triton$"
    proxy.inject(429, "GET", deployments, times=2)  # throttled reads
    proxy.inject(503, APPLY, services, times=1, dry_run=True)  # the server's trouble during a dry run
    proxy.inject(500, APPLY, deployments, times=1, dry_run=False)  # ... and during the real write
    proxy.inject(503, APPLY, pdbs, times=2, dry_run=False)
    proxy.inject(429, "GET", rf"/namespaces/{namespace}$", times=1)

    started = time.monotonic()
    result = via_proxy.triton(name="rel", namespace=namespace, use_cpu=True, pdb_enabled=True, replicas=2)
    elapsed = time.monotonic() - started
    assert not result.get("failed"), result.get("msg")
    assert proxy.injected == 7, proxy.state.log
    assert result["retries"] == 7  # each injected answer cost exactly one retry, none was a failure
    assert result["actions"] == {"deployment": "created", "service": "created", "pdb": "created"}
    assert result["rollout"]["complete"] is True
    assert elapsed < 60, elapsed  # bounded backoff: 429 honours Retry-After: 0, 5xx waits at most seconds
    assert release_objects(k8s, namespace, "rel") == {
        "Deployment": ["rel-triton"],
        "Service": ["rel-triton"],
        "PodDisruptionBudget": ["rel-triton"],
    }
    assert client.AppsV1Api(k8s).read_namespaced_deployment("rel-triton", namespace).spec.replicas == 2
    # The same release through a clean path: nothing left to do.
    again = runner.triton(name="rel", namespace=namespace, use_cpu=True, pdb_enabled=True, replicas=2)
    assert again["changed"] is False, again["actions"]


def test_transient_409_on_delete_is_retried(via_proxy, proxy, runner, k8s, namespace):
    assert not runner.triton(name="del", namespace=namespace, use_cpu=True).get("failed")
    # 409 on a write that is not an apply (an optimistic-concurrency conflict): worth another try.
    proxy.inject(409, "DELETE", rf"/namespaces/{namespace}/deployments/del-triton$", times=2)
    proxy.inject(503, "DELETE", rf"/namespaces/{namespace}/services/del-triton$", times=1)
    result = via_proxy.triton(name="del", namespace=namespace, state="absent")
    assert not result.get("failed"), result.get("msg")
    assert result["retries"] == proxy.injected == 3
    assert result["actions"] == {"deployment": "deleted", "service": "deleted"}
    assert release_objects(k8s, namespace, "del") == {"Deployment": [], "Service": [], "PodDisruptionBudget": []}


def test_fault_beyond_the_retry_budget_fails_clearly_and_the_next_run_converges(
    via_proxy, proxy, runner, k8s, namespace
):
    # The Service write keeps failing: every attempt of the budget is used, then the run stops.
    proxy.inject(503, APPLY, rf"/namespaces/{namespace}/services/bud-triton$", times=None, dry_run=False)
    started = time.monotonic()
    failed = via_proxy.triton(name="bud", namespace=namespace, use_cpu=True)
    elapsed = time.monotonic() - started
    assert failed.get("failed")
    assert f"applying Service {namespace}/bud-triton" in failed["msg"], failed["msg"]
    assert "503 ServiceUnavailable" in failed["msg"] and "gave up after 5 attempts" in failed["msg"], failed["msg"]
    assert "Traceback" not in failed["msg"]
    assert proxy.injected == 5  # RETRY_ATTEMPTS, not more
    assert elapsed < 60, elapsed
    assert failed["changed"] is True and failed["actions"] == {"deployment": "created"}  # what it did write
    # What was written before the fault is whole (the Deployment), the rest is absent, nothing half-made.
    assert release_objects(k8s, namespace, "bud") == {
        "Deployment": ["bud-triton"],
        "Service": [],
        "PodDisruptionBudget": [],
    }

    converged = runner.triton(name="bud", namespace=namespace, use_cpu=True)
    assert not converged.get("failed"), converged.get("msg")
    assert converged["actions"] == {"deployment": "unchanged", "service": "created"}
    assert runner.triton(name="bud", namespace=namespace, use_cpu=True)["changed"] is False


@pytest.mark.parametrize("status", [429, 503])
def test_refused_watches_during_the_rollout_wait_neither_fail_nor_spin(via_proxy, proxy, namespace, status):
    # Every watch of the rollout is refused (429 with Retry-After: 0, or 503): the wait goes on by reading the
    # Deployment, with backoff between watches, and ends with the rollout's own reason, not the refusal.
    proxy.inject(status, "GET", rf"/namespaces/{namespace}/deployments$", times=None, watch=True)
    result = via_proxy.triton(name="w", namespace=namespace, num_gpus=9, preflight="skip", wait_timeout=10)
    assert result.get("failed")
    assert "did not complete within 10s" in result["msg"] and "Insufficient nvidia.com/gpu" in result["msg"], result[
        "msg"
    ]
    # Backoff from 0.2 s doubling to 3 s allows about 6 watches in 10 s; without it there were over 90.
    assert 1 <= proxy.injected <= 12, proxy.injected


@pytest.mark.parametrize(
    "path, what",
    [
        (r"/api/v1/namespaces/{ns}$", "reading Namespace"),
        (r"/api/v1/nodes$", "reading Node"),
        (r"/api/v1/pods$", "reading Pod"),
    ],
)
def test_persistent_fault_in_a_preflight_read_fails_clearly_before_writing(
    via_proxy, proxy, k8s, namespace, path, what
):
    proxy.inject(503, "GET", path.format(ns=namespace), times=None)
    result = via_proxy.triton(name="pre", namespace=namespace, wait=False)
    assert result.get("failed")
    assert result["msg"].startswith(f"{what}: the API server answered 503: "), result["msg"]
    assert result["msg"].endswith("(gave up after 5 attempts)"), result["msg"]
    assert "traceback" not in result["msg"].lower() and "HTTP response headers" not in result["msg"]
    assert proxy.injected == 5
    assert failed_changed_nothing(result)
    assert release_objects(k8s, namespace, "pre") == {"Deployment": [], "Service": [], "PodDisruptionBudget": []}


# -- 2. the API server goes away between two objects ------------------------------------------------------------


def test_api_server_gone_between_objects_then_back(via_proxy, proxy, k8s, namespace):
    deployment_path = f"/namespaces/{namespace}/deployments/gone-triton"
    proxy.go_down_after(lambda r: r.apply and not r.dry_run and r.path.endswith(deployment_path))
    started = time.monotonic()
    failed = via_proxy.triton(name="gone", namespace=namespace, use_cpu=True, pdb_enabled=True)
    elapsed = time.monotonic() - started
    assert failed.get("failed")
    expected = f"applying Service {namespace}/gone-triton: cannot reach the API server at {proxy.server}"
    assert expected in failed["msg"], failed["msg"]
    assert "Traceback" not in failed["msg"]
    assert len(proxy.outcomes("dropped")) == 5  # every attempt of the budget, then a clear stop
    assert failed["changed"] is True and failed["actions"] == {"deployment": "created"}
    assert elapsed < 60, elapsed
    assert release_objects(k8s, namespace, "gone") == {
        "Deployment": ["gone-triton"],
        "Service": [],
        "PodDisruptionBudget": [],
    }

    proxy.heal()  # the API server is back
    converged = via_proxy.triton(name="gone", namespace=namespace, use_cpu=True, pdb_enabled=True)
    assert not converged.get("failed"), converged.get("msg")
    assert converged["actions"] == {"deployment": "unchanged", "service": "created", "pdb": "created"}
    assert converged["rollout"]["complete"] is True
    assert via_proxy.triton(name="gone", namespace=namespace, use_cpu=True, pdb_enabled=True)["changed"] is False


def test_api_server_gone_during_the_rollout_wait(via_proxy, proxy, namespace):
    # Every object is written, then the API server goes: the task fails naming the rollout, and still reports
    # what it wrote, so that the user knows the release changed.
    proxy.go_down_after(lambda r: r.apply and not r.dry_run and r.path.endswith("/services/late-triton"))
    failed = via_proxy.triton(name="late", namespace=namespace, use_cpu=True)
    assert failed.get("failed")
    assert "Deployment" in failed["msg"] and "late-triton" in failed["msg"], failed["msg"]
    assert f"cannot reach the API server at {proxy.server}" in failed["msg"], failed["msg"]
    assert failed["changed"] is True
    assert failed["actions"] == {"deployment": "created", "service": "created"}

    proxy.heal()
    again = via_proxy.triton(name="late", namespace=namespace, use_cpu=True)
    assert again["changed"] is False, again["actions"]
    assert again["rollout"]["complete"] is True


# -- 3. two runs of the same release at once ----------------------------------------------------------------------


def run_together(runner: Runner, *arg_sets: dict[str, Any]) -> list[dict[str, Any]]:
    """Start one ansible-playbook per argument set at the same moment; return their task results."""
    results: list[Any] = [None] * len(arg_sets)
    barrier = threading.Barrier(len(arg_sets))

    def one(index: int) -> None:
        barrier.wait()
        results[index] = runner.triton(**arg_sets[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(arg_sets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_runs_of_one_release_at_once_converge(via_proxy, proxy, runner, k8s, namespace):
    args = dict(name="twin", namespace=namespace, use_cpu=True, pdb_enabled=True)
    deployment_path = rf"/namespaces/{namespace}/deployments/twin-triton$"
    for replicas in (1, 2, 3):  # a create race, then update races
        # Both runs have read and dry-run every object before either writes: their Deployment writes are held
        # by the proxy until both arrived, then sent together.
        hold = proxy.rendezvous(APPLY, deployment_path, parties=2, dry_run=False)
        results = run_together(via_proxy, {**args, "replicas": replicas}, {**args, "replicas": replicas})
        assert not hold.barrier.broken, "the two runs' writes did not overlap"
        for result in results:
            if result.get("failed"):
                assert "conflict" in result["msg"].lower(), result["msg"]
        assert any(not r.get("failed") for r in results), [r.get("msg") for r in results]
        planned = "created" if replicas == 1 else "updated"
        assert all(r["actions"]["deployment"] in (planned, "unchanged") for r in results if not r.get("failed"))
        live = client.AppsV1Api(k8s).read_namespaced_deployment("twin-triton", namespace)
        assert live.spec.replicas == replicas
        assert release_objects(k8s, namespace, "twin") == {
            "Deployment": ["twin-triton"],
            "Service": ["twin-triton"],
            "PodDisruptionBudget": ["twin-triton"],
        }
        again = runner.triton(**args, replicas=replicas)
        assert again["changed"] is False, again["actions"]


# -- 4. least privilege -------------------------------------------------------------------------------------------


def test_least_privilege_deploy(kube_cluster, k8s, namespace, tmp_path):
    core, rbac = client.CoreV1Api(k8s), client.RbacAuthorizationV1Api(k8s)
    documents = {d["kind"]: d for d in rbac_objects("docs/rbac.yml", namespace)}
    user = f"system:serviceaccount:{namespace}:triton-deployer"
    create_rbac(k8s, documents, namespace)
    try:
        wait_for(lambda: allowed(k8s, user, namespace, "patch", "apps", "deployments"), what="the Role to apply")
        wait_for(lambda: allowed(k8s, user, "", "list", "", "nodes"), what="the ClusterRole to apply")
        assert not allowed(k8s, user, namespace, "get", "", "secrets")  # not more than documented
        token = core.create_namespaced_service_account_token(
            "triton-deployer", namespace, {"spec": {"expirationSeconds": 900}}
        ).status.token
        deployer = Runner(token_kubeconfig(kube_cluster.kubeconfig, token, tmp_path / "deployer"), tmp_path)

        # A GPU release with a fixed nodePort, so that every preflight (nodes, pods, Services cluster-wide) runs.
        port = free_node_port(k8s, start=32200)
        args = dict(name="lp", namespace=namespace, num_gpus=1, pdb_enabled=True, service_node_port_http=port)
        created = deployer.triton(**args)
        assert not created.get("failed"), created.get("msg")
        assert created["actions"] == {"deployment": "created", "service": "created", "pdb": "created"}
        assert created["rollout"]["complete"] is True
        assert not [w for w in created.get("warnings", []) if "forbidden" in w or "cannot" in w], created["warnings"]
        assert deployer.triton(**args)["changed"] is False
        updated = deployer.triton(**{**args, "pdb_enabled": False, "replicas": 2})  # update and prune
        assert updated["actions"] == {"deployment": "updated", "service": "unchanged", "pdb": "deleted"}
        # A rollout that cannot complete: explaining it (events) and rolling back (ReplicaSets) need no more.
        stuck = deployer.triton(
            **{**args, "pdb_enabled": False, "replicas": 2, "num_gpus": 9},
            preflight="skip",
            wait_timeout=10,
            rollback_on_failure=True,
        )
        assert stuck.get("failed")
        assert "Insufficient nvidia.com/gpu" in stuck["msg"] and "Rolled back" in stuck["msg"], stuck["msg"]
        assert "forbidden" not in stuck["msg"], stuck["msg"]
        removed = deployer.triton(name="lp", namespace=namespace, state="absent")
        assert not removed.get("failed"), removed.get("msg")
        assert set(removed["actions"].values()) == {"deleted"}

        # One verb less: the run fails before writing anything, naming the verb and the resource.
        for rule, verb, group, resource in ((0, "patch", "apps", "deployments"), (1, "create", "", "services")):
            role = copy.deepcopy(documents["Role"])
            role["rules"][rule]["verbs"].remove(verb)
            rbac.replace_namespaced_role("triton-deployer", namespace, role)
            wait_for(lambda: not allowed(k8s, user, namespace, verb, group, resource), what=f"{verb} to go")  # noqa: B023
            refused = deployer.triton(**args)
            assert refused.get("failed")
            assert "forbidden" in refused["msg"], refused["msg"]
            named = f'cannot {verb} resource "{resource}" in API group "{group}"'
            assert named in refused["msg"], refused["msg"]
            assert release_objects(k8s, namespace, "lp") == {
                "Deployment": [],
                "Service": [],
                "PodDisruptionBudget": [],
            }
    finally:
        rbac.delete_cluster_role_binding(f"triton-deployer-{namespace}")
        rbac.delete_cluster_role(f"triton-deployer-{namespace}")


# -- 5. a field owned by another manager (replicas under an autoscaler) ----------------------------------------------


def test_replicas_owned_by_another_manager(runner, k8s, namespace):
    apps = client.AppsV1Api(k8s)
    args = dict(name="hpa", namespace=namespace, use_cpu=True, service_type="ClusterIP")
    assert not runner.triton(**args).get("failed")
    # What a HorizontalPodAutoscaler does: write replicas through the scale subresource as its own manager.
    apps.patch_namespaced_deployment_scale("hpa-triton", namespace, {"spec": {"replicas": 3}}, field_manager="hpa-sim")

    refused = runner.triton(**args, force_conflicts=False)
    assert refused.get("failed")
    assert "conflict" in refused["msg"] and "hpa-sim" in refused["msg"] and ".spec.replicas" in refused["msg"]
    assert "force_conflicts" in refused["msg"], refused["msg"]
    assert apps.read_namespaced_deployment("hpa-triton", namespace).spec.replicas == 3

    # Leaving replicas to the autoscaler: drop the field from what the module applies.
    hands_off = dict(args, force_conflicts=False, patches={"deployment": {"spec": {"replicas": None}}})
    left = runner.triton(**hands_off)
    assert not left.get("failed"), left.get("msg")
    assert apps.read_namespaced_deployment("hpa-triton", namespace).spec.replicas == 3
    apps.patch_namespaced_deployment_scale("hpa-triton", namespace, {"spec": {"replicas": 2}}, field_manager="hpa-sim")
    again = runner.triton(**hands_off)
    assert again["changed"] is False, again["actions"]
    assert apps.read_namespaced_deployment("hpa-triton", namespace).spec.replicas == 2

    # The default (force_conflicts: true) takes the field back: drift corrected, the autoscaler overruled.
    taken = runner.triton(**args)
    assert taken["actions"]["deployment"] == "updated"
    live = apps.read_namespaced_deployment("hpa-triton", namespace)
    assert live.spec.replicas == 1
    owners = {f.manager for f in live.metadata.managed_fields if "f:replicas" in (f.fields_v1 or {}).get("f:spec", {})}
    assert owners == {"inference.triton"}, owners


def test_handing_replicas_over_before_the_autoscaler_wrote_them_resets_them(runner, k8s, namespace):
    # The caveat docs/reliability.md states: while this collection is the only owner of spec.replicas, dropping
    # the field from what it applies removes it, and the server's default (1) comes back. Check mode says so.
    apps = client.AppsV1Api(k8s)
    args = dict(name="own", namespace=namespace, use_cpu=True, service_type="ClusterIP", replicas=3)
    assert not runner.triton(**args).get("failed")
    hands_off = dict(args, patches={"deployment": {"spec": {"replicas": None}}})
    preview = runner.triton(**hands_off, check=True, diff=True)
    assert preview["actions"]["deployment"] == "updated"
    dep = next(d for d in preview["diff"] if d["after_header"].startswith("Deployment"))
    assert (dep["before"]["spec"]["replicas"], dep["after"]["spec"]["replicas"]) == (3, 1)
    assert apps.read_namespaced_deployment("own-triton", namespace).spec.replicas == 3
    assert runner.triton(**hands_off)["actions"]["deployment"] == "updated"
    assert apps.read_namespaced_deployment("own-triton", namespace).spec.replicas == 1


# -- 6. Pod Security and secrets ------------------------------------------------------------------------------------


def test_pod_security_restricted_admits_object_storage(runner, k8s, namespace):
    core = client.CoreV1Api(k8s)
    core.patch_namespace(namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s3"}, "stringData": {"AWS_ACCESS_KEY_ID": "x"}})
    result = runner.triton(
        name="obj",
        namespace=namespace,
        use_cpu=True,
        model_repository_type="object_storage",
        model_repository_url="s3://bucket/models",
        model_repository_secret="s3",
        wait_timeout=60,
    )
    assert not result.get("failed"), result.get("msg")
    assert result["rollout"]["complete"] is True  # the pods passed real 'restricted' admission and run
    pod = client.AppsV1Api(k8s).read_namespaced_deployment("obj-triton", namespace).spec.template.spec
    assert not [v for v in pod.volumes or [] if v.host_path]


def test_registry_and_storage_credentials_never_reach_output_diff_or_log(runner, k8s, namespace, tmp_path, monkeypatch):
    core = client.CoreV1Api(k8s)
    password, storage_key = f"reg-{time.time_ns()}", f"s3-{time.time_ns()}"
    auth = base64.b64encode(f"robot:{password}".encode()).decode()
    dockerconfig = {"auths": {"registry.example": {"username": "robot", "password": password, "auth": auth}}}
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "pull"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": json.dumps(dockerconfig)},
        },
    )
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s3"}, "stringData": {"KEY": storage_key}})
    log = tmp_path / "ansible.log"
    monkeypatch.setenv("ANSIBLE_LOG_PATH", str(log))
    task = {
        "name": "triton",
        "inference.triton.triton_server": {
            "name": "sec",
            "namespace": namespace,
            "use_cpu": True,
            "image_pull_secrets": ["pull"],
            "model_repository_type": "object_storage",
            "model_repository_url": "s3://bucket/models",
            "model_repository_secret": "s3",
            # Tests run side by side: the chart's fixed nodePorts would collide with another test's release.
            **{f"service_node_port_{which}": 0 for which in ("http", "grpc", "metrics")},
        },
    }
    changed = {**task, "inference.triton.triton_server": {**task["inference.triton.triton_server"], "replicas": 2}}
    reports = [
        runner.play([task], diff=True, verbosity=3),  # create
        runner.play([changed], check=True, diff=True, verbosity=3),  # a diff of the live Deployment
        runner.play([changed], diff=True, verbosity=3),  # update
    ]
    for report in reports:
        assert report["_rc"] == 0, report["_stdout"][-2000:]
        assert not report["results"]["triton"].get("failed"), report["results"]["triton"].get("msg")
    text = "".join(r["_stdout"] + r["_stderr"] + json.dumps(r["results"]) for r in reports) + log.read_text()
    assert "registry.example" not in text  # the Secret's content is never read, not even its non-secret parts
    for secret in (password, auth, storage_key):
        assert secret not in text
    assert reports[1]["results"]["triton"]["diff"], "the check run showed no diff: the test would prove nothing"
    pull = client.AppsV1Api(k8s).read_namespaced_deployment("sec-triton", namespace).spec.template.spec
    assert [s.name for s in pull.image_pull_secrets] == ["pull"]
