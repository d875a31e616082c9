"""route_enabled: an OpenShift Route in place of the nodePorts, on the local control plane with the Route API served by
a CRD (tests/integration/fixtures/crds/routes.route.openshift.io.yaml, written from openshift/api's route/v1 schema).

Cluster-wide: the first test needs the Route API absent, the others install the CRD when it is absent and leave it
installed (other tests are unaffected: the module lists Routes wherever they are served, and docs/rbac.yml grants
that). Nothing here is a router: "admitted" means the API server accepted the Route as sent, with its validation
and defaults; a router's admission (status.ingress) and host generation are OpenShift's and are not shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tools.localcluster.pytest_fixture import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.cluster_wide]

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "tests/integration/fixtures/crds/routes.route.openshift.io.yaml"
SIMULATED = {"type": "kwok", "nvidia.com/gpu.present": "true"}
ROUTES = ("route.openshift.io", "v1", "routes")


def crd_installed(k8s) -> bool:
    try:
        client.ApiextensionsV1Api(k8s).read_custom_resource_definition("routes.route.openshift.io")
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@pytest.fixture
def route_api(k8s):
    """The Route API served by the fixture CRD (installed when absent, left installed)."""
    extensions = client.ApiextensionsV1Api(k8s)
    if not crd_installed(k8s):
        extensions.create_custom_resource_definition(yaml.safe_load(CRD.read_text()))

    def established():
        conditions = extensions.read_custom_resource_definition("routes.route.openshift.io").status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for("the Route CRD to be established", established, 60)
    # Served: a list answers (discovery follows the CRD within a few seconds).
    custom = client.CustomObjectsApi(k8s)
    wait_for("routes to be served", lambda: custom.list_cluster_custom_object(*ROUTES) is not None, 30)
    return custom


def release(runner, namespace: str, **options):
    return runner.triton(name="web", namespace=namespace, use_cpu=True, node_selector=SIMULATED, **options)


def test_route_enabled_without_the_route_api_fails_before_writing(runner, k8s, namespace):
    if crd_installed(k8s):
        pytest.skip("the Route CRD is installed (an earlier run of test_openshift_route.py left it, as it should)")
    result = release(runner, namespace, route_enabled=True)
    assert result.get("failed")
    assert "route_enabled" in result["msg"] and "route.openshift.io/v1" in result["msg"], result["msg"]
    assert "nothing was written" in result["msg"], result["msg"]
    assert not client.AppsV1Api(k8s).list_namespaced_deployment(namespace).items
    assert not client.CoreV1Api(k8s).list_namespaced_service(namespace).items


def test_the_route_is_admitted_idempotent_changed_and_removed(runner, k8s, namespace, route_api):
    core = client.CoreV1Api(k8s)
    host = f"triton-{namespace}.apps.cluster.test"

    planned = release(runner, namespace, route_enabled=True, route_host=host, check=True)
    assert not planned.get("failed"), planned.get("msg")
    assert planned["actions"]["route"] == "created", planned["actions"]
    assert not route_api.list_namespaced_custom_object(*ROUTES[:2], namespace, ROUTES[2])["items"]

    created = release(runner, namespace, route_enabled=True, route_host=host)
    assert not created.get("failed"), created.get("msg")
    assert created["actions"]["route"] == "created", created["actions"]
    route = route_api.get_namespaced_custom_object(*ROUTES[:2], namespace, ROUTES[2], "web-triton")
    # As sent, with the API's defaults (to.kind, to.weight, wildcardPolicy) and no field refused.
    assert route["spec"] == {
        "host": host,
        "to": {"kind": "Service", "name": "web-triton", "weight": 100},
        "port": {"targetPort": "http"},
        "tls": {"termination": "edge"},
        "wildcardPolicy": "None",
    }
    assert route["metadata"]["labels"]["app.kubernetes.io/instance"] == "web"
    service = core.read_namespaced_service("web-triton", namespace)
    assert service.spec.type == "ClusterIP"
    assert not [p for p in service.spec.ports if p.node_port]
    assert created["endpoints"]["type"] == "ClusterIP" and not created["endpoints"]["ports"]["http"]["node_port"]

    again = release(runner, namespace, route_enabled=True, route_host=host)
    assert again["changed"] is False, again["actions"]

    # gRPC through the router: passthrough to Triton's own TLS (HTTP/2 end to end).
    grpc = release(runner, namespace, route_enabled=True, route_host=host, route_port="grpc", route_tls="passthrough")
    assert grpc["actions"]["route"] == "updated", grpc["actions"]
    spec = route_api.get_namespaced_custom_object(*ROUTES[:2], namespace, ROUTES[2], "web-triton")["spec"]
    assert spec["port"] == {"targetPort": "grpc"} and spec["tls"] == {"termination": "passthrough"}

    # The API's own validation holds the fixture to the real one: a passthrough Route with a path is refused.
    with pytest.raises(client.ApiException) as refused:
        route_api.patch_namespaced_custom_object(
            *ROUTES[:2], namespace, ROUTES[2], "web-triton", {"spec": {"path": "/v2"}}
        )
    assert refused.value.status == 422 and "passthrough" in refused.value.body, refused.value.body

    off = release(runner, namespace)
    assert off["actions"]["route"] == "deleted", off["actions"]
    assert not route_api.list_namespaced_custom_object(*ROUTES[:2], namespace, ROUTES[2])["items"]
    assert core.read_namespaced_service("web-triton", namespace).spec.type == "NodePort"


def test_route_with_a_node_port_service_is_refused(runner, k8s, namespace):
    result = release(runner, namespace, route_enabled=True, service_type="NodePort")
    assert result.get("failed")
    assert "service_type" in result["msg"] and "ClusterIP" in result["msg"], result["msg"]
    assert not client.CoreV1Api(k8s).list_namespaced_service(namespace).items
