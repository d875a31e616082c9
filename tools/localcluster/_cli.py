"""Command-line interface: build, up, nodes, status, down, and tool-path (helm, kube-score for tests, on demand)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import _build, _cluster, _images, _nodes, _ports, _realnode
from . import _versions as v
from ._errors import LocalClusterError
from ._kubeapi import ApiError

PORT_FLAGS = _ports.PORT_FLAGS


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0 picks a free one)")
    return value


def _label(text: str) -> str:
    try:
        _nodes.parse_label(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _taint(text: str) -> str:
    try:
        _nodes.parse_taint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _node_flags(parser: argparse.ArgumentParser, defaults: _nodes.NodeSpec | None) -> None:
    """Node-shape flags; with ``defaults`` None (the `nodes` subcommand) an absent flag changes nothing."""

    def default(name: str) -> object:
        return getattr(defaults, name) if defaults else None

    group = parser.add_argument_group("simulated nodes")
    group.add_argument("--gpu-nodes", type=_count, default=default("gpu_nodes"), help="GPU nodes gpu-node-<i>")
    group.add_argument("--cpu-nodes", type=_count, default=default("cpu_nodes"), help="CPU-only nodes cpu-node-<i>")
    group.add_argument("--gpus-per-node", type=_count, default=default("gpus_per_node"), help="nvidia.com/gpu")
    group.add_argument(
        "--gpu-product", default=default("gpu_product"), help="value of the nvidia.com/gpu.product label"
    )
    if defaults is not None:
        group.add_argument(
            "--real-nodes",
            type=_count,
            choices=(0, 1),
            default=defaults.real_nodes,
            help=f"1 (default): also run {_realnode.NODE_NAME}, a node with a real kubelet and containerd (root only;"
            " without root the cluster falls back to simulated nodes); 0: simulated nodes only",
        )
    group.add_argument(
        "--node-label",
        type=_label,
        action="append",
        default=[],
        metavar="[gpu:|cpu:]K=V",
        help="extra label on every node (or on one pool with a gpu:/cpu: prefix); repeatable",
    )
    group.add_argument(
        "--node-taint",
        type=_taint,
        action="append",
        default=[],
        metavar="[gpu:|cpu:]K[=V]:EFFECT",
        help="taint on every node (or on one pool with a gpu:/cpu: prefix); repeatable",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localcluster.py",
        description=(
            f"Local Kubernetes {v.KUBERNETES_VERSION} control plane (etcd {v.ETCD_VERSION}, kwok {v.KWOK_VERSION}) "
            "as processes on 127.0.0.1, with simulated GPU nodes."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir",
        type=Path,
        default=v.DEFAULT_STATE_DIR,
        help=f"folder for certificates, logs, etcd data and the kubeconfig (default: {v.DEFAULT_STATE_DIR})",
    )

    build = sub.add_parser(
        "build",
        help=f"build the binaries and, as root, the real node's images into {v.cache_root()} (skipped when present)",
    )
    build.add_argument("--force", action="store_true", help="rebuild even when the binaries are present")

    tool_text = (
        f"build helm {v.HELM_VERSION} or kube-score {v.KUBE_SCORE_VERSION} into {v.cache_root()} if it is not there "
        "yet and print its path (for tests and benchmarks; `build` and `up` never build them)"
    )
    tool = sub.add_parser("tool-path", help=tool_text, description=tool_text)
    tool.add_argument("tool", choices=sorted(_build.ON_DEMAND))
    tool.add_argument("--force", action="store_true", help="rebuild even when the binary is present")

    up = sub.add_parser("up", parents=[state], help="start the cluster (builds first if needed); idempotent")
    _node_flags(up, _nodes.NodeSpec())
    ports = up.add_argument_group("ports on 127.0.0.1 (default 0: a free port)")
    for name, flag in PORT_FLAGS.items():
        ports.add_argument(flag, type=_port, default=0, dest=f"port_{name}", help=f"port of {name}")

    nodes = sub.add_parser(
        "nodes", parents=[state], help="add or remove simulated nodes on a running cluster (e.g. --gpu-nodes 50)"
    )
    _node_flags(nodes, None)

    sub.add_parser("status", parents=[state], help="show what runs; exit 0 healthy, 3 not running, 1 degraded")
    sub.add_parser("down", parents=[state], help="stop every started process and remove the state folder")
    return parser


def node_spec(args: argparse.Namespace) -> _nodes.NodeSpec:
    spec = _nodes.NodeSpec(
        gpu_nodes=args.gpu_nodes, cpu_nodes=args.cpu_nodes, gpus_per_node=args.gpus_per_node,
        gpu_product=args.gpu_product, real_nodes=args.real_nodes,
    )  # fmt: skip
    _nodes.add_labels_and_taints(spec, args.node_label, args.node_taint)
    return spec


def run(args: argparse.Namespace) -> int:
    if args.command == "build":
        _build.build(force=args.force)
        if _realnode.unavailable_reason():
            print(f"[build] no images for the real node: {_realnode.unavailable_reason()}", file=sys.stderr)
        else:
            _realnode.ensure_packages()
            _images.build_images(force=args.force)
        return 0
    if args.command == "tool-path":
        print(_build.build_tool(args.tool, force=args.force))
        return 0
    if args.command == "up":
        ports = {name: getattr(args, f"port_{name}") for name in PORT_FLAGS}
        return _cluster.up(args.state_dir, node_spec(args), ports)
    if args.command == "nodes":
        changes = {
            "gpu_nodes": args.gpu_nodes,
            "cpu_nodes": args.cpu_nodes,
            "gpus_per_node": args.gpus_per_node,
            "gpu_product": args.gpu_product,
        }
        return _cluster.resize(args.state_dir, changes, args.node_label, args.node_taint)
    if args.command == "status":
        return _cluster.status(args.state_dir)
    if args.command == "down":
        return _cluster.down(args.state_dir)
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LocalClusterError as exc:
        print(f"localcluster {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (ApiError, OSError) as exc:
        state = getattr(args, "state_dir", "")
        print(f"localcluster {args.command}: error talking to the cluster: {exc} (logs: {state}/logs)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"localcluster {args.command}: interrupted", file=sys.stderr)
        return 130
