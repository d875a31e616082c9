"""Bring the cluster up, down, report on it, and resize its node pools."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import _build, _certs, _components, _images, _kubeconfig, _nodes, _ports, _procs, _realnode, _state
from . import _versions as v
from ._errors import LocalClusterError, with_log
from ._kubeapi import ApiError, KubeApi
from ._probe import check, wait_until
from ._state import Component, Layout, State

MARKER = ".localcluster-state"  # only a folder holding this file is ever removed by `down`
EXIT_NOT_RUNNING = 3


def say(message: str) -> None:
    print(f"[localcluster] {message}", file=sys.stderr, flush=True)


def print_kubeconfig(layout: Layout) -> None:
    print(f"KUBECONFIG={layout.kubeconfig.resolve()}", flush=True)


def api_for(layout: Layout, ports: dict[str, int]) -> KubeApi:
    pki = layout.pki_file
    return KubeApi(f"https://127.0.0.1:{ports['kube-apiserver']}", pki("ca.crt"), pki("admin.crt"), pki("admin.key"))


@dataclass
class Health:
    """What `status` found for one recorded component."""

    component: Component
    alive: bool
    ready: bool
    answer: str


def has_real_node(state: State) -> bool:
    return bool(state.nodes.get("real_nodes"))


def expected_components(state: State) -> tuple[str, ...]:
    """The components a healthy cluster of this shape runs, in start order."""
    return _components.ORDER + (_realnode.COMPONENTS if has_real_node(state) else ())


def all_specs(layout: Layout, state: State) -> dict[str, _components.Spec]:
    binaries = {name: Path(path) for name, path in v.binary_paths().items()}
    specs = {s.name: s for s in _components.specs(binaries, layout, state.ports)}
    if has_real_node(state):
        specs |= {s.name: s for s in _realnode.specs(_realnode.Paths(layout), layout, state.ports, v.kube_dir())}
    return specs


def inspect(layout: Layout, state: State) -> list[Health]:
    """Check every recorded component: its process (pid + binary) and its readiness endpoint."""
    specs = all_specs(layout, state) if state.components else {}
    report = []
    for comp in state.components:
        alive = _procs.is_ours(comp.pid, comp.binary)
        ready, answer = check(specs[comp.name].probe) if alive else (False, "process not running")
        report.append(Health(comp, alive, ready, answer))
    return report


def is_healthy(layout: Layout, state: State) -> bool:
    report = inspect(layout, state)
    names = tuple(h.component.name for h in report)
    return names == expected_components(state) and all(h.alive and h.ready for h in report)


def _prepare_folder(layout: Layout) -> None:
    root = layout.root
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise LocalClusterError(f"{root} exists and is not a localcluster state folder; choose another --state-dir.")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / MARKER).write_text("state folder of tools/localcluster; removed by `localcluster.py down`\n")
    for sub in (layout.logs, layout.etcd_data, layout.apiserver_certs, layout.kwok / "home"):
        sub.mkdir(mode=0o700, parents=True, exist_ok=True)


def _start_component(layout: Layout, state: State, spec: _components.Spec) -> None:
    wanted = {spec.name: spec.port} | ({"etcd-peer": state.ports["etcd-peer"]} if spec.name == "etcd" else {})
    for name, port in wanted.items():
        if not _ports.port_is_free(port):
            raise LocalClusterError(
                f"port {port} on 127.0.0.1, wanted by {name}, is in use by another process. "
                f"Free it, or give {name} another port with `up {_ports.PORT_FLAGS.get(name, '--<port option>')} N` "
                "(0 picks a free one)."
            )
    log = layout.log(spec.name)
    env = dict(os.environ) | spec.env
    if spec.name == "kwok":
        env["HOME"] = str(layout.kwok / "home")  # kwok silently loads ~/.kwok/kwok.yaml; keep the user's out
    started = time.monotonic()
    pid = _procs.start(spec.argv, log, cwd=layout.root, env=env)
    state.components.append(Component(spec.name, pid, spec.argv[0], spec.port, str(log)))
    _state.save(layout, state)
    try:
        wait_until(spec.name, lambda: check(spec.probe), spec.timeout, alive=lambda: _procs.is_alive(pid))
    except (TimeoutError, ChildProcessError) as exc:
        raise with_log(f"{spec.name} did not become ready: {exc}", log) from None
    say(f"{spec.name} ready on 127.0.0.1:{spec.port} (pid {pid}, {time.monotonic() - started:.1f} s)")


def _wait_default_serviceaccount(api: KubeApi, log: Path) -> None:
    def exists() -> tuple[bool, str]:
        try:
            return api.exists("/api/v1/namespaces/default/serviceaccounts/default"), "not created yet"
        except (ApiError, OSError) as exc:
            return False, str(exc)

    try:
        wait_until("serviceaccount default/default", exists, 90)
    except TimeoutError as exc:
        raise with_log(f"{exc} (created by kube-controller-manager)", log) from None


def _sync_nodes(layout: Layout, state: State, spec: _nodes.NodeSpec) -> tuple[list[str], list[str]]:
    api = api_for(layout, state.ports)
    created, deleted = _nodes.reconcile(api, spec)
    names = _nodes.node_names(spec)
    try:
        _nodes.wait_schedulable(api, names, timeout=60 + 2 * len(names))
    except TimeoutError as exc:
        raise with_log(f"{exc} (kwok marks nodes Ready; the node-lifecycle controller removes the taint)",
                       layout.log("kwok")) from None  # fmt: skip
    return created, deleted


def up(root: Path, spec: _nodes.NodeSpec, requested_ports: dict[str, int]) -> int:
    """Start the cluster (building first if needed); a running healthy cluster is left as it is."""
    layout = Layout(root.resolve())
    with _state.locked(layout.root):
        state = _state.load(layout)
        if state is not None:
            if state.phase == "running" and is_healthy(layout, state):
                say(f"already running (state in {layout.root}); nothing to do")
                if spec.to_json() != state.nodes:
                    say("node options differ from the running cluster's and were ignored; `nodes` changes them")
                print_kubeconfig(layout)
                return 0
            say(f"found a stopped or broken cluster in {layout.root} (phase {state.phase}); cleaning it up first")
            _down(layout, state)
        _check_real_node(spec)
        if spec.real_nodes:
            _realnode.check_socket_paths(_realnode.Paths(layout))
        _build.build()
        images = _images.build_images() if spec.real_nodes else []
        started = time.monotonic()
        _prepare_folder(layout)
        ports = _ports.assign_ports(requested_ports)
        if spec.real_nodes:
            ports |= dict(zip(_realnode.PORT_NAMES, _ports.free_ports(len(_realnode.PORT_NAMES)), strict=True))
        binaries = v.binary_paths()
        _certs.generate_pki(layout.pki)
        server = f"https://127.0.0.1:{ports['kube-apiserver']}"
        pki = layout.pki
        text = _kubeconfig.render(server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        _kubeconfig.write(layout.kubeconfig, text)
        stages = _components.kwok_stages(_build.kwok_stage_dir(), v.KWOK_STAGE_FILES)
        (layout.kwok / "stages.yaml").write_text(stages)
        versions = {"kubernetes": v.KUBERNETES_VERSION, "etcd": v.ETCD_VERSION, "kwok": v.KWOK_VERSION}
        state = State(ports=ports, versions=versions, nodes=spec.to_json())
        _state.save(layout, state)
        try:
            for component in _components.specs(binaries, layout, ports):
                _start_component(layout, state, component)
            created, _ = _sync_nodes(layout, state, spec)
            # made by kube-controller-manager a few seconds after it is healthy; waited for last so that the
            # scheduler, kwok and the nodes start meanwhile. Pods are refused until it exists.
            _wait_default_serviceaccount(api_for(layout, ports), layout.log("kube-controller-manager"))
            if spec.real_nodes:
                _start_real_node(layout, state, images)
        except BaseException:
            state.phase = "failed"
            _state.save(layout, state)
            say("start-up failed; stopping what was started (logs are kept in the state folder until `down`)")
            for note in _stop_everything(layout, state):
                say(note)
            raise
        state.phase = "running"
        _state.save(layout, state)
        real = f" and real node {_realnode.NODE_NAME}" if spec.real_nodes else ""
        took = time.monotonic() - started
        say(f"up in {took:.1f} s: {len(created)} simulated node(s){real} Ready; state in {layout.root}")
        print_kubeconfig(layout)
        return 0


def _check_real_node(spec: _nodes.NodeSpec) -> None:
    """Fall back to simulated nodes only where a real node cannot run; install its packages where it can."""
    if not spec.real_nodes:
        return
    if spec.real_nodes > 1:
        raise LocalClusterError("--real-nodes is 0 or 1: one real node per machine")
    reason = _realnode.unavailable_reason()
    if reason:
        say(f"no real node: {reason}; starting with simulated nodes only (pods never run)")
        spec.real_nodes = 0
        return
    _realnode.ensure_packages()
    foreign = _realnode.foreign_kubernetes()
    if foreign:
        raise LocalClusterError(
            f"this machine already runs Kubernetes node components ({foreign}); a real node of ours would fight "
            "over them. Start with `--real-nodes 0`, or stop the other cluster first."
        )


def _start_real_node(layout: Layout, state: State, images: list[_images.Image]) -> None:
    """containerd, the images, the kubelet (the node registers itself), the GPU resource, then kube-proxy."""
    paths = _realnode.Paths(layout)
    started = time.monotonic()
    state.host = _realnode.record_host(paths)
    _state.save(layout, state)
    _realnode.setup_network(paths)
    server = f"https://127.0.0.1:{state.ports['kube-apiserver']}"
    _realnode.write_files(paths, layout, state.ports, server, _images.PAUSE_IMAGE)
    specs = {s.name: s for s in _realnode.specs(paths, layout, state.ports, v.kube_dir())}
    _start_component(layout, state, specs["containerd"])
    _realnode.wait_containerd(paths)
    _images.import_images("ctr", str(paths.socket), images)
    _realnode.make_cgroups(paths)
    _start_component(layout, state, specs["kubelet"])
    api = api_for(layout, state.ports)
    _realnode.wait_node(api, layout.log("kubelet"))
    _realnode.advertise_gpus(api)
    _start_component(layout, state, specs["kube-proxy"])
    problem = _realnode.guard_loopback_nodeports()
    if problem:
        say(f"loopback NodePorts: the OUTPUT rule is not set ({problem}); a refused connect may poison its source port")
    say(f"real node {_realnode.NODE_NAME} Ready at {_realnode.NODE_IP} ({time.monotonic() - started:.1f} s)")


def _stop_everything(layout: Layout, state: State) -> list[str]:
    """Stop what `up` started, real node first (its pods, kubelet, kube-proxy, containers, containerd, links)."""
    notes: list[str] = []
    names = {c.name for c in state.components}
    real = has_real_node(state) and bool(names & set(_realnode.COMPONENTS) or state.host)
    paths = _realnode.Paths(layout)
    if real and "kubelet" in names and "kube-apiserver" in names:
        notes += _realnode.drain(api_for(layout, state.ports), paths)
    stopped = []
    by_name = {c.name: c for c in state.components}
    for name in ("kube-proxy", "kubelet"):
        comp = by_name.get(name)
        if comp:
            outcome = _procs.stop(comp.pid, comp.binary, timeout=20)
            notes.append(f"{comp.name} (pid {comp.pid}): {outcome}")
    if real:
        _realnode.remove_containers(paths, notes)
        # A node that was killed has no containerd left to stop its tasks: its pods and shims still run.
        _realnode.kill_leftovers(paths, notes)
    for comp in reversed(state.components):
        if comp.name in ("kube-proxy", "kubelet"):
            continue
        outcome = _procs.stop(comp.pid, comp.binary)
        notes.append(f"{comp.name} (pid {comp.pid}): {outcome}")
        if outcome in ("stopped", "killed"):
            stopped.append(comp.pid)
    _procs.wait_reaped(stopped)
    if real:
        _realnode.unmount_all(paths, notes)
        # Ours are stopped: a kubelet or kube-proxy still running belongs to a node started after ours was killed.
        others = _realnode.running_node_components()
        if others:
            running = ", ".join(others)
            notes.append(f"left the machine's iptables rules and sysctls alone: another node runs ({running})")
        else:
            _realnode.kube_proxy_cleanup(v.kube_dir(), notes)
            _realnode.remove_kube_chains(notes)
        _realnode.teardown_network(paths, notes)
        _realnode.remove_cgroups(paths, notes)
        if others:
            _realnode.remove_run_state(paths)
        else:
            _realnode.restore_host(paths, state.host, notes)
    return notes


def _down(layout: Layout, state: State | None) -> list[str]:
    """Stop recorded processes in reverse start order, check their ports are closed, remove the folder."""
    notes = []
    if state is not None:
        notes += _stop_everything(layout, state)
        ports = set(state.ports.values())

        def closed() -> tuple[bool, str]:
            busy = sorted(ports & _ports.listening_ports())
            return not busy, f"still listening: {busy}"

        try:
            wait_until("ports", closed, 10)
        except TimeoutError as exc:
            notes.append(str(exc))
    if layout.root.exists():
        if not (layout.root / MARKER).exists() and any(layout.root.iterdir()):
            raise LocalClusterError(f"{layout.root} is not a localcluster state folder; not removing it.")
        shutil.rmtree(layout.root)
    return notes


def down(root: Path) -> int:
    layout = Layout(root.resolve())
    with _state.locked(layout.root):
        state = _state.load(layout)
        if state is None and not layout.root.exists():
            say(f"nothing to stop (no state in {layout.root})")
            return 0
        for note in _down(layout, state):
            say(note)
        say(f"removed {layout.root}")
    return 0


def status(root: Path) -> int:
    """Print what runs; exit 0 when healthy, 3 when nothing runs, 1 when only part of it does."""
    layout = Layout(root.resolve())
    state = _state.load(layout)
    if state is None:
        print(f"not running (no state in {layout.root})")
        return EXIT_NOT_RUNNING
    report = inspect(layout, state)
    print(f"state: {layout.root} (phase {state.phase})")
    print(f"{'COMPONENT':<24} {'PID':>8} {'PORT':>6} {'ALIVE':<6} {'READY':<6} {'RSS MiB':>8}")
    total = 0
    for h in report:
        rss = _procs.rss_kib(h.component.pid) if h.alive else 0
        total += rss
        print(
            f"{h.component.name:<24} {h.component.pid:>8} {h.component.port:>6} "
            f"{'yes' if h.alive else 'no':<6} {'yes' if h.ready else 'no':<6} {rss / 1024:>8.0f}"
        )
    print(f"{'total':<24} {'':>8} {'':>6} {'':<6} {'':<6} {total / 1024:>8.0f}")
    names = tuple(h.component.name for h in report)
    healthy = names == expected_components(state) and all(h.alive and h.ready for h in report)
    if any(h.alive for h in report) and any(h.component.name == "kube-apiserver" and h.ready for h in report):
        try:
            nodes = _nodes.managed_nodes(api_for(layout, state.ports))
            ready = sum(_nodes.is_schedulable(n) for n in nodes.values())
            gpu = sum(1 for name in nodes if _nodes.pool_of(name) == "gpu")
            print(f"nodes: {len(nodes)} simulated ({gpu} GPU, {len(nodes) - gpu} CPU), {ready} Ready")
            if has_real_node(state):
                print(f"real node: {_realnode.describe(api_for(layout, state.ports))}")
        except (ApiError, OSError) as exc:
            print(f"nodes: cannot list ({exc})")
    if healthy and state.phase == "running":
        print(f"KUBECONFIG={layout.kubeconfig}")
        return 0
    if not any(h.alive for h in report):
        print("not running (recorded processes are gone; `down` cleans up)")
        return EXIT_NOT_RUNNING
    print("degraded: see the components above and their logs in " + str(layout.logs))
    return 1


def resize(root: Path, changes: dict[str, object], labels: list[str], taints: list[str]) -> int:
    """Change node counts (or the shape of nodes still to be created) on a running cluster."""
    layout = Layout(root.resolve())
    with _state.locked(layout.root):
        state = _state.load(layout)
        if state is None or state.phase != "running" or not is_healthy(layout, state):
            raise LocalClusterError(f"no healthy cluster in {layout.root}; run `up` first.")
        spec = _nodes.NodeSpec.from_json(state.nodes)
        for key, value in changes.items():
            if value is not None:
                setattr(spec, key, value)
        _nodes.add_labels_and_taints(spec, labels, taints)
        started = time.monotonic()
        created, deleted = _sync_nodes(layout, state, spec)
        state.nodes = spec.to_json()
        _state.save(layout, state)
        say(
            f"nodes: {spec.gpu_nodes} GPU + {spec.cpu_nodes} CPU Ready; created {len(created)}, "
            f"deleted {len(deleted)} in {time.monotonic() - started:.1f} s"
        )
        print_kubeconfig(layout)
    return 0
