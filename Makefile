# The front door for people and CI. `make demo` runs the main job on the local simulated GPU cluster;
# `make test` runs every test (lint, unit, integration, molecule, sanity). .ci/run calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help venv demo test test-steps lint unit lifecycle integration molecule sanity build-collection bench \
	docs docs-check galaxy-import chromium diagrams generate lane-checks lane-lifecycle lane-cluster-wide lane-isolated integration-cluster-wide integration-isolated

help:  ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 22

# Tool chain ---------------------------------------------------------------------------------------------------
venv: $(VENV)/.installed  ## Create .venv with the pinned tool chain (requirements-dev.txt)

$(VENV)/.installed: requirements-dev.txt
	@echo "[venv] installing the pinned tool chain into $(VENV) (about a minute the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The main job -------------------------------------------------------------------------------------------------
demo: venv cluster-up  ## Build or reuse the local cluster, deploy Triton to its real node, end with an inference
	$(BIN)/ansible-playbook deploy.yml -i inventories/local

# Tests --------------------------------------------------------------------------------------------------------
# Runs every step even when the cluster was not running before, and stops the cluster afterwards only if this
# run started it (KEEP_CLUSTER=1 keeps it).
test: venv  ## Run every test: lint, unit, integration, molecule, sanity
	@started=0; $(LOCALCLUSTER) status >/dev/null 2>&1 || started=1; \
	$(MAKE) --no-print-directory test-steps; rc=$$?; \
	if [ $$started = 1 ] && [ -z "$(KEEP_CLUSTER)" ]; then $(LOCALCLUSTER) down; fi; \
	if [ $$rc = 0 ]; then echo "make test: all steps passed"; else echo "make test: FAILED (exit $$rc)"; fi; \
	exit $$rc

test-steps:
	@$(MAKE) --no-print-directory -j2 lane-checks lane-lifecycle
	@$(MAKE) --no-print-directory cluster-up
	@$(MAKE) --no-print-directory -j2 lane-cluster-wide lane-isolated

# Steps run in lanes, two side by side, each lane's steps one after the other, each line prefixed by its lane: the
# tests mostly wait (on rollouts, on Triton loading models, on pods shutting down), so two lanes fill the two cores
# better than one. First lint and unit tests beside the real node's lifecycle test (its own cluster, before the
# shared one starts). Then, on the shared cluster, everything that changes cluster-wide objects (the device plugin
# DaemonSet in kube-system, node labels: the role tests, the collection build test, molecule) in one lane, and the
# tests confined to their own namespaces (module, real Triton, cluster tool; two test files at a time with
# pytest-xdist) followed by sanity in the other.
lane = set -o pipefail; ($(2)) 2>&1 | sed -u 's/^/[$(1)] /'
step = $(MAKE) --no-print-directory $(1)

lane-checks: venv
	@+$(call lane,checks,$(call step,lint) && $(call step,unit) && $(call step,docs-check) && $(call step,galaxy-import))

lane-lifecycle: venv
	@+$(call lane,lifecycle,$(call step,lifecycle))

lane-cluster-wide: venv cluster-up
	@+$(call lane,cluster-wide,$(call step,integration-cluster-wide) && $(call step,molecule))

lane-isolated: venv cluster-up
	@+$(call lane,isolated,$(call step,integration-isolated) && $(call step,sanity))

integration-cluster-wide: venv cluster-up
	LOCALCLUSTER_KEEP=1 $(BIN)/python -m pytest tests/integration tools/localcluster/tests -m "integration and cluster_wide"

integration-isolated: venv cluster-up
	LOCALCLUSTER_KEEP=1 $(BIN)/python -m pytest tests/integration tools/localcluster/tests -m "integration and not cluster_wide" \
		-n 2 --dist loadfile

lint: venv  ## ruff, yamllint, ansible-lint (profile production), mypy on module_utils
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint
	$(BIN)/mypy plugins/module_utils

unit: venv  ## Unit tests (no cluster)
	$(BIN)/python -m pytest tests/unit tools/localcluster/tests -m "not integration and not lifecycle"

# The copies of the Triton option table (plugins/module_utils/_options.py) that Ansible needs as files; `make unit`
# fails naming any stale entry (tests/unit/plugins/module_utils/test_options_generated.py).
generate: venv  ## Rewrite the module docs, role defaults/argument specs and docs tables from the option table
	$(BIN)/python tools/generate_options.py

# One real node per machine: this runs before the shared cluster starts (skipped while another real node runs).
lifecycle: venv cluster-build  ## A cluster with a real node of its own: up, a pod serving, down, and nothing left on the machine
	$(BIN)/python -m pytest tools/localcluster/tests -m lifecycle

integration: venv cluster-up  ## Integration tests on the local control plane
	LOCALCLUSTER_KEEP=1 $(BIN)/python -m pytest tests/integration tools/localcluster/tests -m integration

molecule: venv cluster-up  ## All molecule scenarios on the local control plane
	cd $(CURDIR) && $(BIN)/molecule test --all

SANITY_DIR := .cache/sanity/ansible_collections/inference/triton
# The copy holds what the built collection holds (galaxy.yml's build_ignore leaves out the test infrastructure).
sanity: venv  ## ansible-test sanity on a copy of the collection placed under ansible_collections/inference/triton
	@mkdir -p $(HOME)/.ansible/test/cache && cp tests/sanity/get_pip_bootstrap.py $(HOME)/.ansible/test/cache/get_pip_24_2.py
	rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	git ls-files -z --cached --others --exclude-standard \
		| grep -zvE '^(\.collections|\.ci|tools|benchmarks|molecule)/' | xargs -0 cp --parents -t $(SANITY_DIR)
	cd $(SANITY_DIR) && git init -q && git add -A  # ansible-test lists a collection's files with git
	cd $(SANITY_DIR) && $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11 --requirements --color no

build-collection: venv  ## Build the collection artifact into .cache/dist
	mkdir -p .cache/dist && $(BIN)/ansible-galaxy collection build --force --output-path .cache/dist

# Docs site and Galaxy checks ----------------------------------------------------------------------------------
# Their tools live in venvs of their own under .cache (their pins clash with requirements-dev.txt's).
DOCS_VENV := .cache/venv-docs
PACKAGING_VENV := .cache/venv-packaging

$(DOCS_VENV)/.installed: tools/docsite/requirements.txt
	@echo "[docs] installing antsibull-docs and Sphinx into $(DOCS_VENV)"
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/docsite/requirements.txt
	@touch $@

$(PACKAGING_VENV)/.installed: tools/packaging/requirements.txt
	@echo "[packaging] installing galaxy-importer and ansible-builder into $(PACKAGING_VENV)"
	$(PYTHON) -m venv $(PACKAGING_VENV)
	$(PACKAGING_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/packaging/requirements.txt
	@touch $@

docs: venv $(DOCS_VENV)/.installed  ## Build the HTML docs site (antsibull-docs) into .cache/docs/site/build/html
	$(BIN)/python tools/docsite/build.py

diagrams:  ## Render docs/diagrams/*.dot to SVG with Graphviz (installed from Debian when missing)
	@command -v dot >/dev/null || { echo "[docs] installing Debian's graphviz with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz; }
	$(BIN)/python tools/render_diagrams.py

chromium:  ## Install Debian's chromium (for the docs site test) when it is missing
	@command -v chromium >/dev/null || { echo "[docs] installing Debian's chromium with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

docs-check: venv $(DOCS_VENV)/.installed chromium  ## Build the docs site and check it in headless Chromium
	$(BIN)/python -m pytest tests/docs

galaxy-import: venv $(PACKAGING_VENV)/.installed  ## galaxy-importer on the built artifact; ansible-builder create
	$(BIN)/python -m pytest tests/packaging

bench: venv cluster-up  ## Benchmarks against the tools users would pick instead (prints tables of medians and ratios)
	for bench in benchmarks/bench_*.py; do $(BIN)/python $$bench || exit 1; done

# Local cluster ---------------------------------------------------------------------------------------------
# A real Kubernetes control plane on 127.0.0.1 with simulated GPU nodes (tools/localcluster/README.md).
# Extra options go through CLUSTER_ARGS, e.g. make cluster-up CLUSTER_ARGS="--gpu-nodes 4 --gpus-per-node 4".
LOCALCLUSTER ?= python3 tools/localcluster/localcluster.py

.PHONY: cluster-build cluster-up cluster-down cluster-status

cluster-build:  ## Build the cluster's binaries and the real node's images (cached by version and content)
	$(LOCALCLUSTER) build $(CLUSTER_ARGS)

cluster-up:  ## Start the cluster (builds first if needed); the last line printed is KUBECONFIG=<path>
	$(LOCALCLUSTER) up $(CLUSTER_ARGS)

cluster-down:  ## Stop every process the cluster started and remove its state folder
	$(LOCALCLUSTER) down $(CLUSTER_ARGS)

cluster-status:  ## Show components (pid, port, readiness, memory) and nodes; exit 3 when not running
	$(LOCALCLUSTER) status $(CLUSTER_ARGS)
