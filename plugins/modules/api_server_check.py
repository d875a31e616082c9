#!/usr/bin/python
# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: api_server_check
short_description: Refuse to go on unless the connection options reach the expected API server
version_added: 1.0.0
author:
  - Inference Triton maintainers (@inference-triton)
description:
  - Resolves the connection options as every module of the collection does (the options, then the
    E(K8S_AUTH_*) environment variables, then the kubeconfig), and fails, saying why, unless the API server they
    reach is the expected one.
  - The server's certificate authority is the identity. The connection options must trust exactly the
    certificates of O(ca_file), with certificate checks on, and the server must prove in a TLS handshake that it holds
    a certificate of that CA for its address. A kubeconfig for another cluster, another server on the same machine,
    the same server trusted through another CA, or C(insecure-skip-tls-verify) all fail.
  - With O(loopback_only), the server address must also be a loopback address (C(127.0.0.0/8), C(::1),
    C(localhost)).
  - The playbooks run it before anything is written when an inventory sets C(k8s_auth_expect);
    C(inventories/local) and C(inventories/simulated) set it to the local cluster's CA, so they never deploy to
    another cluster.
  - Sends no API request, so it needs no permission.
extends_documentation_fragment:
  - inference.triton.k8s_auth
  - inference.triton.attributes.read_only
options:
  ca_file:
    description: Path to the PEM file of the CA that issued the expected API server's certificate.
    type: path
    required: true
  loopback_only:
    description: The API server must also be on a loopback address.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse any API server but the local cluster's
  inference.triton.api_server_check:
    kubeconfig: .localcluster/kubeconfig
    ca_file: .localcluster/pki/ca.crt
    loopback_only: true

- name: Pin a production cluster to its CA
  inference.triton.api_server_check:
    kubeconfig: ~/.kube/gpu-east.yaml
    context: gpu-east-admin
    ca_file: ~/.kube/gpu-east-ca.crt
"""

RETURN = r"""
host:
  description: The API server URL that was checked.
  returned: success
  type: str
  sample: https://127.0.0.1:41235
ca_file:
  description: The CA file the server was checked against.
  returned: success
  type: str
loopback:
  description: Whether the server is on a loopback address.
  returned: success
  type: bool
"""

from ansible_collections.inference.triton.plugins.module_utils._client import ClusterError, configuration
from ansible_collections.inference.triton.plugins.module_utils._module import k8s_module

ARGUMENT_SPEC = {"ca_file": {"type": "path", "required": True}, "loopback_only": {"type": "bool", "default": False}}


def run(module) -> None:
    from ansible_collections.inference.triton.plugins.module_utils._identity import (
        IdentityError,
        check_server,
        describe_source,
    )

    p = module.params
    source = describe_source(p)  # AnsibleModule applied the K8S_AUTH_* fallbacks
    try:
        checked = check_server(configuration(p), p["ca_file"], p["loopback_only"])
    except (IdentityError, ClusterError) as exc:
        module.fail_json(msg=f"not the expected API server ({source}): {exc}; expected CA {p['ca_file']}")
    module.exit_json(changed=False, **checked)


def main() -> None:
    run(k8s_module(ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
