"""Command lines of the five components and how each one tells it is ready (pure functions).

Every listener binds 127.0.0.1. The kubelet endpoint of every simulated node is kwok's own server on
127.0.0.1 (``--node-ip``/``--node-port``), so nothing ever dials a fake node address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._certs import SERVICE_CIDR
from ._probe import Probe
from ._state import Layout

ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Pod addresses kwok writes for simulated pods: data only, never reachable (the real node routes the whole
# 198.18.0.0/15 block to `unreachable` except its own pod subnet, so nothing is ever sent towards them).
POD_CIDR = "198.18.128.0/17"
NODE_LEASE_SECONDS = 40


@dataclass(frozen=True)
class Spec:
    """One component: how to start it and how to probe it."""

    name: str
    argv: list[str]
    port: int
    probe: Probe
    timeout: float  # seconds to become ready
    env: dict[str, str] = field(default_factory=dict)  # set on top of the caller's environment


def etcd(binary: str, layout: Layout, ports: dict[str, int]) -> Spec:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    argv = [
        binary,
        "--name=localcluster",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=localcluster={peer}",
        "--initial-cluster-state=new",
        "--auto-compaction-retention=1",
        "--quota-backend-bytes=8589934592",
        "--unsafe-no-fsync=true",  # throwaway test data: skip fsync, much faster on slow disks
    ]
    return Spec("etcd", argv, ports["etcd"], Probe(f"{client}/health", expect='"health":"true"'), 60)


def kube_apiserver(binary: str, layout: Layout, ports: dict[str, int]) -> Spec:
    pki = layout.pki_file
    port = ports["kube-apiserver"]
    argv = [
        binary,
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",  # loopback is not a valid endpoint of the `kubernetes` Service
        f"--cert-dir={layout.apiserver_certs}",
        f"--tls-cert-file={pki('apiserver.crt')}",
        f"--tls-private-key-file={pki('apiserver.key')}",
        f"--client-ca-file={pki('ca.crt')}",
        f"--kubelet-client-certificate={pki('admin.crt')}",
        f"--kubelet-client-key={pki('admin.key')}",
        # kubelets (kwok's and the real node's) serve certificates of the cluster CA; dial their InternalIP only
        # (a Hostname would be looked up in this machine's DNS)
        f"--kubelet-certificate-authority={pki('ca.crt')}",
        "--kubelet-preferred-address-types=InternalIP",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki('sa.pub')}",
        f"--service-account-signing-key-file={pki('sa.key')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--profiling=false",
    ]
    probe = Probe(f"https://127.0.0.1:{port}/readyz", ca=pki("ca.crt"), cert=pki("admin.crt"), key=pki("admin.key"))
    return Spec("kube-apiserver", argv, port, probe, 180)


def kube_controller_manager(binary: str, layout: Layout, ports: dict[str, int]) -> Spec:
    pki = layout.pki_file
    port = ports["kube-controller-manager"]
    argv = [
        binary,
        f"--kubeconfig={layout.kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--controllers=*",
        f"--root-ca-file={pki('ca.crt')}",
        f"--service-account-private-key-file={pki('sa.key')}",
        f"--cluster-signing-cert-file={pki('ca.crt')}",
        f"--cluster-signing-key-file={pki('ca.key')}",
        "--use-service-account-credentials=true",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        "--profiling=false",
    ]
    return Spec("kube-controller-manager", argv, port, Probe(f"https://127.0.0.1:{port}/healthz"), 120)


def kube_scheduler(binary: str, layout: Layout, ports: dict[str, int]) -> Spec:
    port = ports["kube-scheduler"]
    argv = [
        binary,
        f"--kubeconfig={layout.kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        "--profiling=false",
    ]
    return Spec("kube-scheduler", argv, port, Probe(f"https://127.0.0.1:{port}/readyz"), 120)


def kwok(binary: str, layout: Layout, ports: dict[str, int]) -> Spec:
    pki = layout.pki_file
    port = ports["kwok"]
    argv = [
        binary,
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={layout.kwok / 'stages.yaml'}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--manage-nodes-with-label-selector=",
        "--manage-single-node=",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-name=localhost",
        f"--node-port={port}",
        f"--server-address=127.0.0.1:{port}",
        f"--tls-cert-file={pki('apiserver.crt')}",
        f"--tls-private-key-file={pki('apiserver.key')}",
        f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
    ]
    # kwok serves plain HTTP and TLS on the same port
    return Spec("kwok", argv, port, Probe(f"http://127.0.0.1:{port}/healthz"), 60)


BUILDERS = {
    "etcd": etcd,
    "kube-apiserver": kube_apiserver,
    "kube-controller-manager": kube_controller_manager,
    "kube-scheduler": kube_scheduler,
    "kwok": kwok,
}


def specs(binaries: dict[str, Path], layout: Layout, ports: dict[str, int]) -> list[Spec]:
    """Return the five components in start order."""
    return [BUILDERS[name](str(binaries[name]), layout, ports) for name in ORDER]


def kwok_stages(module_dir: Path, files: tuple[str, ...]) -> str:
    """Concatenate kwok's own stage YAMLs (from its module source) into one multi-document config."""
    docs = [(module_dir / rel).read_text().strip() for rel in files]
    return "\n---\n".join(docs) + "\n"
