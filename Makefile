# Local cluster ---------------------------------------------------------------------------------------------
# A real Kubernetes control plane on 127.0.0.1 with simulated GPU nodes (tools/localcluster/README.md).
# Extra options go through CLUSTER_ARGS, e.g. make cluster-up CLUSTER_ARGS="--gpu-nodes 4 --gpus-per-node 4".
LOCALCLUSTER ?= python3 tools/localcluster/localcluster.py

.PHONY: cluster-build cluster-up cluster-down cluster-status

cluster-build:  ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (cached by version)
	$(LOCALCLUSTER) build $(CLUSTER_ARGS)

cluster-up:  ## Start the cluster (builds first if needed); the last line printed is KUBECONFIG=<path>
	$(LOCALCLUSTER) up $(CLUSTER_ARGS)

cluster-down:  ## Stop every process the cluster started and remove its state folder
	$(LOCALCLUSTER) down $(CLUSTER_ARGS)

cluster-status:  ## Show components (pid, port, readiness, memory) and nodes; exit 3 when not running
	$(LOCALCLUSTER) status $(CLUSTER_ARGS)
