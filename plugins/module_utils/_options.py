# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""The Triton options of triton_server: one table, the single source of every fact about an option.

Derived from it in code: the argument spec (``_spec.TRITON_OPTIONS``), the collection's defaults
(``_values.DEFAULTS``), the chart-key mapping (``_values.CHART_KEYS``) and the choices. Generated from it by
``make generate`` (``tools/generate_options.py``): the options block of the module's DOCUMENTATION, the role's
``defaults/main.yml`` and ``meta/argument_specs.yml`` entries and the table of ``docs/values.md``;
``tests/unit/plugins/module_utils/test_options_generated.py`` names any entry of those files that is stale.

Adding a chart value is one ``Option`` here, then ``make generate`` (docs/architecture.md).
The release options (name, namespace, wait, ...) and the connection options are not in this table: they have
argument-spec defaults and are documented by hand (``_spec.RELEASE_OPTIONS``, ``_client.AUTH_ARG_SPEC``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chart:
    """A key of the ``triton-backend`` chart's values table (chart 1.3.0) that sets the option."""

    key: str  # the value's path, ``image.tag``
    default: str  # the chart's default, as docs/values.md shows it (Markdown)
    note: str = ""  # how the module reads it differently from the chart, for docs/values.md (Markdown)


@dataclass(frozen=True)
class Option:
    """One Triton option. ``default`` is the collection's default; ``computed`` says how the code derives the
    default instead (``default`` is then what the merge starts from). ``doc`` holds the paragraphs of the
    module documentation's description."""

    name: str
    type: str
    doc: tuple[str, ...]
    elements: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    no_log: bool | None = None  # False on options whose name looks secret but holds only a Secret's name
    chart: Chart | None = None
    computed: str = ""


OPTIONS: tuple[Option, ...] = (
    Option(
        "name_override",
        "str",
        chart=Chart("nameOverride", "`nil`"),
        doc=("Chart C(nameOverride). Name used in labels and object names instead of C(triton).",),
    ),
    Option(
        "fullname_override",
        "str",
        chart=Chart("fullnameOverride", "`nil`"),
        doc=("Chart C(fullnameOverride). Full object name.",),
    ),
    Option(
        "replicas",
        "int",
        default=1,
        chart=Chart("replicaCount", "`1`"),
        doc=("Chart C(replicaCount). Number of Triton pods. Default V(1).",),
    ),
    Option(
        "image_registry",
        "str",
        default="nvcr.io/nvidia",
        chart=Chart(
            "image.registry",
            "`registry.hub.docker.com/instill`",
            note="**differs**: NVIDIA's registry",
        ),
        doc=("Chart C(image.registry). Default V(nvcr.io/nvidia).",),
    ),
    Option(
        "image_repository",
        "str",
        default="tritonserver",
        chart=Chart("image.repository", "`tritonserver`"),
        doc=("Chart C(image.repository). Default V(tritonserver).",),
    ),
    Option(
        "image_tag",
        "str",
        default="26.07-py3",
        chart=Chart(
            "image.tag",
            "`22.05` (renders `22.05-py3`)",
            note="**differs**: a newer release; see [the image.tag rule](#the-imagetag-rule)",
        ),
        doc=(
            "Image tag, used as given (no suffix is added). Default V(26.07-py3).",
            (
                "The chart's C(image.tag) in O(values) or O(values_files) follows the chart's suffix rule described "
                "there."
            ),
            "V(<release>-cpu-arm64) tags are refused with NVIDIA's image, which has none.",
        ),
    ),
    Option(
        "image_pull_policy",
        "str",
        choices=("Always", "IfNotPresent", "Never"),
        default="IfNotPresent",
        chart=Chart("image.pullPolicy", "`IfNotPresent`"),
        doc=("Chart C(image.pullPolicy). Default V(IfNotPresent).",),
    ),
    Option(
        "image_arch_tags",
        "dict",
        default={},
        doc=("Image tag per architecture (keys V(amd64), V(arm64)); the entry for O(arch) wins over O(image_tag).",),
    ),
    Option(
        "image_pull_secrets",
        "list",
        elements="str",
        default=[],
        no_log=False,
        chart=Chart(
            "imagePullSecrets",
            "`[]`",
            note="a list of `{name: ...}`, see [imagePullSecrets](#imagepullsecrets)",
        ),
        doc=(
            "Chart C(imagePullSecrets). Names of existing registry Secrets, for example V([regcred]).",
            "In O(values), the chart's shape, C(imagePullSecrets) as a list of C({name: regcred}).",
        ),
    ),
    Option(
        "arch",
        "str",
        choices=("amd64", "arm64"),
        default="amd64",
        chart=Chart(
            "arch",
            "`amd`",
            note=(
                "same meaning; `amd`/`amd64` and `arm`/`arm64`; also sets the pods' `kubernetes.io/arch` node "
                "selector, see [arch](#arch-arm-and-arm64)"
            ),
        ),
        doc=(
            "Chart C(arch). Node architecture; pods get a C(kubernetes.io/arch) node selector. Default V(amd64).",
            (
                "In O(values), the chart's V(amd) and V(arm) are accepted, and V(arm)/V(arm64) selects the chart's "
                "arm64 image tag suffix (see O(values))."
            ),
        ),
    ),
    Option(
        "use_cpu",
        "bool",
        default=False,
        chart=Chart(
            "mode.useCpu",
            "`true`",
            note="**differs**: the chart runs on CPU, the collection in GPU mode",
        ),
        doc=("Chart C(mode.useCpu). V(true) runs without GPUs. Default V(false) (the chart defaults to CPU).",),
    ),
    Option(
        "num_gpus",
        "int",
        default=1,
        chart=Chart(
            "image.numGpus",
            "`1`",
            note="ignored in CPU mode, as the chart does",
        ),
        doc=("Chart C(image.numGpus). C(nvidia.com/gpu) limit per pod in GPU mode. Default V(1).",),
    ),
    Option(
        "model_repository_type",
        "str",
        choices=("host_path", "pvc", "object_storage"),
        default="host_path",
        doc=("Where the models are. Default V(host_path).",),
    ),
    Option(
        "model_repository_path",
        "str",
        default="/model-repository",
        chart=Chart("image.modelRepositoryPath", "`/model-repository`"),
        doc=(
            (
                "Chart C(image.modelRepositoryPath). Absolute path on the node (host_path) and in the container. "
                "Default V(/model-repository)."
            ),
        ),
    ),
    Option(
        "model_repository_host_path_type",
        "str",
        choices=("Directory", "DirectoryOrCreate"),
        default="Directory",
        doc=(
            (
                "hostPath type. V(Directory) (default) refuses to start on a node that was not prepared, instead of "
                "letting the kubelet create a root-owned empty directory as the chart's V(DirectoryOrCreate) does."
            ),
        ),
    ),
    Option(
        "model_repository_claim",
        "str",
        doc=("Existing PersistentVolumeClaim holding the models (O(model_repository_type=pvc)).",),
    ),
    Option(
        "model_repository_url",
        "str",
        doc=(
            ("Object storage URL (V(s3://...), V(gs://...), V(as://...)) for O(model_repository_type=object_storage)."),
        ),
    ),
    Option(
        "model_repository_revision",
        "str",
        doc=(
            (
                "A version of the model repository's content: any value; when it changes, the pods are replaced like "
                "for any other change (rolling, without failing a request), so that every pod serves the new models, "
                "and a rollback brings the old value back. Rendered as the pod annotation "
                "C(inference.triton/model-repository-revision). The role fills it from the model_repository role's "
                "fingerprint of the repository it copied (paths, sizes and modification times); for object storage "
                "give an object version or ETag yourself. Unset, a Deployment keeps the revision it has (a run that "
                "did not fingerprint the repository rolls nothing)."
            ),
        ),
    ),
    Option(
        "model_repository_secret",
        "str",
        no_log=False,
        doc=(
            (
                "Existing Secret whose keys become the container's environment (for example C(AWS_ACCESS_KEY_ID), "
                "C(AWS_SECRET_ACCESS_KEY)). The module checks that it exists and never reads its data."
            ),
        ),
    ),
    Option(
        "require_prepared_nodes",
        "bool",
        default=False,
        doc=(
            (
                "Schedule only on nodes labelled C(inference.triton/model-repository=ready), which the "
                "C(model_repository) role sets once the hostPath exists. Default V(false)."
            ),
        ),
    ),
    Option(
        "conda_pack_source",
        "str",
        choices=("none", "image", "host_path"),
        default="none",
        doc=(
            (
                "How a packed Python environment (a C(conda-pack) tarball) reaches the Triton container, read-only at"
                " O(conda_pack_path). V(image) copies O(conda_pack_file_name) from the chart's C(tritonEnv) image "
                "into an emptyDir with a non-root init container; V(host_path) mounts the node's folder "
                "O(conda_pack_path) as it is (any tarballs or unpacked environments in it); V(none) (default) has "
                "none. Any C(tritonEnv) key in O(values) selects V(image)."
            ),
            (
                "Delivering the tarball is all the module does. Triton's Python backend takes the environment from "
                "each model's C(config.pbtxt), never from the server's environment, so unlike the chart the module "
                "sets no E(EXECUTION_ENV_PATH) variable (the chart's had no effect). A model that wants the "
                'environment says C(parameters: { key: "EXECUTION_ENV_PATH", value: { string_value: '
                '"/conda-pack/python-3-8.tar.gz" } }) with O(conda_pack_path)/O(conda_pack_file_name) as the value; '
                "models without it use the image's Python."
            ),
            (
                "The backend extracts a tarball (gzip or plain tar; a folder is used as it is) under C(/tmp) of the "
                "container, then starts the model's stub through C(bash) with C(source <env>/bin/activate) and "
                "C(<env>/lib) ahead on E(LD_LIBRARY_PATH). So the environment must have C(bin/activate) (conda-pack "
                "and venv-pack write one), its Python must have the minor version the backend's stub was built for "
                "and import C(numpy) (the backend's utilities do), and C(/tmp) must be writable by the server's user."
            ),
        ),
    ),
    Option(
        "conda_pack_path",
        "str",
        default="/conda-pack",
        chart=Chart(
            "image.condaPackPath",
            "`/conda-pack`",
            note="where the tarball is in the Triton container; used only with a `conda_pack_source`, see below",
        ),
        doc=(
            (
                "Chart C(image.condaPackPath). Default V(/conda-pack). The folder in the Triton container that holds "
                "the tarball; with O(conda_pack_source=host_path) also the folder on the node."
            ),
        ),
    ),
    Option(
        "conda_pack_file_name",
        "str",
        default="python-3-8.tar.gz",
        chart=Chart(
            "image.condaPackFileName",
            "`python-3-8.tar.gz`",
            note="no longer an `EXECUTION_ENV_PATH` variable; see below",
        ),
        doc=(
            (
                "Chart C(image.condaPackFileName). Default V(python-3-8.tar.gz). The file the init container copies "
                "out of the C(tritonEnv) image; with V(host_path) only checked as a file name, models name their own "
                "files."
            ),
        ),
    ),
    Option(
        "conda_env_registry",
        "str",
        default="registry.hub.docker.com/instill",
        chart=Chart(
            "tritonEnv.registry",
            "`registry.hub.docker.com/instill`",
            note=(
                "**differs** in effect: the chart always renders the init container that copies the conda-pack "
                "tarball; the collection only when a `tritonEnv` key is given (`conda_pack_source: image`)"
            ),
        ),
        doc=("Chart C(tritonEnv.registry). Default V(registry.hub.docker.com/instill).",),
    ),
    Option(
        "conda_env_repository",
        "str",
        default="triton-conda-env",
        chart=Chart(
            "tritonEnv.repository",
            "`triton-conda-env`",
            note="as `tritonEnv.registry`",
        ),
        doc=("Chart C(tritonEnv.repository). Default V(triton-conda-env).",),
    ),
    Option(
        "conda_env_tag",
        "str",
        default="0.2.6-alpha-cpu",
        chart=Chart(
            "tritonEnv.tag",
            "`0.2.6-alpha`",
            note=(
                "the same image: the chart appends `-cpu` (`-m1` when arch is arm64), the option holds the complete "
                "tag; as `tritonEnv.registry`"
            ),
        ),
        doc=("Image tag of the conda env image, used as given. Default V(0.2.6-alpha-cpu).",),
    ),
    Option(
        "conda_env_pull_policy",
        "str",
        choices=("Always", "IfNotPresent", "Never"),
        default="IfNotPresent",
        chart=Chart(
            "tritonEnv.pullPolicy",
            "`IfNotPresent`",
            note="as `tritonEnv.registry`",
        ),
        doc=("Chart C(tritonEnv.pullPolicy). Default V(IfNotPresent).",),
    ),
    Option(
        "service_type",
        "str",
        choices=("ClusterIP", "NodePort", "LoadBalancer"),
        default="NodePort",
        chart=Chart("service.type", "`NodePort`"),
        doc=("Chart C(service.type). Default V(NodePort).",),
    ),
    Option(
        "service_port_http",
        "int",
        default=8000,
        chart=Chart("service.portHttp", "`8000`"),
        doc=("Chart C(service.portHttp). Default V(8000).",),
    ),
    Option(
        "service_port_grpc",
        "int",
        default=8001,
        chart=Chart("service.portGrpc", "`8001`"),
        doc=("Chart C(service.portGrpc). Default V(8001).",),
    ),
    Option(
        "service_port_metrics",
        "int",
        default=8002,
        chart=Chart("service.portMetrics", "`8002`"),
        doc=("Chart C(service.portMetrics). Default V(8002).",),
    ),
    Option(
        "service_node_port_http",
        "int",
        default=31000,
        chart=Chart(
            "service.nodePortHttp",
            "`31000`",
            note=(
                "`0` lets Kubernetes allocate one; 30000-32767, checked for collisions; set on NodePort Services "
                "only, as the chart does (a LoadBalancer's are allocated by Kubernetes)"
            ),
        ),
        doc=(
            (
                "Chart C(service.nodePortHttp), 30000-32767, used when O(service_type) is V(NodePort) (a "
                "LoadBalancer's nodePorts are allocated by Kubernetes, as the chart leaves them). V(0) lets "
                "Kubernetes allocate one. Default V(31000)."
            ),
        ),
    ),
    Option(
        "service_node_port_grpc",
        "int",
        default=31001,
        chart=Chart("service.nodePortGrpc", "`31001`"),
        doc=("Chart C(service.nodePortGrpc). Default V(31001).",),
    ),
    Option(
        "service_node_port_metrics",
        "int",
        default=31002,
        chart=Chart("service.nodePortMetrics", "`31002`"),
        doc=("Chart C(service.nodePortMetrics). Default V(31002).",),
    ),
    Option(
        "node_selector",
        "dict",
        default={},
        chart=Chart("nodeSelector", "`{}`"),
        doc=("Chart C(nodeSelector).",),
    ),
    Option(
        "tolerations",
        "list",
        elements="dict",
        default=[],
        chart=Chart("tolerations", "`[]`"),
        doc=(
            (
                "Chart C(tolerations). In GPU mode a toleration of C(nvidia.com/gpu:NoSchedule) is added unless one "
                "for that key is given."
            ),
        ),
    ),
    Option(
        "affinity",
        "dict",
        default={},
        chart=Chart("affinity", "`{}`"),
        doc=("Chart C(affinity).",),
    ),
    Option(
        "labels",
        "dict",
        default={},
        doc=("Extra labels on every object.",),
    ),
    Option(
        "annotations",
        "dict",
        default={},
        doc=("Extra annotations on every object.",),
    ),
    Option(
        "pod_labels",
        "dict",
        default={},
        doc=("Extra labels on the pods.",),
    ),
    Option(
        "pod_annotations",
        "dict",
        default={},
        chart=Chart(
            "podAnnotations",
            "`{}`",
            note="reaches the pods (the chart ignored it)",
        ),
        doc=("Chart C(podAnnotations). Annotations on the pods (the chart ignored them).",),
    ),
    Option(
        "resources",
        "dict",
        default={},
        doc=(
            (
                "Requests and limits of the Triton container, merged key by key over the defaults (C(null) removes "
                "one). Default per GPU (once on CPU): requests C(cpu) 1, C(memory) 2Gi, C(ephemeral-storage) 1Gi; "
                "limits C(memory) requests.memory + O(shm_size), C(ephemeral-storage) O(tmp_size) + 1Gi, no CPU "
                "limit. A memory limit that does not exceed O(shm_size) is refused. GPUs come from O(num_gpus)."
            ),
        ),
    ),
    Option(
        "model_control_mode",
        "str",
        computed="`none`, or `explicit` when `models` is set and nothing else set the mode (`_values.merge_options`)",
        choices=("none", "poll", "explicit"),
        default="none",
        doc=("Triton's C(--model-control-mode). Default V(none) (load every model at start).",),
    ),
    Option(
        "load_models",
        "list",
        elements="str",
        default=[],
        doc=("Models to load at start in V(explicit) mode (C(--load-model)).",),
    ),
    Option(
        "models",
        "list",
        elements="str",
        default=[],
        doc=(
            (
                "The models every replica must serve: Triton starts in V(explicit) mode (unless O(model_control_mode)"
                " says otherwise, which is refused) with C(--load-model) for each, so every pod loads the same set "
                "and nothing else. After the rollout each new pod is asked, through the API server's pod proxy "
                "(C(get) and C(create) on C(pods/proxy)), whether every model is READY; a pod that is not, or whose "
                "Triton restarted, fails the task naming the pod, the model and Triton's reason. A running new pod "
                "that reports a declared model UNAVAILABLE stops the wait at once (explicit mode does not retry it). "
                "Not with O(load_models)."
            ),
        ),
    ),
    Option(
        "repository_poll_secs",
        "int",
        doc=("C(--repository-poll-secs) in V(poll) mode.",),
    ),
    Option(
        "server_args",
        "list",
        elements="str",
        default=[],
        doc=("Extra C(tritonserver) arguments, each C(--flag=value).",),
    ),
    Option(
        "liveness_probe",
        "dict",
        default={},
        doc=(
            (
                "Fields merged over the default liveness probe (C(/v2/health/live), every 10s, 3 failures). "
                "C({enabled: false}) removes it."
            ),
        ),
    ),
    Option(
        "readiness_probe",
        "dict",
        default={},
        doc=("Fields merged over the default readiness probe (C(/v2/health/ready), every 5s, 3 failures).",),
    ),
    Option(
        "startup_probe",
        "dict",
        default={},
        doc=(
            (
                "Fields merged over the default startup probe (C(/v2/health/ready), every 10s, failures for "
                "O(model_load_timeout_seconds)), which gives slow model loads that long before liveness starts."
            ),
        ),
    ),
    Option(
        "model_load_timeout_seconds",
        "int",
        default=600,
        doc=(
            (
                "The longest time Triton may take to load its models at start: the startup probe "
                "(C(/v2/health/ready), every 10 s) allows that many seconds of failures before liveness starts, so a "
                "slow load is not killed. A C(failureThreshold) in O(startup_probe) wins. Default V(600)."
            ),
        ),
    ),
    Option(
        "shm_size",
        "str",
        default="1Gi",
        doc=("Size of the memory-backed C(/dev/shm) (the Python backend needs it). Default V(1Gi).",),
    ),
    Option(
        "env",
        "dict",
        default={},
        doc=("Environment of the Triton container, name to value (rendered as strings) or to C({valueFrom:...}).",),
    ),
    Option(
        "extra_volumes",
        "list",
        elements="dict",
        default=[],
        doc=("Extra pod volumes.",),
    ),
    Option(
        "extra_volume_mounts",
        "list",
        elements="dict",
        default=[],
        doc=("Extra mounts in the Triton container.",),
    ),
    Option(
        "runtime_class_name",
        "str",
        doc=("Pod C(runtimeClassName), for example V(nvidia) when it is not the default runtime.",),
    ),
    Option(
        "priority_class_name",
        "str",
        doc=("Pod C(priorityClassName).",),
    ),
    Option(
        "termination_grace_period_seconds",
        "int",
        computed="pre_stop_sleep_seconds + exit_timeout_seconds + 15 (`_render.GRACE_MARGIN`)",
        doc=(
            (
                "Pod termination grace period. Default: O(pre_stop_sleep_seconds) + O(exit_timeout_seconds) + 15 "
                "(V(60)). A value below that sum + 5 is refused before anything is written, with the numbers."
            ),
        ),
    ),
    Option(
        "pre_stop_sleep_seconds",
        "int",
        default=15,
        doc=(
            (
                "Seconds a terminating pod keeps serving before Triton gets SIGTERM (a C(preStop) C(sleep) hook): the"
                " time for the endpoints, kube-proxy and load balancers to stop sending it new requests. Its gRPC "
                "connections are closed gracefully (C(--grpc-max-connection-age), 40% of the sleep, plus 20% for "
                "calls in flight) so that clients reconnect to another pod before Triton unloads its models. V(0) "
                "removes the hook and the connection age. Default V(15)."
            ),
        ),
    ),
    Option(
        "exit_timeout_seconds",
        "int",
        default=30,
        doc=(
            (
                "Triton's C(--exit-timeout-secs): how long it lets in-flight inferences finish after SIGTERM. Default"
                " V(30)."
            ),
        ),
    ),
    Option(
        "update_strategy",
        "dict",
        default={},
        doc=("Deployment C(strategy), for example C({type: Recreate}) when GPUs leave no room for a surge pod.",),
    ),
    Option(
        "gpu_rollout",
        "str",
        choices=("auto", "surge"),
        default="auto",
        doc=(
            (
                "What an update of GPU pods does when no eligible node has O(num_gpus) free GPUs for a surge pod "
                "while the strategy keeps every old pod until a new one is ready (C(maxUnavailable) 0, as the default"
                " 25% is for 3 replicas or fewer), so that the rollout would wait on C(Insufficient nvidia.com/gpu) "
                "until its deadline."
            ),
            (
                "V(auto) (the default) replaces the pods one at a time for that rollout (C(maxSurge) 0, "
                "C(maxUnavailable) 1; the only pod of one replica stops before its successor starts, with a warning),"
                " unless the PodDisruptionBudget (O(pdb_min_available), O(pdb_max_unavailable)) allows no unavailable"
                " pod, which fails before writing. Nothing is switched when the new pods would not fit even in place "
                "of the old ones (the GPU preflight says so)."
            ),
            "V(surge) keeps the strategy and fails before writing, naming the numbers.",
            (
                "Decided only when the apply replaces the pods. The strategy chosen then stays (the Deployment's "
                "annotation C(inference.triton/gpu-rollout) records the O(update_strategy) it replaced) until the "
                "next rollout, so a run with the same options changes nothing. Part of O(preflight) (V(warn) warns "
                "instead of failing, V(skip) turns it off). See C(docs/reliability.md)."
            ),
        ),
    ),
    Option(
        "pod_security_context",
        "dict",
        default={},
        doc=(
            (
                "Fields merged over the pod security context defaults (C(runAsNonRoot), uid and gid 1000, C(fsGroup) "
                "1000, C(RuntimeDefault) seccomp)."
            ),
        ),
    ),
    Option(
        "security_context",
        "dict",
        default={},
        doc=(
            (
                "Fields merged over the container security context defaults (no privilege escalation, all "
                "capabilities dropped, the root filesystem read-only as O(read_only_root_filesystem) says)."
            ),
        ),
    ),
    Option(
        "read_only_root_filesystem",
        "bool",
        default=True,
        doc=(
            (
                "Run the Triton container with a read-only root filesystem (C(readOnlyRootFilesystem)); C(/tmp) is an"
                " C(emptyDir) of O(tmp_size), the one place Triton and its Python backend write. Default V(true)."
            ),
        ),
    ),
    Option(
        "tmp_size",
        "str",
        default="4Gi",
        doc=(
            (
                "Size limit of the writable C(/tmp) C(emptyDir): the Python backend's stub files and unpacked "
                "conda-pack environments. The default ephemeral-storage limit is this plus 1Gi for logs. Default "
                "V(4Gi)."
            ),
        ),
    ),
    Option(
        "topology_spread_constraints",
        "list",
        elements="dict",
        doc=(
            (
                "The pods' C(topologySpreadConstraints). Default: one constraint that spreads the replicas of a "
                "revision over nodes (C(kubernetes.io/hostname), C(maxSkew) 1, C(ScheduleAnyway), so that fewer nodes"
                " than replicas still schedule). V([]) renders none."
            ),
        ),
    ),
    Option(
        "automount_service_account_token",
        "bool",
        default=False,
        doc=(
            (
                "Mount a service-account token into the pods. Triton never calls the Kubernetes API, so default "
                "V(false)."
            ),
        ),
    ),
    Option(
        "service_account_name",
        "str",
        doc=(
            (
                "The pods' ServiceAccount: an existing one (for example bound to an object-storage identity by eksctl"
                " or Terraform), or the name of the one O(service_account_create) creates (default the release's full"
                " name). Unset: the namespace's C(default)."
            ),
        ),
    ),
    Option(
        "service_account_create",
        "bool",
        default=False,
        doc=(
            (
                "Create a ServiceAccount for the release, annotated with O(service_account_annotations) (IRSA "
                "C(eks.amazonaws.com/role-arn), GKE C(iam.gke.io/gcp-service-account)). Default V(false)."
            ),
        ),
    ),
    Option(
        "service_account_annotations",
        "dict",
        default={},
        doc=("Annotations of the ServiceAccount that O(service_account_create) creates.",),
    ),
    Option(
        "network_policy_enabled",
        "bool",
        default=False,
        doc=(
            (
                "Create a NetworkPolicy that admits traffic to the Triton pods only from O(network_policy_from) (HTTP"
                " and gRPC ports) and O(network_policy_metrics_from) (metrics port). Enforced only where the "
                "cluster's network plugin enforces NetworkPolicies. Default V(false)."
            ),
        ),
    ),
    Option(
        "network_policy_from",
        "list",
        elements="dict",
        doc=(
            (
                "NetworkPolicy peers (C(podSelector), C(namespaceSelector), C(ipBlock)) allowed to reach ports 8000 "
                "and 8001. Default: the pods of the release's namespace. V([]) admits every source. With a NodePort "
                "or LoadBalancer Service, add the clients' addresses as C(ipBlock)."
            ),
        ),
    ),
    Option(
        "network_policy_metrics_from",
        "list",
        elements="dict",
        doc=(
            (
                "NetworkPolicy peers allowed to reach the metrics port 8002. Default: the namespace named "
                "C(monitoring). V([]) admits every source."
            ),
        ),
    ),
    Option(
        "pdb_enabled",
        "bool",
        default=False,
        chart=Chart(
            "podDisruptionBudget.enabled",
            "`false`",
            note="a `policy/v1` PDB that selects the Triton pods",
        ),
        doc=(
            ("Chart C(podDisruptionBudget.enabled). A C(policy/v1) PDB selecting the Triton pods. Default V(false)."),
        ),
    ),
    Option(
        "pdb_min_available",
        "raw",
        computed="`1` when maxUnavailable is unset, else `None`",
        chart=Chart(
            "podDisruptionBudget.minAvailable",
            "`1`",
            note="setting both is an error: delete one with `null`",
        ),
        doc=(
            (
                "Chart C(podDisruptionBudget.minAvailable), a number or a percentage. Default V(1) when "
                "O(pdb_max_unavailable) is not set. Setting both is an error."
            ),
        ),
    ),
    Option(
        "pdb_max_unavailable",
        "raw",
        chart=Chart("podDisruptionBudget.maxUnavailable", "`nil`"),
        doc=("Chart C(podDisruptionBudget.maxUnavailable), a number or a percentage.",),
    ),
    Option(
        "service_monitor_enabled",
        "bool",
        default=False,
        doc=(
            (
                "Create a Prometheus Operator ServiceMonitor for the metrics port; skipped with a warning when its "
                "CRD is absent."
            ),
        ),
    ),
    Option(
        "service_monitor_interval",
        "str",
        default="15s",
        doc=("Scrape interval. Default V(15s).",),
    ),
    Option(
        "service_monitor_labels",
        "dict",
        default={},
        doc=("Extra labels on the ServiceMonitor (for the Prometheus's selector).",),
    ),
    Option(
        "grafana_dashboard_enabled",
        "bool",
        default=False,
        doc=(
            (
                "Create a ConfigMap holding a Grafana dashboard for the release (requests and failures, queue and "
                "compute time per model, batching, GPU utilisation and memory on GPU servers), labelled for the "
                "dashboard sidecar of the grafana and kube-prometheus-stack Helm charts. Its queries select the "
                "series by the namespace and service labels that the release's ServiceMonitor gives them "
                "(O(service_monitor_enabled)). See docs/observability.md."
            ),
        ),
    ),
    Option(
        "grafana_dashboard_labels",
        "dict",
        default={"grafana_dashboard": "1"},
        doc=(
            (
                "Labels the dashboard sidecar looks for on the ConfigMap: C(sidecar.dashboards.label) and "
                "C(labelValue) of the grafana chart; kube-prometheus-stack sets V(grafana_dashboard) and V(1). "
                "Replaces the default, the release's own labels are always added."
            ),
        ),
    ),
    Option(
        "grafana_dashboard_annotations",
        "dict",
        default={},
        doc=(
            (
                "Annotations of the dashboard ConfigMap, for example the folder annotation that the sidecar reads "
                "when the chart sets C(sidecar.dashboards.folderAnnotation)."
            ),
        ),
    ),
    Option(
        "route_enabled",
        "bool",
        default=False,
        doc=(
            (
                "Create an OpenShift Route (route.openshift.io/v1) to the Service in place of the nodePorts: the "
                "Service becomes ClusterIP. Fails before anything is written when the cluster does not serve the "
                "Route API. See docs/openshift.md."
            ),
        ),
    ),
    Option(
        "route_host",
        "str",
        doc=("Host name of the Route. Unset, OpenShift's router generates one from the release and namespace.",),
    ),
    Option(
        "route_tls",
        "str",
        choices=("edge", "passthrough", "none"),
        default="edge",
        doc=(
            (
                "TLS termination of the Route: V(edge) (the router serves TLS, Triton plain HTTP behind it), "
                "V(passthrough) (Triton serves TLS itself: gRPC with its --grpc-use-ssl flags) or V(none) (plain "
                "HTTP). Default V(edge)."
            ),
        ),
    ),
    Option(
        "route_port",
        "str",
        choices=("http", "grpc"),
        default="http",
        doc=(
            (
                "The Service port the Route carries. V(grpc) needs O(route_tls=passthrough): gRPC is HTTP/2 end to "
                "end, which OpenShift's router gives only to TLS connections it passes through. Default V(http)."
            ),
        ),
    ),
    Option(
        "openshift",
        "bool",
        default=False,
        doc=(
            (
                "Make the pods run under OpenShift's restricted-v2 SecurityContextConstraints: no uid, gid or "
                "fsGroup pinned (OpenShift assigns them from the namespace's ranges; the gid is 0), no hostPath "
                "volume (O(model_repository_type) V(pvc) or V(object_storage); host_path is refused, as is "
                "O(conda_pack_source=host_path)). The pods also pass Pod Security V(restricted). Does not create a "
                "Route (O(route_enabled)). See docs/openshift.md."
            ),
        ),
    ),
    Option(
        "patches",
        "dict",
        default={},
        doc=(
            (
                "JSON merge patches applied to the rendered objects, keyed V(deployment), V(service), V(pdb), "
                "V(service_account), V(network_policy), V(service_monitor), V(route), V(grafana_dashboard), for "
                "fields no option covers. C(null) removes a field."
            ),
        ),
    ),
)


def argument_spec() -> dict[str, dict[str, Any]]:
    """The options in AnsibleModule's form, without defaults: the merge must tell "not set" apart, so that
    values files can fill it."""
    spec: dict[str, dict[str, Any]] = {}
    for option in OPTIONS:
        entry: dict[str, Any] = {"type": option.type}
        if option.elements:
            entry["elements"] = option.elements
        if option.choices:
            entry["choices"] = list(option.choices)
        if option.no_log is not None:
            entry["no_log"] = option.no_log
        spec[option.name] = entry
    return spec


def defaults() -> dict[str, Any]:
    """The collection's default of every option (a fresh copy: the merge updates it)."""
    return {option.name: _copy(option.default) for option in OPTIONS}


def chart_keys() -> dict[str, str]:
    """Chart value path -> option name, for every key of the chart's values table."""
    return {option.chart.key: option.name for option in OPTIONS if option.chart}


def choices() -> dict[str, tuple[str, ...]]:
    """Option name -> its allowed values, for the options that have a fixed set."""
    return {option.name: option.choices for option in OPTIONS if option.choices}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value
