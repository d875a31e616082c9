"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok).

Built from pinned Go modules and run as plain processes on 127.0.0.1, for integration tests, molecule
scenarios and the demo. Entry point: ``python3 tools/localcluster/localcluster.py --help``.
"""
