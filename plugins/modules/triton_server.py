#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: triton_server
short_description: Deploy NVIDIA Triton Inference Server on Kubernetes, with exact idempotence
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Renders Triton's Deployment, Service, and optionally PodDisruptionBudget and ServiceMonitor from Jinja2
    templates (one file per object, in the collection's C(plugins/templates/triton_server/)) and applies them
    with Kubernetes server-side apply under the field manager C(inference.triton).
  - Takes every value of the C(triton-backend) Helm chart, either as snake_case options or as the chart's own
    C(values.yaml) shape in O(values) and O(values_files). Precedence, lowest first is the collection's
    defaults, then O(values_files) in order, then O(values), then the snake_case options.
  - Reports C(changed) only when the cluster changed. Each object is first read, then applied as a server-side
    dry run, and the object the API server would store is compared with the live one; only objects that differ
    are written. Server defaults, quantity normalisation and allocated nodePorts never cause a change report.
  - Every option is validated and the cluster is checked (namespace, Pod Security level, referenced Secret or
    PVC, nodePort collisions, free GPUs) before the first write.
  - Objects of the release that are no longer wanted (PDB or ServiceMonitor turned off) are deleted.
    O(state=absent) deletes every object carrying the release's labels and nothing else.
  - With O(wait), follows the rollout by watching the Deployment and, if it does not complete, fails with the
    reason taken from pod status and events (insufficient GPUs, image pull errors, crash loops, Pod Security).
  - >-
    A container of the new pods that has exited twice (a crash loop, including restarts by a failing startup or
    liveness probe) ends the wait at once instead of at O(wait_timeout), since it does not recover without a
    change. The reason then gives the container's exit code and termination message and the error lines of its
    log (for example C(tritonserver: unrecognized option) or C(failed to open directory), with a hint), or its
    last lines; secret-looking values are masked. Reading the log needs C(get) on C(pods/log).
  - Rendering, validation and the rollout progress display happen in the action plugin on the controller.
extends_documentation_fragment:
  - inference.triton.k8s_auth
attributes:
  check_mode:
    support: full
    description: Uses server-side dry run; nothing is written and C(changed) is what a real run would report.
  diff_mode:
    support: full
    description: Returns before and after of every object that changes.
  idempotent:
    support: full
    description: A second run with the same options reports C(changed=false).
options:
  name:
    description: Release name. Object names derive from it as the chart does (C(<name>-triton)).
    type: str
    required: true
    aliases: [release_name]
  namespace:
    description: Namespace of the release.
    type: str
    default: default
    aliases: [release_namespace]
  create_namespace:
    description: Create the namespace when it does not exist.
    type: bool
    default: false
  state:
    description:
      - V(present) applies the release; V(absent) deletes every object of the release.
    type: str
    choices: [present, absent]
    default: present
  values:
    description:
      - Helm values in the C(triton-backend) chart's shape (camelCase keys such as C(replicaCount),
        C(image.numGpus), C(service.nodePortHttp), C(podDisruptionBudget.minAvailable)). Unknown keys are refused
        with the key named. The table of keys, the chart's and the collection's defaults and a worked conversion are
        in the collection's C(docs/values.md).
      - >-
        Merged over O(values_files) as Helm merges values: mappings key by key, lists replaced. C(null) deletes a key
        (C(image: null) all of C(image)) that an earlier values file set. Helm then renders without the key; the
        module falls back to the collection's default for the option, which is not always the chart's default
        (C(image.registry), C(image.tag), C(mode.useCpu), C(tritonEnv)). A values file that holds only overrides
        gets the collection's defaults for the rest; list the chart's own C(values.yaml) first to get the chart's.
      - >-
        C(image.tag) follows one rule. A release number (V(24.05)) gets the chart's suffix, V(-py3), or
        V(-py3-cpu-arm64) when C(arch) is arm64. A tag with V(py3) as one of its dash-separated parts
        (V(24.05-py3), V(24.05-py3-igpu), V(22.05-py3-cpu-arm64)) is complete and kept as given, with a warning
        naming the key, the given tag and the final one, where the chart would have appended the suffix again.
        Anything else (V(latest), a digest) is refused with what the chart would have rendered; O(image_tag) takes
        any tag as given. C(tritonEnv.tag) gets V(-cpu) (V(-m1) on arm64) unless it already ends in one of them.
      - >-
        With C(arch) V(arm) or V(arm64), a release number becomes V(<release>-py3-cpu-arm64), the name of Instill
        AI's CPU-only arm64 builds (C(registry.hub.docker.com/instill/tritonserver)): a warning names the final
        image. On NVIDIA's C(nvcr.io/nvidia/tritonserver), which publishes no such tags and whose V(<release>-py3)
        images run on arm64, it is refused. The chart itself adds that suffix only for V(arm64), not for its
        documented V(arm).
      - >-
        C(imagePullSecrets) is what the pod spec takes, a list of C({name: <secret>}); plain names are refused
        (the chart copies the list into the pod spec, where they are invalid). O(image_pull_secrets) takes names.
    type: dict
    default: {}
    aliases: [release_values]
  values_files:
    description:
      - Helm values files on the controller in the chart's shape, merged in order before O(values), as
        C(helm -f a.yaml -f b.yaml) merges them. A C(null) in a later file deletes what an earlier one set, and the
        option falls back to the collection's default. The C(image.tag), C(arch) and C(imagePullSecrets) rules of
        O(values) apply to the merged result.
    type: list
    elements: path
    default: []
  wait:
    description:
      - Wait until the Deployment's rollout completes (all replicas updated and available), or, with
        O(state=absent), until the release's pods are gone. Progress is shown while waiting.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the rollout. A crash loop of the new pods ends the wait before.
    type: int
    default: 600
  rollback_on_failure:
    description:
      - When the rollout does not complete, roll the Deployment back to its previous revision (as
        C(kubectl rollout undo) does) before failing.
    type: bool
    default: false
  preflight:
    description:
      - What to do when a check against the cluster fails before writing (not enough free GPUs for
        O(replicas) x O(num_gpus), Pod Security forbidding hostPath, missing Secret or PVC, nodePort taken).
    type: str
    choices: [fail, warn, skip]
    default: fail
  force_conflicts:
    description:
      - Take over fields that another field manager set (for example after C(kubectl scale) or C(kubectl edit)),
        which is how drift gets corrected. With V(false), such a conflict fails the task and names the manager.
    type: bool
    default: true
  adopt_helm_release:
    description:
      - >-
        Take over the live release O(name) of the C(triton-backend) Helm chart (chart 1.3.0) in O(namespace) without
        replacing its pods: its Deployment, Service and, when enabled, PodDisruptionBudget keep the chart's names,
        selector and pod template field for field; field ownership moves to this collection's field manager
        (server-side apply with force, then Helm's field-manager entries, labels and annotations are removed);
        after the rollout completed, Helm's release Secrets (C(sh.helm.release.v1.<name>.v<N>)) are deleted and
        C(helm list) no longer shows the release.
      - >-
        Values: the release's own (from Helm's newest release Secret, which must be C(deployed)), with O(values_files)
        and O(values) merged over them as Helm merges values. Without any, nothing but ownership and metadata changes.
        A value that changes the pod template replaces the pods one by one; C(adoption.pods_roll) and
        C(adoption.values_changed) say so, in check mode too. The release's values are recorded on the Deployment
        (annotation C(inference.triton/helm-values)), so later runs with O(adopt_helm_release) keep working after
        Helm's Secrets are gone.
      - >-
        When a value replaces the pods, the chart's pods would refuse new connections the moment they get SIGTERM
        (they have no C(preStop) hook). The hand-over therefore gives the new pod template a C(preStop) sleep and a
        label C(inference.triton/serving) that the Service also selects, and C(minReadySeconds) and
        C(maxUnavailable=0) to the Deployment; while the pods roll, each time a new pod is ready one old pod leaves
        the Service (its label set to V(false)) and goes 10 seconds later (C(adoption.rollout.drained) names them).
        This needs C(patch) on pods (C(docs/rbac.yml)); without it such a run fails before writing anything. When no
        value changes the pod template, none of this is added.
      - >-
        The server keeps the chart's flags (C(--model-control-mode=explicit), C(--strict-model-config=false));
        O(model_control_mode), O(load_models) and O(server_args) change them. Models loaded through Triton's API stay
        loaded when the pods are not replaced; new pods start with O(load_models) only. The collection's other
        Triton options cannot be set with O(adopt_helm_release).
      - >-
        The chart's policy/v1beta1 PodDisruptionBudget cannot be installed by Helm on Kubernetes 1.25 or later; one
        created before a cluster upgrade is served as policy/v1 and is taken over as such.
      - >-
        Always waits for the rollout (up to O(wait_timeout)). A failure before Helm's Secrets are deleted leaves them
        in place: a re-run finishes the hand-over, and C(helm rollback) hands the objects back to Helm. Needs C(list)
        and C(delete) on Secrets in the namespace (C(docs/rbac.yml)).
    type: bool
    default: false
  rendered:
    description:
      - Internal, set by the action plugin (the release it rendered - manifests, merged options - or the take-over
        of a Helm release). Do not set it.
    type: dict
  # BEGIN Triton options: generated from plugins/module_utils/_options.py by make generate, do not edit
  name_override:
    description:
      - >-
        Chart C(nameOverride). Name used in labels and object names instead of C(triton).
    type: str
  fullname_override:
    description:
      - >-
        Chart C(fullnameOverride). Full object name.
    type: str
  replicas:
    description:
      - >-
        Chart C(replicaCount). Number of Triton pods. Default V(1).
    type: int
  image_registry:
    description:
      - >-
        Chart C(image.registry). Default V(nvcr.io/nvidia).
    type: str
  image_repository:
    description:
      - >-
        Chart C(image.repository). Default V(tritonserver).
    type: str
  image_tag:
    description:
      - >-
        Image tag, used as given (no suffix is added). Default V(26.07-py3).
      - >-
        The chart's C(image.tag) in O(values) or O(values_files) follows the chart's suffix rule described there.
      - >-
        V(<release>-cpu-arm64) tags are refused with NVIDIA's image, which has none.
    type: str
  image_pull_policy:
    description:
      - >-
        Chart C(image.pullPolicy). Default V(IfNotPresent).
    type: str
    choices: [Always, IfNotPresent, Never]
  image_arch_tags:
    description:
      - >-
        Image tag per architecture (keys V(amd64), V(arm64)); the entry for O(arch) wins over O(image_tag).
    type: dict
  image_pull_secrets:
    description:
      - >-
        Chart C(imagePullSecrets). Names of existing registry Secrets, for example V([regcred]).
      - >-
        In O(values), the chart's shape, C(imagePullSecrets) as a list of C({name: regcred}).
    type: list
    elements: str
  arch:
    description:
      - >-
        Chart C(arch). Node architecture; pods get a C(kubernetes.io/arch) node selector. Default V(amd64).
      - >-
        In O(values), the chart's V(amd) and V(arm) are accepted, and V(arm)/V(arm64) selects the chart's arm64 image
        tag suffix (see O(values)).
    type: str
    choices: [amd64, arm64]
  use_cpu:
    description:
      - >-
        Chart C(mode.useCpu). V(true) runs without GPUs. Default V(false) (the chart defaults to CPU).
    type: bool
  num_gpus:
    description:
      - >-
        Chart C(image.numGpus). C(nvidia.com/gpu) limit per pod in GPU mode. Default V(1).
    type: int
  model_repository_type:
    description:
      - >-
        Where the models are. Default V(host_path).
    type: str
    choices: [host_path, pvc, object_storage]
  model_repository_path:
    description:
      - >-
        Chart C(image.modelRepositoryPath). Absolute path on the node (host_path) and in the container. Default
        V(/model-repository).
    type: str
  model_repository_host_path_type:
    description:
      - >-
        hostPath type. V(Directory) (default) refuses to start on a node that was not prepared, instead of letting the
        kubelet create a root-owned empty directory as the chart's V(DirectoryOrCreate) does.
    type: str
    choices: [Directory, DirectoryOrCreate]
  model_repository_claim:
    description:
      - >-
        Existing PersistentVolumeClaim holding the models (O(model_repository_type=pvc)).
    type: str
  model_repository_url:
    description:
      - >-
        Object storage URL (V(s3://...), V(gs://...), V(as://...)) for O(model_repository_type=object_storage).
    type: str
  model_repository_revision:
    description:
      - >-
        A version of the model repository's content: any value; when it changes, the pods are replaced like for any
        other change (rolling, without failing a request), so that every pod serves the new models, and a rollback
        brings the old value back. Rendered as the pod annotation C(inference.triton/model-repository-revision). The
        role fills it from the model_repository role's fingerprint of the repository it copied (paths, sizes and
        modification times); for object storage give an object version or ETag yourself. Unset, a Deployment keeps the
        revision it has (a run that did not fingerprint the repository rolls nothing).
    type: str
  model_repository_secret:
    description:
      - >-
        Existing Secret whose keys become the container's environment (for example C(AWS_ACCESS_KEY_ID),
        C(AWS_SECRET_ACCESS_KEY)). The module checks that it exists and never reads its data.
    type: str
  require_prepared_nodes:
    description:
      - >-
        Schedule only on nodes labelled C(inference.triton/model-repository=ready), which the C(model_repository) role
        sets once the hostPath exists. Default V(false).
    type: bool
  conda_pack_source:
    description:
      - >-
        How a packed Python environment (a C(conda-pack) tarball) reaches the Triton container, read-only at
        O(conda_pack_path). V(image) copies O(conda_pack_file_name) from the chart's C(tritonEnv) image into an emptyDir
        with a non-root init container; V(host_path) mounts the node's folder O(conda_pack_path) as it is (any tarballs
        or unpacked environments in it); V(none) (default) has none. Any C(tritonEnv) key in O(values) selects V(image).
      - >-
        Delivering the tarball is all the module does. Triton's Python backend takes the environment from each model's
        C(config.pbtxt), never from the server's environment, so unlike the chart the module sets no
        E(EXECUTION_ENV_PATH) variable (the chart's had no effect). A model that wants the environment says
        C(parameters: { key: "EXECUTION_ENV_PATH", value: { string_value: "/conda-pack/python-3-8.tar.gz" } }) with
        O(conda_pack_path)/O(conda_pack_file_name) as the value; models without it use the image's Python.
      - >-
        The backend extracts a tarball (gzip or plain tar; a folder is used as it is) under C(/tmp) of the container,
        then starts the model's stub through C(bash) with C(source <env>/bin/activate) and C(<env>/lib) ahead on
        E(LD_LIBRARY_PATH). So the environment must have C(bin/activate) (conda-pack and venv-pack write one), its
        Python must have the minor version the backend's stub was built for and import C(numpy) (the backend's utilities
        do), and C(/tmp) must be writable by the server's user.
    type: str
    choices: [none, image, host_path]
  conda_pack_path:
    description:
      - >-
        Chart C(image.condaPackPath). Default V(/conda-pack). The folder in the Triton container that holds the tarball;
        with O(conda_pack_source=host_path) also the folder on the node.
    type: str
  conda_pack_file_name:
    description:
      - >-
        Chart C(image.condaPackFileName). Default V(python-3-8.tar.gz). The file the init container copies out of the
        C(tritonEnv) image; with V(host_path) only checked as a file name, models name their own files.
    type: str
  conda_env_registry:
    description:
      - >-
        Chart C(tritonEnv.registry). Default V(registry.hub.docker.com/instill).
    type: str
  conda_env_repository:
    description:
      - >-
        Chart C(tritonEnv.repository). Default V(triton-conda-env).
    type: str
  conda_env_tag:
    description:
      - >-
        Image tag of the conda env image, used as given. Default V(0.2.6-alpha-cpu).
    type: str
  conda_env_pull_policy:
    description:
      - >-
        Chart C(tritonEnv.pullPolicy). Default V(IfNotPresent).
    type: str
    choices: [Always, IfNotPresent, Never]
  service_type:
    description:
      - >-
        Chart C(service.type). Default V(NodePort).
    type: str
    choices: [ClusterIP, NodePort, LoadBalancer]
  service_port_http:
    description:
      - >-
        Chart C(service.portHttp). Default V(8000).
    type: int
  service_port_grpc:
    description:
      - >-
        Chart C(service.portGrpc). Default V(8001).
    type: int
  service_port_metrics:
    description:
      - >-
        Chart C(service.portMetrics). Default V(8002).
    type: int
  service_node_port_http:
    description:
      - >-
        Chart C(service.nodePortHttp), 30000-32767, used when O(service_type) is V(NodePort) (a LoadBalancer's nodePorts
        are allocated by Kubernetes, as the chart leaves them). V(0) lets Kubernetes allocate one. Default V(31000).
    type: int
  service_node_port_grpc:
    description:
      - >-
        Chart C(service.nodePortGrpc). Default V(31001).
    type: int
  service_node_port_metrics:
    description:
      - >-
        Chart C(service.nodePortMetrics). Default V(31002).
    type: int
  node_selector:
    description:
      - >-
        Chart C(nodeSelector).
    type: dict
  tolerations:
    description:
      - >-
        Chart C(tolerations). In GPU mode a toleration of C(nvidia.com/gpu:NoSchedule) is added unless one for that key
        is given.
    type: list
    elements: dict
  affinity:
    description:
      - >-
        Chart C(affinity).
    type: dict
  labels:
    description:
      - >-
        Extra labels on every object.
    type: dict
  annotations:
    description:
      - >-
        Extra annotations on every object.
    type: dict
  pod_labels:
    description:
      - >-
        Extra labels on the pods.
    type: dict
  pod_annotations:
    description:
      - >-
        Chart C(podAnnotations). Annotations on the pods (the chart ignored them).
    type: dict
  resources:
    description:
      - >-
        Requests and limits of the Triton container, merged key by key over the defaults (C(null) removes one). Default
        per GPU (once on CPU): requests C(cpu) 1, C(memory) 2Gi, C(ephemeral-storage) 1Gi; limits C(memory)
        requests.memory + O(shm_size), C(ephemeral-storage) O(tmp_size) + 1Gi, no CPU limit. A memory limit that does
        not exceed O(shm_size) is refused. GPUs come from O(num_gpus).
    type: dict
  model_control_mode:
    description:
      - >-
        Triton's C(--model-control-mode). Default V(none) (load every model at start).
    type: str
    choices: [none, poll, explicit]
  load_models:
    description:
      - >-
        Models to load at start in V(explicit) mode (C(--load-model)).
    type: list
    elements: str
  models:
    description:
      - >-
        The models every replica must serve: Triton starts in V(explicit) mode (unless O(model_control_mode) says
        otherwise, which is refused) with C(--load-model) for each, so every pod loads the same set and nothing else.
        After the rollout each new pod is asked, through the API server's pod proxy (C(get) and C(create) on
        C(pods/proxy)), whether every model is READY; a pod that is not, or whose Triton restarted, fails the task
        naming the pod, the model and Triton's reason. A running new pod that reports a declared model UNAVAILABLE stops
        the wait at once (explicit mode does not retry it). Not with O(load_models).
    type: list
    elements: str
  repository_poll_secs:
    description:
      - >-
        C(--repository-poll-secs) in V(poll) mode.
    type: int
  server_args:
    description:
      - >-
        Extra C(tritonserver) arguments, each C(--flag=value).
    type: list
    elements: str
  liveness_probe:
    description:
      - >-
        Fields merged over the default liveness probe (C(/v2/health/live), every 10s, 3 failures). C({enabled: false})
        removes it.
    type: dict
  readiness_probe:
    description:
      - >-
        Fields merged over the default readiness probe (C(/v2/health/ready), every 5s, 3 failures).
    type: dict
  startup_probe:
    description:
      - >-
        Fields merged over the default startup probe (C(/v2/health/ready), every 10s, failures for
        O(model_load_timeout_seconds)), which gives slow model loads that long before liveness starts.
    type: dict
  model_load_timeout_seconds:
    description:
      - >-
        The longest time Triton may take to load its models at start: the startup probe (C(/v2/health/ready), every 10
        s) allows that many seconds of failures before liveness starts, so a slow load is not killed. A
        C(failureThreshold) in O(startup_probe) wins. Default V(600).
    type: int
  shm_size:
    description:
      - >-
        Size of the memory-backed C(/dev/shm) (the Python backend needs it). Default V(1Gi).
    type: str
  env:
    description:
      - >-
        Environment of the Triton container, name to value (rendered as strings) or to C({valueFrom:...}).
    type: dict
  extra_volumes:
    description:
      - >-
        Extra pod volumes.
    type: list
    elements: dict
  extra_volume_mounts:
    description:
      - >-
        Extra mounts in the Triton container.
    type: list
    elements: dict
  runtime_class_name:
    description:
      - >-
        Pod C(runtimeClassName), for example V(nvidia) when it is not the default runtime.
    type: str
  priority_class_name:
    description:
      - >-
        Pod C(priorityClassName).
    type: str
  termination_grace_period_seconds:
    description:
      - >-
        Pod termination grace period. Default: O(pre_stop_sleep_seconds) + O(exit_timeout_seconds) + 15 (V(60)). A value
        below that sum + 5 is refused before anything is written, with the numbers.
    type: int
  pre_stop_sleep_seconds:
    description:
      - >-
        Seconds a terminating pod keeps serving before Triton gets SIGTERM (a C(preStop) C(sleep) hook): the time for
        the endpoints, kube-proxy and load balancers to stop sending it new requests. Its gRPC connections are closed
        gracefully (C(--grpc-max-connection-age), 40% of the sleep, plus 20% for calls in flight) so that clients
        reconnect to another pod before Triton unloads its models. V(0) removes the hook and the connection age. Default
        V(15).
    type: int
  exit_timeout_seconds:
    description:
      - >-
        Triton's C(--exit-timeout-secs): how long it lets in-flight inferences finish after SIGTERM. Default V(30).
    type: int
  update_strategy:
    description:
      - >-
        Deployment C(strategy), for example C({type: Recreate}) when GPUs leave no room for a surge pod.
    type: dict
  gpu_rollout:
    description:
      - >-
        What an update of GPU pods does when no eligible node has O(num_gpus) free GPUs for a surge pod while the
        strategy keeps every old pod until a new one is ready (C(maxUnavailable) 0, as the default 25% is for 3 replicas
        or fewer), so that the rollout would wait on C(Insufficient nvidia.com/gpu) until its deadline.
      - >-
        V(auto) (the default) replaces the pods one at a time for that rollout (C(maxSurge) 0, C(maxUnavailable) 1; the
        only pod of one replica stops before its successor starts, with a warning), unless the PodDisruptionBudget
        (O(pdb_min_available), O(pdb_max_unavailable)) allows no unavailable pod, which fails before writing. Nothing is
        switched when the new pods would not fit even in place of the old ones (the GPU preflight says so).
      - >-
        V(surge) keeps the strategy and fails before writing, naming the numbers.
      - >-
        Decided only when the apply replaces the pods. The strategy chosen then stays (the Deployment's annotation
        C(inference.triton/gpu-rollout) records the O(update_strategy) it replaced) until the next rollout, so a run
        with the same options changes nothing. Part of O(preflight) (V(warn) warns instead of failing, V(skip) turns it
        off). See C(docs/reliability.md).
    type: str
    choices: [auto, surge]
  pod_security_context:
    description:
      - >-
        Fields merged over the pod security context defaults (C(runAsNonRoot), uid and gid 1000, C(fsGroup) 1000,
        C(RuntimeDefault) seccomp).
    type: dict
  security_context:
    description:
      - >-
        Fields merged over the container security context defaults (no privilege escalation, all capabilities dropped,
        the root filesystem read-only as O(read_only_root_filesystem) says).
    type: dict
  read_only_root_filesystem:
    description:
      - >-
        Run the Triton container with a read-only root filesystem (C(readOnlyRootFilesystem)); C(/tmp) is an C(emptyDir)
        of O(tmp_size), the one place Triton and its Python backend write. Default V(true).
    type: bool
  tmp_size:
    description:
      - >-
        Size limit of the writable C(/tmp) C(emptyDir): the Python backend's stub files and unpacked conda-pack
        environments. The default ephemeral-storage limit is this plus 1Gi for logs. Default V(4Gi).
    type: str
  topology_spread_constraints:
    description:
      - >-
        The pods' C(topologySpreadConstraints). Default: one constraint that spreads the replicas of a revision over
        nodes (C(kubernetes.io/hostname), C(maxSkew) 1, C(ScheduleAnyway), so that fewer nodes than replicas still
        schedule). V([]) renders none.
    type: list
    elements: dict
  automount_service_account_token:
    description:
      - >-
        Mount a service-account token into the pods. Triton never calls the Kubernetes API, so default V(false).
    type: bool
  service_account_name:
    description:
      - >-
        The pods' ServiceAccount: an existing one (for example bound to an object-storage identity by eksctl or
        Terraform), or the name of the one O(service_account_create) creates (default the release's full name). Unset:
        the namespace's C(default).
    type: str
  service_account_create:
    description:
      - >-
        Create a ServiceAccount for the release, annotated with O(service_account_annotations) (IRSA
        C(eks.amazonaws.com/role-arn), GKE C(iam.gke.io/gcp-service-account)). Default V(false).
    type: bool
  service_account_annotations:
    description:
      - >-
        Annotations of the ServiceAccount that O(service_account_create) creates.
    type: dict
  network_policy_enabled:
    description:
      - >-
        Create a NetworkPolicy that admits traffic to the Triton pods only from O(network_policy_from) (HTTP and gRPC
        ports) and O(network_policy_metrics_from) (metrics port). Enforced only where the cluster's network plugin
        enforces NetworkPolicies. Default V(false).
    type: bool
  network_policy_from:
    description:
      - >-
        NetworkPolicy peers (C(podSelector), C(namespaceSelector), C(ipBlock)) allowed to reach ports 8000 and 8001.
        Default: the pods of the release's namespace. V([]) admits every source. With a NodePort or LoadBalancer
        Service, add the clients' addresses as C(ipBlock).
    type: list
    elements: dict
  network_policy_metrics_from:
    description:
      - >-
        NetworkPolicy peers allowed to reach the metrics port 8002. Default: the namespace named C(monitoring). V([])
        admits every source.
    type: list
    elements: dict
  pdb_enabled:
    description:
      - >-
        Chart C(podDisruptionBudget.enabled). A C(policy/v1) PDB selecting the Triton pods. Default V(false).
    type: bool
  pdb_min_available:
    description:
      - >-
        Chart C(podDisruptionBudget.minAvailable), a number or a percentage. Default V(1) when O(pdb_max_unavailable) is
        not set. Setting both is an error.
    type: raw
  pdb_max_unavailable:
    description:
      - >-
        Chart C(podDisruptionBudget.maxUnavailable), a number or a percentage.
    type: raw
  service_monitor_enabled:
    description:
      - >-
        Create a Prometheus Operator ServiceMonitor for the metrics port; skipped with a warning when its CRD is absent.
    type: bool
  service_monitor_interval:
    description:
      - >-
        Scrape interval. Default V(15s).
    type: str
  service_monitor_labels:
    description:
      - >-
        Extra labels on the ServiceMonitor (for the Prometheus's selector).
    type: dict
  grafana_dashboard_enabled:
    description:
      - >-
        Create a ConfigMap holding a Grafana dashboard for the release (requests and failures, queue and compute time
        per model, batching, GPU utilisation and memory on GPU servers), labelled for the dashboard sidecar of the
        grafana and kube-prometheus-stack Helm charts. Its queries select the series by the namespace and service labels
        that the release's ServiceMonitor gives them (O(service_monitor_enabled)). See docs/observability.md.
    type: bool
  grafana_dashboard_labels:
    description:
      - >-
        Labels the dashboard sidecar looks for on the ConfigMap: C(sidecar.dashboards.label) and C(labelValue) of the
        grafana chart; kube-prometheus-stack sets V(grafana_dashboard) and V(1). Replaces the default, the release's own
        labels are always added.
    type: dict
  grafana_dashboard_annotations:
    description:
      - >-
        Annotations of the dashboard ConfigMap, for example the folder annotation that the sidecar reads when the chart
        sets C(sidecar.dashboards.folderAnnotation).
    type: dict
  route_enabled:
    description:
      - >-
        Create an OpenShift Route (route.openshift.io/v1) to the Service in place of the nodePorts: the Service becomes
        ClusterIP. Fails before anything is written when the cluster does not serve the Route API. See
        docs/openshift.md.
    type: bool
  route_host:
    description:
      - >-
        Host name of the Route. Unset, OpenShift's router generates one from the release and namespace.
    type: str
  route_tls:
    description:
      - >-
        TLS termination of the Route: V(edge) (the router serves TLS, Triton plain HTTP behind it), V(passthrough)
        (Triton serves TLS itself: gRPC with its --grpc-use-ssl flags) or V(none) (plain HTTP). Default V(edge).
    type: str
    choices: [edge, passthrough, none]
  route_port:
    description:
      - >-
        The Service port the Route carries. V(grpc) needs O(route_tls=passthrough): gRPC is HTTP/2 end to end, which
        OpenShift's router gives only to TLS connections it passes through. Default V(http).
    type: str
    choices: [http, grpc]
  openshift:
    description:
      - >-
        Make the pods run under OpenShift's restricted-v2 SecurityContextConstraints: no uid, gid or fsGroup pinned
        (OpenShift assigns them from the namespace's ranges; the gid is 0), no hostPath volume (O(model_repository_type)
        V(pvc) or V(object_storage); host_path is refused, as is O(conda_pack_source=host_path)). The pods also pass Pod
        Security V(restricted). Does not create a Route (O(route_enabled)). See docs/openshift.md.
    type: bool
  patches:
    description:
      - >-
        JSON merge patches applied to the rendered objects, keyed V(deployment), V(service), V(pdb), V(service_account),
        V(network_policy), V(service_monitor), V(route), V(grafana_dashboard), for fields no option covers. C(null)
        removes a field.
    type: dict
  # END Triton options
notes:
  - Objects carry C(app.kubernetes.io/{name,instance,version,component,managed-by}); the selector uses only
    C(app.kubernetes.io/name) and C(app.kubernetes.io/instance), which never change.
  - Objects of the same name that this collection does not manage (for example left by C(helm install)) are
    not taken over; the task fails naming them.
seealso:
  - module: inference.triton.k8s_apply
  - module: inference.triton.rollout_status
"""

EXAMPLES = r"""
- name: Take over the live triton-backend Helm release tb, keeping its pods
  inference.triton.triton_server:
    name: tb
    namespace: triton
    adopt_helm_release: true

- name: Deploy Triton with two GPU replicas and a PDB
  inference.triton.triton_server:
    name: demo
    namespace: triton
    create_namespace: true
    replicas: 2
    num_gpus: 1
    model_repository_path: /srv/models
    pdb_enabled: true

- name: Migrate from the Helm chart with its values file
  inference.triton.triton_server:
    name: example
    namespace: default
    values_files:
      - files/triton-values.yaml
    name_override: triton-backend

- name: Models from S3, credentials from an existing Secret
  inference.triton.triton_server:
    name: s3demo
    namespace: triton
    model_repository_type: object_storage
    model_repository_url: s3://models-bucket/triton
    model_repository_secret: triton-s3-credentials

- name: A conda-pack tarball on the node; models use it through their config.pbtxt
  # models/<model>/config.pbtxt:
  #   parameters: { key: "EXECUTION_ENV_PATH", value: { string_value: "/srv/conda-pack/py311-env.tar.gz" } }
  inference.triton.triton_server:
    name: demo
    namespace: triton
    model_repository_path: /srv/models
    conda_pack_source: host_path
    conda_pack_path: /srv/conda-pack

- name: Show what an upgrade would change, without writing
  inference.triton.triton_server:
    name: demo
    namespace: triton
    image_tag: 26.08-py3
  check_mode: true
  diff: true

- name: Remove the release
  inference.triton.triton_server:
    name: demo
    namespace: triton
    state: absent
"""

RETURN = r"""
adoption:
  description:
    - With O(adopt_helm_release), the hand-over (in check mode, what it would be).
    - C(objects) per object key its action, the fields a Helm field manager owned (C(fields_from_helm)) and the
      Helm labels and annotations removed; C(pods_roll) whether the pods are replaced; C(values_changed) the values
      that differ from the release's; C(helm_secrets) the Helm release Secrets deleted; C(server) the server's flags.
    - C(rollout.drained), when values replaced the pods, the old pods taken out of the Service before they went.
  returned: when O(adopt_helm_release=true) and O(state=present)
  type: dict
  sample:
    helm_release: tb
    revision: 1
    chart: triton-backend-1.3.0
    values_source: Helm release tb revision 1
    values_changed: {}
    pods_roll: false
    server: {model_control_mode: explicit, strict_model_config: false, load_models: [], server_args: []}
    helm_secrets: [sh.helm.release.v1.tb.v1]
    objects:
      deployment:
        kind: Deployment
        name: tb-triton-backend
        action: updated
        fields_from_helm: [metadata.annotations, metadata.labels, spec.replicas, spec.template]
        labels_removed: [heritage, chart, app.kubernetes.io/managed-by]
        annotations_removed: [meta.helm.sh/release-name, meta.helm.sh/release-namespace, rollme]
objects:
  description: Per object key (V(namespace), V(deployment), V(service), V(pdb), V(service_monitor)) its action and resulting object.
  returned: always
  type: dict
  sample:
    deployment:
      action: unchanged
      kind: Deployment
      name: demo-triton
      namespace: triton
      object: {}
actions:
  description: Object key to action (V(created), V(updated), V(unchanged), V(deleted), V(absent)).
  returned: always
  type: dict
  sample: {deployment: updated, service: unchanged}
endpoints:
  description: The Service's type, cluster IP and ports with their nodePorts.
  returned: when state is present
  type: dict
  sample: {service: demo-triton, type: NodePort, cluster_ip: 10.96.12.4, ports: {http: {port: 8000, node_port: 31000}}}
gpu_rollout:
  description:
    - Set when O(gpu_rollout=auto) switched this rollout to replacing the pods one at a time because no surge pod
      had GPUs; C(reason) names the numbers.
  returned: when the strategy was switched, in check mode too
  type: dict
  sample: {strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}, reason: "gpu_rollout auto: ..."}
rollout:
  description: The rollout's outcome when O(wait) is set (complete, replica counts, revision, pods and nodes).
  returned: when wait is true and state is present, outside check mode
  type: dict
options:
  description:
    - The merged options the objects were rendered from, every option with its final value. This is what
      O(values_files), O(values) and the snake_case options became, after the C(image.tag) rule and C(null)
      deletions, so C(--check) shows it without writing anything (C(-v) prints it, or C(register) it).
    - It holds option values only, which are Secret names and never Secret data (O(model_repository_secret),
      O(image_pull_secrets)); the connection's O(api_key) is not one of them.
  returned: when state is present, in check mode too
  type: dict
  sample: {image_tag: 24.08-py3, replicas: 3, image_pull_secrets: [ngc-pull], use_cpu: false}
origin:
  description:
    - For each option that a values file, O(values) or a snake_case option set, where its value came from, a
      path of O(values_files), V(values), or V(option). Mappings merged from several values files name them all.
      An option absent here has the collection's default, also when a C(null) deleted it.
  returned: when state is present, in check mode too
  type: dict
  sample: {image_tag: prod.yaml, replicas: values, pod_annotations: "base.yaml, prod.yaml", name_override: option}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.inference.triton.plugins.module_utils._client import Cluster
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module, reported_failures
from ansible_collections.inference.triton.plugins.module_utils._spec import argument_spec

# How long the module itself follows a rollout before handing over to rollout_status, which the action plugin
# calls in slices to show progress. Most rollouts of an unchanged image finish within it: one process, no hand-over.
FIRST_SLICE = 10


def first_rollout_slice(cluster: Cluster, applier, p: dict, unchanged_and_complete: bool) -> dict:
    """Follow the rollout here, with the client this run already has, for up to FIRST_SLICE s."""
    from ansible_collections.inference.triton.plugins.module_utils._wait import (
        RolloutWatcher,
        deployment_progress,
        progress_text,
        rollout_report,
    )

    live = next(r["object"] for r in applier.results if r["kind"] == "Deployment")
    watcher = RolloutWatcher(cluster, p["namespace"], live["metadata"]["name"])
    if unchanged_and_complete:
        deployment, progress = live, deployment_progress(live)
    else:
        deployment, progress = watcher.wait(min(p["wait_timeout"], FIRST_SLICE))
    if deployment is None or not progress["complete"]:
        # The action plugin goes on in rollout_status slices, which explain what does not complete.
        return {"complete": False, "progress": progress, **({"summary": progress_text(progress)} if deployment else {})}
    models = p["rendered"]["options"].get("models") or []
    return rollout_report(watcher, deployment, progress, not unchanged_and_complete, models)


def done_before_failing(cluster: Cluster | None, applier) -> dict:
    """What a failing run had already written: objects written before a fault are a change the user must see."""
    if cluster is None or applier is None:
        return {}
    return {
        "changed": applier.changed,
        "actions": {r["key"]: r["action"] for r in applier.results},
        "retries": cluster.retries,
    }


def apply_release(module: AnsibleModule, cluster: Cluster, applier, warnings: list[str]) -> dict:
    """state present: apply the rendered release (or take over a Helm release), then follow its rollout a while."""
    from ansible_collections.inference.triton.plugins.module_utils._release import (
        ReleaseError,
        endpoints,
        present,
        rollout_complete,
    )
    from ansible_collections.inference.triton.plugins.module_utils._wait import serving_failure

    p, rendered = module.params, module.params["rendered"]
    if rendered.get("adopt") is not None:
        from ansible_collections.inference.triton.plugins.module_utils import _adopt

        # The hand-over waits for its rollout itself: Helm's Secrets go only after it completed.
        adoption = _adopt.present(
            cluster, applier, p["name"], p["namespace"], rendered["adopt"], p["wait_timeout"], warnings
        )
        return {
            "adoption": adoption,
            "endpoints": endpoints(applier),
            "rollout_complete": True,
            "fullname": adoption["fullname"],
        }
    result: dict = {}
    result["endpoints"] = present(
        cluster, applier, p["name"], p["namespace"], rendered, p["create_namespace"], p["preflight"], warnings, result
    )
    result["rollout_complete"] = rollout_complete(applier)
    if p["wait"] and not module.check_mode:
        result["rollout"] = first_rollout_slice(cluster, applier, p, result["rollout_complete"])
        result["rollout_complete"] = result["rollout"]["complete"]
        if result["rollout"].get("serving_problems"):
            raise ReleaseError(serving_failure(p["namespace"], rendered["context"]["fullname"], result["rollout"]))
    result.update(
        options=rendered["options"],
        origin={k: v for k, v in rendered["origin"].items() if v != "default"},
        fullname=rendered["context"]["fullname"],
    )
    return result


def remove_release(module: AnsibleModule, cluster: Cluster, applier, warnings: list[str]) -> dict:
    """state absent: delete every object of the release, then wait until its pods are gone."""
    from ansible_collections.inference.triton.plugins.module_utils._adopt import adopted_pod_selectors
    from ansible_collections.inference.triton.plugins.module_utils._release import absent
    from ansible_collections.inference.triton.plugins.module_utils._render import release_selector
    from ansible_collections.inference.triton.plugins.module_utils._wait import wait_pods_gone

    p = module.params
    # A release taken over from Helm keeps the chart's pod labels: its pods are waited for by those.
    selectors = [release_selector(p["name"]), *adopted_pod_selectors(applier, p["namespace"], p["name"])]
    absent(cluster, applier, p["name"], p["namespace"])
    if p["wait"] and applier.changed and not module.check_mode:
        left = [
            pod
            for selector in selectors
            for pod in wait_pods_gone(cluster, p["namespace"], selector, p["wait_timeout"])
        ]
        if left:
            warnings.append(f"pods still terminating after {p['wait_timeout']}s: {', '.join(left)}")
    return {}


def run(module: AnsibleModule) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._apply import Applier, ApplyError
    from ansible_collections.inference.triton.plugins.module_utils._release import ReleaseError

    p = module.params
    if p["state"] == "present" and not p["rendered"]:
        module.fail_json(
            msg="rendered: missing; this module runs through its action plugin (inference.triton.triton_server)"
        )
    warnings: list[str] = list((p["rendered"] or {}).get("warnings", []))
    cluster = applier = None
    with reported_failures(module, (ReleaseError, ApplyError), lambda: done_before_failing(cluster, applier), warnings):
        cluster = Cluster(p)
        applier = Applier(cluster, module.check_mode, p["force_conflicts"])
        if p["state"] == "present":
            result = apply_release(module, cluster, applier, warnings)
        else:
            result = remove_release(module, cluster, applier, warnings)
    result.update(
        changed=applier.changed,
        objects={r["key"]: r for r in applier.results},
        actions={r["key"]: r["action"] for r in applier.results},
        retries=cluster.retries,
    )
    if module._diff:
        result["diff"] = applier.diffs
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


ARGUMENT_SPEC = argument_spec()


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
