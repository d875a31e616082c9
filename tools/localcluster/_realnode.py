"""One real node: containerd + runc + a CNI bridge, a kubelet and kube-proxy, running on this machine.

The simulated nodes only pretend; on this node containers run for real, so Triton serves and answers through
a NodePort on 127.0.0.1. It needs root (network links, iptables, mounts, cgroups) and Debian's containerd,
runc, CNI plugins, iptables and conntrack: `ensure_packages` installs what is missing with apt.

Addresses (all in 198.18.0.0/15, RFC 2544's benchmarking block, never a private range):
  198.18.0.1/32    the node's InternalIP, on the root end of a veth pair of ours (kubelet refuses loopback)
  198.18.1.0/24    the node's pods, on a bridge of ours (gateway 198.18.1.1)
  198.18.128.0/17  pod addresses kwok writes for simulated pods (never reachable)
  198.19.0.0/16    Service ClusterIPs
The whole block is routed to `unreachable`, but for the two above that are local; a FORWARD chain of ours drops
whatever would leave it, so no packet towards a simulated pod or out of a pod ever leaves the machine.

Everything the node creates carries a name derived from the state folder (``lc<digest>``) or lives under the
state folder or ``/run/localcluster-<digest>``, so that `down` removes exactly what `up` made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _certs, _kubeconfig
from ._components import Spec
from ._errors import LocalClusterError, with_log
from ._kubeapi import ApiError, KubeApi
from ._probe import Probe, wait_until
from ._state import Layout

NODE_NAME = "real-node-0"
NODE_IP = "198.18.0.1"
POD_SUBNET = "198.18.1.0/24"
POD_GATEWAY = "198.18.1.1"
CLUSTER_CIDR = "198.18.0.0/16"  # real and simulated pod addresses (kube-proxy's notion of "inside")
BLOCK = "198.18.0.0/15"  # every address the cluster assigns
# nvidia.com/gpu advertised as an extended resource (no device: the CPU Triton needs none); as many as a simulated
# GPU node has, since several test releases share the node
GPUS = 8
GPU_PRODUCT = "CPU-only-real-node"
CNI_BIN_DIR = "/usr/lib/cni"
COMPONENTS = ("containerd", "kubelet", "kube-proxy")
PORT_NAMES = ("containerd-metrics", "kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics")
STOP_TAINT = "inference-triton.local/stopping"
# Only pods that tolerate this land here: releases meant for the simulated nodes use images this node cannot pull.
NODE_TAINT = {"key": "inference-triton.local/real-node", "value": "true", "effect": "NoSchedule"}
# Nothing is ever pulled from a registry: containerd's registry client goes through this closed local port
# and fails at once (ErrImagePull, "connection refused"), without even a DNS lookup of the registry.
NO_PULL_PROXY = "http://127.0.0.1:9"
LABELS = {
    "nvidia.com/gpu.present": "true",
    "nvidia.com/gpu.product": GPU_PRODUCT,
    "nvidia.com/gpu.count": str(GPUS),
    # The GPU Operator's switch: no device plugin can run without a GPU, and the nvidia_device_plugin role
    # leaves nodes labelled so alone (the extended resource is advertised by `up` instead).
    "nvidia.com/gpu.deploy.device-plugin": "false",
    "type": "real",
}
# binary -> Debian package that ships it
PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    f"{CNI_BIN_DIR}/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "ip": "iproute2",
    "conntrack": "conntrack",
    "mount": "mount",
    # the node's images are built here (_images.py)
    "mmdebstrap": "mmdebstrap",
    "umoci": "umoci",
}
# chains the kubelet (and kube-proxy's iptables-mode hint) create and no --cleanup removes
KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")
# the processes that would fight a node of ours over those chains and the node ports
NODE_COMMANDS = ("kubelet", "kube-proxy")
# sysctls kube-proxy or the CNI bridge switch on; `up` records their values and `down` puts them back
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet")
# the machine's values from before the first node, until a `down` puts them back (record_host)
HOST_RECORD = Path("/run/localcluster-host.json")


def say(message: str) -> None:
    print(f"[localcluster] {message}", file=sys.stderr, flush=True)


# The kubelet binds unix sockets under its root folder (pod-resources/, device-plugins/, plugins_registry/), and a
# socket's path holds at most 107 bytes: the folder's own path must leave room for those names.
MAX_KUBELET_ROOT = 70


def check_socket_paths(paths: Paths) -> None:
    """Refuse, before anything starts, a state folder too deep for the kubelet's sockets."""
    root = str(paths.kubelet_root)
    if len(root) > MAX_KUBELET_ROOT:
        raise LocalClusterError(
            f"the state folder is too deep for a real node: the kubelet's folder {root} is {len(root)} characters, "
            f"at most {MAX_KUBELET_ROOT} leave room for its unix sockets (107 bytes each); "
            "use a shorter --state-dir, or --real-nodes 0"
        )


@dataclass(frozen=True)
class Paths:
    """Where the node keeps its files, and the names of its links and chains."""

    layout: Layout

    @property
    def digest(self) -> str:
        return hashlib.sha256(str(self.layout.root).encode()).hexdigest()[:8]

    @property
    def base(self) -> Path:
        return self.layout.root / "node"

    @property
    def run(self) -> Path:
        # Unix sockets need short paths: keep the socket and containerd's state under /run, not the repo.
        return Path(f"/run/localcluster-{self.digest}")

    @property
    def socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"

    @property
    def containerd_root(self) -> Path:
        return self.base / "containerd"

    @property
    def kubelet_root(self) -> Path:
        return self.base / "kubelet"

    @property
    def cni_conf(self) -> Path:
        return self.base / "cni" / "net.d"

    @property
    def cni_data(self) -> Path:
        return self.base / "cni" / "ipam"

    @property
    def pod_logs(self) -> Path:
        return self.base / "pod-logs"

    @property
    def cgroup_root(self) -> str:
        return f"/localcluster-{self.digest}"

    @property
    def bridge(self) -> str:
        return f"lc{self.digest}br"

    @property
    def veth(self) -> str:
        return f"lc{self.digest}n"

    @property
    def veth_peer(self) -> str:
        return f"lc{self.digest}p"

    @property
    def chain(self) -> str:
        return f"LC-{self.digest}-GUARD"

    @property
    def network(self) -> str:
        return f"localcluster-{self.digest}"

    def file(self, name: str) -> Path:
        return self.base / name


# ------------------------------------------------------------------------------------------------ host checks


def missing_packages() -> list[str]:
    """Return the Debian packages whose binaries are not on this machine."""
    missing = []
    for binary, package in PACKAGES.items():
        found = os.access(binary, os.X_OK) if binary.startswith("/") else shutil.which(binary)
        if not found and package not in missing:
            missing.append(package)
    return missing


def unavailable_reason() -> str:
    """Say why a real node cannot run here (empty when it can), before anything is installed."""
    if os.geteuid() != 0:
        return "a real node needs root (network links, iptables, mounts, cgroups)"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no cgroup file system at /sys/fs/cgroup"
    return ""


def ensure_packages() -> None:
    """Install the missing Debian packages with apt (root only); say clearly what is missing otherwise."""
    missing = missing_packages()
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise LocalClusterError(f"the real node needs the Debian packages {', '.join(missing)} and apt-get is missing")
    say(f"installing {', '.join(missing)} with apt-get (the real node needs them)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]
    for argv in (["apt-get", "update", "-qq"], install):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise LocalClusterError(f"`{' '.join(argv)}` failed:\n{proc.stderr.strip()[-2000:]}")
    still = missing_packages()
    if still:
        raise LocalClusterError(f"apt-get ran but these packages are still missing: {', '.join(still)}")


# ------------------------------------------------------------------------------------ configuration (pure)


def containerd_config(paths: Paths, metrics_port: int, pause_image: str) -> str:
    """containerd's config: its own root, state and socket, so it never touches a system containerd."""
    return f"""\
version = 2
root = "{paths.containerd_root}"
state = "{paths.containerd_state}"
oom_score = 0
# opt installs into /opt; the unused snapshotters are not needed (the v1 runtime is: the task service needs it)
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = "127.0.0.1:{metrics_port}"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{paths.containerd_state}/runc-v1"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  # Without CAP_SYS_RESOURCE a negative oom_score_adj cannot be written; this clamps it to containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{paths.containerd_state}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{paths.cni_conf}"
    max_conf_num = 1
"""


def cni_conflist(paths: Paths) -> dict[str, Any]:
    """A bridge network for the node's pods; no masquerade (nothing leaves the machine)."""
    return {
        "cniVersion": "1.0.0",
        "name": paths.network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": paths.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_data),
                },
            },
        ],
    }


def kubelet_config(paths: Paths, ports: dict[str, int], pki: Path) -> dict[str, Any]:
    """KubeletConfiguration: webhook authn/authz on the kubelet port, cgroup v1 allowed, a small-disk eviction."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{paths.socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": paths.cgroup_root,
        "failCgroupV1": False,  # 1.35 refuses cgroup v1 unless told otherwise; this machine has v1
        "failSwapOn": False,
        "podCIDR": POD_SUBNET,
        "resolvConf": str(paths.file("resolv.conf")),
        "clusterDomain": "cluster.local",
        "podLogsDir": str(paths.pod_logs),
        "maxPods": 40,
        "serializeImagePulls": False,
        "registerNode": True,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
            "imagefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "containerLogMaxSize": "10Mi",
        "registerWithTaints": [NODE_TAINT],
        "shutdownGracePeriod": "0s",
    }


def kube_proxy_config(paths: Paths, ports: dict[str, int]) -> dict[str, Any]:
    """KubeProxyConfiguration: iptables mode; NodePorts on loopback and the node address only."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(paths.file("kube-proxy.kubeconfig"))},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{ports['kube-proxy-healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['kube-proxy-metrics']}",
        "mode": "iptables",
        "clusterCIDR": CLUSTER_CIDR,
        "nodePortAddresses": ["127.0.0.0/8", f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0},  # leave the machine's conntrack table size alone
    }


def node_labels() -> str:
    return ",".join(f"{key}={value}" for key, value in LABELS.items())


def specs(paths: Paths, layout: Layout, ports: dict[str, int], kube_dir: Path) -> list[Spec]:
    """Command lines and probes of containerd, the kubelet and kube-proxy, in start order."""
    containerd = Spec(
        "containerd",
        [shutil.which("containerd") or "/usr/bin/containerd", f"--config={paths.file('containerd.toml')}"],
        ports["containerd-metrics"],
        Probe(f"http://127.0.0.1:{ports['containerd-metrics']}/v1/metrics", expect=""),
        60,
        env={"HTTP_PROXY": NO_PULL_PROXY, "HTTPS_PROXY": NO_PULL_PROXY, "NO_PROXY": "127.0.0.1,localhost"},
    )
    kubelet = Spec(
        "kubelet",
        [
            str(kube_dir / "kubelet"),
            f"--config={paths.file('kubelet.yaml')}",
            f"--kubeconfig={paths.file('kubelet.kubeconfig')}",
            f"--root-dir={paths.kubelet_root}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            f"--node-labels={node_labels()}",
        ],
        ports["kubelet"],
        Probe(f"http://127.0.0.1:{ports['kubelet-healthz']}/healthz"),
        120,
    )
    proxy = Spec(
        "kube-proxy",
        [str(kube_dir / "kube-proxy"), f"--config={paths.file('kube-proxy.yaml')}"],
        ports["kube-proxy-healthz"],
        Probe(f"http://127.0.0.1:{ports['kube-proxy-healthz']}/healthz", expect="lastUpdated"),
        60,
    )
    return [containerd, kubelet, proxy]


# ------------------------------------------------------------------------------------------------ commands


def run(argv: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise LocalClusterError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def ctr(paths: Paths, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run(["ctr", "--address", str(paths.socket), "-n", "k8s.io", *args], check=check, timeout=timeout)


def read_sysctl(name: str) -> str:
    return Path("/proc/sys", name).read_text().strip()


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", name).write_text(value + "\n")


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _address_holder(address: str) -> str:
    """Return the interface holding ``address`` on this machine, or ''."""
    out = run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == address:
            return fields[1]
    return ""


def _iptables_chains(table: str) -> set[str]:
    out = run(["iptables", "-w", "-t", table, "-S"], check=False).stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith("-N ")}


def running_node_components(proc: Path = Path("/proc")) -> list[str]:
    """The kubelet and kube-proxy processes running on this machine, as 'name (pid N)'."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in NODE_COMMANDS:
            found.append((int(entry.name), name))
    return [f"{name} (pid {pid})" for pid, name in sorted(found)]


def foreign_kubernetes() -> str:
    """Say which kubelet or kube-proxy already runs on this machine, or ''.

    Their iptables chains alone do not count: a node that was killed (not stopped) leaves them behind, and a
    kubelet of ours takes them over; `down` removes them."""
    running = running_node_components()
    if running:
        return f"{', '.join(running[:4])} running"
    chains = _iptables_chains("nat") | _iptables_chains("filter")
    left = sorted(c for c in chains if c.startswith("KUBE-"))
    if left:
        say(f"iptables chains {', '.join(left[:5])} are left from a node no longer running; the new node takes them")
    return ""


def stale_node_link(holder: str, running: list[str]) -> str:
    """The digest of a node link of ours left by a killed cluster (no kubelet or kube-proxy runs), or ''."""
    match = re.fullmatch(r"lc([0-9a-f]{8})n", holder)
    return match.group(1) if match and not running else ""


# ---------------------------------------------------------------------------------------------- network


def setup_network(paths: Paths) -> None:
    """The node address on a veth of ours, the unreachable route for the block, the FORWARD guard chain."""
    holder = _address_holder(NODE_IP)
    stale = stale_node_link(holder, running_node_components()) if holder and holder != paths.veth else ""
    if stale:
        say(
            f"{NODE_IP} is on {holder}, left by a cluster that was killed (no kubelet runs): removing its link and "
            f"chain; `down --state-dir` of that cluster removes the rest"
        )
        remove_node_network(f"lc{stale}n", f"lc{stale}br", f"LC-{stale}-GUARD", [])
        holder = ""
    if holder and holder != paths.veth:
        raise LocalClusterError(
            f"{NODE_IP} is already on {holder}: another cluster's real node runs on this machine; "
            "stop it (`down` with its --state-dir) or start this cluster with `--real-nodes 0`."
        )
    if not _link_exists(paths.veth):
        run(["ip", "link", "add", paths.veth, "type", "veth", "peer", "name", paths.veth_peer])
    if not holder:
        run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", paths.veth])
    run(["ip", "link", "set", paths.veth, "up"])
    run(["ip", "link", "set", paths.veth_peer, "up"])
    routes = run(["ip", "route", "show", "type", "unreachable"], check=False).stdout
    if BLOCK not in routes:
        run(["ip", "route", "add", "unreachable", BLOCK])
    if paths.chain not in _iptables_chains("filter"):
        run(["iptables", "-w", "-N", paths.chain])
        run(["iptables", "-w", "-A", paths.chain, "-s", BLOCK, "!", "-d", BLOCK, "-j", "DROP"])
        run(["iptables", "-w", "-A", paths.chain, "-d", BLOCK, "!", "-s", BLOCK, "-j", "DROP"])
        run(["iptables", "-w", "-I", "FORWARD", "1", "-j", paths.chain])


def teardown_network(paths: Paths, notes: list[str]) -> None:
    remove_node_network(paths.veth, paths.bridge, paths.chain, notes)
    routes = run(["ip", "route", "show", "type", "unreachable"], check=False).stdout
    if BLOCK in routes and not _other_real_node_running(paths):
        run(["ip", "route", "delete", "unreachable", BLOCK], check=False)


def remove_node_network(veth: str, bridge: str, chain: str, notes: list[str]) -> None:
    """Remove one node's links and its FORWARD guard chain."""
    for link in (veth, bridge):
        if _link_exists(link):
            run(["ip", "link", "delete", link], check=False)
            notes.append(f"removed link {link}")
    if chain in _iptables_chains("filter"):
        while run(["iptables", "-w", "-D", "FORWARD", "-j", chain], check=False).returncode == 0:
            pass
        run(["iptables", "-w", "-F", chain], check=False)
        run(["iptables", "-w", "-X", chain], check=False)
        notes.append(f"removed iptables chain {chain}")


def _other_real_node_running(paths: Paths) -> bool:
    holder = _address_holder(NODE_IP)
    return bool(holder) and holder != paths.veth


def remove_kube_chains(notes: list[str]) -> None:
    """Remove the chains the kubelet makes for itself (kube-proxy --cleanup removes its own, but its hint)."""
    for table in ("filter", "nat", "mangle"):
        for chain in sorted(c for c in _iptables_chains(table) if c in KUBELET_CHAINS):
            out = run(["iptables", "-w", "-t", table, "-S"], check=False).stdout
            for line in out.splitlines():
                if f"-j {chain}" in line and line.startswith("-A "):
                    run(["iptables", "-w", "-t", table, "-D", *line.split()[1:]], check=False)
            run(["iptables", "-w", "-t", table, "-F", chain], check=False)
            run(["iptables", "-w", "-t", table, "-X", chain], check=False)
            notes.append(f"removed iptables chain {table}/{chain}")


# ------------------------------------------------------------------------------------------------- start


def write_files(paths: Paths, layout: Layout, ports: dict[str, int], api_server: str, pause_image: str) -> None:
    """Certificates, kubeconfigs and configuration files of the node's three components."""
    pki = layout.pki
    for folder in (paths.base, paths.cni_conf, paths.cni_data, paths.kubelet_root, paths.pod_logs):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths.run.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The node's identity: the Node authorizer and NodeRestriction apply to it, as on a kubeadm node.
    _certs.issue_client(pki, "kubelet", f"/O=system:nodes/CN=system:node:{NODE_NAME}")
    _certs.issue_client(pki, "kube-proxy", "/CN=system:kube-proxy")
    _certs.issue_server(pki, "kubelet-serving", f"/CN={NODE_NAME}", (NODE_NAME,), (NODE_IP,))
    for name in ("kubelet", "kube-proxy"):
        text = _kubeconfig.render(api_server, pki / "ca.crt", pki / f"{name}.crt", pki / f"{name}.key", name=name)
        _kubeconfig.write(paths.file(f"{name}.kubeconfig"), text)
    paths.file("containerd.toml").write_text(containerd_config(paths, ports["containerd-metrics"], pause_image))
    (paths.cni_conf / "10-localcluster.conflist").write_text(json.dumps(cni_conflist(paths), indent=2) + "\n")
    # Pods resolve nothing outside: no DNS server of this machine's network is ever asked.
    paths.file("resolv.conf").write_text("nameserver 127.0.0.1\noptions ndots:1\n")
    paths.file("kubelet.yaml").write_text(json.dumps(kubelet_config(paths, ports, pki), indent=2) + "\n")
    paths.file("kube-proxy.yaml").write_text(json.dumps(kube_proxy_config(paths, ports), indent=2) + "\n")


def record_host(paths: Paths, record: Path = HOST_RECORD) -> dict[str, Any]:
    """What `down` must put back: sysctl values and whether shared folders existed before.

    Kept in a file of the machine as well as in the cluster's state: a node that was killed cannot put them back, so
    the next node finds the record it left and keeps the values from before both."""
    with contextlib.suppress(OSError, ValueError):
        left = json.loads(record.read_text())
        if isinstance(left, dict) and set(left) == {"sysctls", "created_dirs"}:
            say(f"kept the machine's values from before a node that was killed ({record})")
            return left
    host = {
        "sysctls": {name: read_sysctl(name) for name in SYSCTLS},
        "created_dirs": [d for d in ("/run/containerd", "/var/log/containers", "/var/lib/cni") if not Path(d).exists()],
    }
    record.write_text(json.dumps(host) + "\n")
    return host


def wait_containerd(paths: Paths, timeout: float = 30) -> None:
    def answers() -> tuple[bool, str]:
        proc = ctr(paths, "version", check=False, timeout=10)
        return proc.returncode == 0, proc.stderr.strip()

    wait_until("containerd", answers, timeout)


def wait_node(api: KubeApi, log: Path, timeout: float = 120) -> dict[str, Any]:
    """Wait until the kubelet has registered the node and it is Ready and untainted."""
    node: dict[str, Any] = {}

    def ready() -> tuple[bool, str]:
        nonlocal node
        try:
            node = api.get(f"/api/v1/nodes/{NODE_NAME}")
        except ApiError as exc:
            return False, str(exc)
        conditions = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
        taints = [t["key"] for t in (node.get("spec") or {}).get("taints") or []]
        ok = conditions.get("Ready", {}).get("status") == "True" and "node.kubernetes.io/not-ready" not in taints
        return ok, conditions.get("Ready", {}).get("message", "not registered yet")

    try:
        wait_until(f"node {NODE_NAME}", ready, timeout)
    except TimeoutError as exc:
        raise with_log(str(exc), log) from None
    return node


def advertise_gpus(api: KubeApi) -> None:
    """Put nvidia.com/gpu into the node's capacity: no device plugin can run without a GPU."""
    patch = [{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": str(GPUS)}]
    api.request("PATCH", f"/api/v1/nodes/{NODE_NAME}/status", patch, "application/json-patch+json")

    def allocatable() -> tuple[bool, str]:
        node = api.get(f"/api/v1/nodes/{NODE_NAME}")
        value = ((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu")
        return value == str(GPUS), f"allocatable nvidia.com/gpu = {value}"

    wait_until(f"nvidia.com/gpu on {NODE_NAME}", allocatable, 30)


# -------------------------------------------------------------------------------------------------- stop


def drain(api: KubeApi, paths: Paths, timeout: float = 60) -> list[str]:
    """Let the kubelet stop every pod of the node (so CNI and volumes are torn down by their owner)."""
    notes: list[str] = []
    taint = {"key": STOP_TAINT, "value": "true", "effect": "NoExecute"}
    try:
        node = api.get(f"/api/v1/nodes/{NODE_NAME}")
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != STOP_TAINT]
        api.merge_patch(f"/api/v1/nodes/{NODE_NAME}", {"spec": {"unschedulable": True, "taints": [*taints, taint]}})
        selector = {"fieldSelector": f"spec.nodeName={NODE_NAME}"}
        pods = api.get("/api/v1/pods", **selector).get("items", [])
        for pod in pods:
            meta = pod["metadata"]
            with contextlib.suppress(ApiError):
                api.request(
                    "DELETE",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                    {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 1},
                )
        notes.append(f"asked the kubelet to stop {len(pods)} pod(s)")
    except (ApiError, OSError) as exc:
        notes.append(f"could not drain {NODE_NAME} through the API ({exc}); removing containers directly")
        return notes

    def stopped() -> tuple[bool, str]:
        try:
            left = api.get("/api/v1/pods", fieldSelector=f"spec.nodeName={NODE_NAME}").get("items", [])
        except (ApiError, OSError) as exc:
            return False, str(exc)
        running = [line for line in ctr(paths, "tasks", "ls", check=False).stdout.splitlines()[1:] if "RUNNING" in line]
        return not left and not running, f"{len(left)} pod(s), {len(running)} running task(s)"

    try:
        wait_until(f"pods on {NODE_NAME} to stop", stopped, timeout, interval=0.5)
    except TimeoutError as exc:
        notes.append(f"{exc}; removing containers directly")
    return notes


def remove_containers(paths: Paths, notes: list[str]) -> None:
    """Kill and delete every task and container left in our containerd (after the kubelet stopped)."""
    if not paths.socket.exists():
        return
    tasks = [line.split()[0] for line in ctr(paths, "tasks", "ls", check=False).stdout.splitlines()[1:] if line]
    for task in tasks:
        ctr(paths, "tasks", "kill", "-s", "SIGKILL", task, check=False)
    for task in tasks:
        ctr(paths, "tasks", "delete", "-f", task, check=False)
    containers = ctr(paths, "containers", "ls", "-q", check=False).stdout.split()
    for container in containers:
        ctr(paths, "containers", "delete", container, check=False)
    if tasks or containers:
        notes.append(f"removed {len(tasks)} task(s) and {len(containers)} container(s)")


def leftover_processes(paths: Paths, cgroups: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")) -> list[int]:
    """The processes of a node whose containerd is gone (killed): its pods' processes, found in its cgroup tree, and
    the containerd shims that served them (their ``-address`` is its socket). Stopping containerd's tasks needs
    containerd; without it, these are what is left."""
    pids: set[int] = set()
    for hierarchy in cgroups.iterdir() if cgroups.is_dir() else []:
        top = hierarchy / paths.cgroup_root.lstrip("/")
        for procs in top.rglob("cgroup.procs") if top.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(line) for line in procs.read_text().split())
    address = ["-address", str(paths.socket)]
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0].endswith("containerd-shim-runc-v2") and _contains(argv, address):
            pids.add(int(entry.name))
    return sorted(pids)


def _contains(argv: list[str], pair: list[str]) -> bool:
    return any(argv[i : i + len(pair)] == pair for i in range(len(argv)))


def kill_leftovers(paths: Paths, notes: list[str]) -> None:
    """SIGKILL what :func:`leftover_processes` finds, and wait until it is gone (its mounts and cgroups go next)."""
    pids = leftover_processes(paths)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if pids:
        notes.append(f"killed {len(pids)} process(es) left by the node's pods and shims")


def our_mounts(paths: Paths) -> list[str]:
    """Mount points under the node's folders, deepest first."""
    roots = (str(paths.base) + "/", str(paths.run) + "/")
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(roots):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(paths: Paths, notes: list[str]) -> None:
    for _ in range(3):
        points = our_mounts(paths)
        if not points:
            return
        for point in points:
            if run(["umount", point], check=False).returncode != 0:
                run(["umount", "-l", point], check=False)
        notes.append(f"unmounted {len(points)} mount(s)")
    left = our_mounts(paths)
    if left:
        notes.append(f"still mounted: {', '.join(left[:5])}")


def make_cgroups(paths: Paths) -> None:
    """Create the kubelet's cgroup root in every v1 hierarchy (the kubelet wants it there before it starts)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if hierarchy.is_dir() and not hierarchy.is_symlink() and (hierarchy / "cgroup.procs").exists():
            (hierarchy / paths.cgroup_root.lstrip("/")).mkdir(exist_ok=True)


def remove_cgroups(paths: Paths, notes: list[str]) -> None:
    """Remove the (empty, once every process is gone) cgroup tree of our pods in every v1 hierarchy."""
    removed = 0
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / paths.cgroup_root.lstrip("/")
        if not top.is_dir():
            continue
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()
            removed += 1
    if removed:
        notes.append(f"removed cgroup {paths.cgroup_root} from {removed} hierarchies")


def restore_host(paths: Paths, host: dict[str, Any], notes: list[str], record: Path = HOST_RECORD) -> None:
    """Put back the sysctls and remove the shared folders `up` created, then this node's own leftovers."""
    record.unlink(missing_ok=True)
    for name, value in (host.get("sysctls") or {}).items():
        if read_sysctl(name) != value:
            write_sysctl(name, value)
            notes.append(f"restored {name.replace('/', '.')} = {value}")
    for folder in host.get("created_dirs") or []:
        path = Path(folder)
        # only empty leftovers: anything else in them is not ours
        for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()
    remove_run_state(paths)


def remove_run_state(paths: Paths) -> None:
    """This node's CNI results and its folder under /run."""
    results = Path("/var/lib/cni/results")  # libcni's cache; the CNI DEL of each pod removes its entry
    for leftover in results.glob(f"{paths.network}-*") if results.is_dir() else []:
        leftover.unlink(missing_ok=True)
    shutil.rmtree(paths.run, ignore_errors=True)


# kube-proxy rejects a connect to a NodePort without a ready endpoint in the filter table's INPUT chain. A connect from
# this machine (127.0.0.1, where tests reach NodePorts) has passed OUTPUT and POSTROUTING by then, so conntrack has
# confirmed its entry, without DNAT: for 120 s (SYN_SENT), a later connect from the same source port to the same
# NodePort matches that entry instead of the DNAT rule, and this machine refuses it itself, endpoints or not.
# Sending new loopback connects through kube-proxy's chain for those NodePorts in OUTPUT rejects them before the entry
# is confirmed (docs/reliability.md, section 12). A DNATed connect no longer goes to 127.0.0.0/8 there.
LOOPBACK_NODEPORT_RULE = (
    "OUTPUT", "-d", "127.0.0.0/8", "-p", "tcp", "-m", "conntrack", "--ctstate", "NEW",
    "-m", "comment", "--comment", "inference-triton: loopback NodePorts without endpoints",
    "-j", "KUBE-EXTERNAL-SERVICES",
)  # fmt: skip


def guard_loopback_nodeports(timeout: float = 15) -> str:
    """Insert LOOPBACK_NODEPORT_RULE once, when kube-proxy's chain exists (its first sync creates it). Returns '' or
    why the rule is not there: the cluster works without it, as before."""
    deadline = time.monotonic() + timeout
    while True:
        if run(["iptables", "-w", "-C", *LOOPBACK_NODEPORT_RULE], check=False).returncode == 0:
            return ""
        proc = run(["iptables", "-w", "-I", LOOPBACK_NODEPORT_RULE[0], "1", *LOOPBACK_NODEPORT_RULE[1:]], check=False)
        if proc.returncode == 0:
            return ""
        if time.monotonic() > deadline:
            return proc.stderr.strip() or f"iptables exit {proc.returncode}"
        time.sleep(0.5)


def kube_proxy_cleanup(kube_dir: Path, notes: list[str]) -> None:
    # Our rule refers to a chain of kube-proxy's, which --cleanup could not delete while it is referred to.
    removed = 0
    while run(["iptables", "-w", "-D", *LOOPBACK_NODEPORT_RULE], check=False).returncode == 0:
        removed += 1
    if removed:
        notes.append("removed the loopback NodePort rule from OUTPUT")
    binary = kube_dir / "kube-proxy"
    if binary.exists():
        run([str(binary), "--cleanup"], check=False, timeout=60)
        notes.append("kube-proxy --cleanup removed its iptables rules")


def describe(api: KubeApi) -> str:
    """One line on the real node for `status`: Ready or not, its address, its GPUs and pods."""
    try:
        node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    except ApiError as exc:
        return f"{NODE_NAME} not registered ({exc})"
    conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
    gpus = ((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu", "0")
    pods = api.get("/api/v1/pods", fieldSelector=f"spec.nodeName={NODE_NAME}").get("items", [])
    state = "Ready" if conditions.get("Ready") == "True" else "NotReady"
    return f"{NODE_NAME} {state}, {NODE_IP}, {gpus} nvidia.com/gpu, {len(pods)} pod(s)"
