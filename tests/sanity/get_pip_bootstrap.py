"""Stand-in for pip's get-pip.py, used by ``ansible-test sanity`` to put pip into the venvs it creates.

ansible-test downloads get-pip.py from a host outside the package registries, which this project's machines
cannot reach. ``make sanity`` copies this file to the cache path ansible-test looks at first
(``~/.ansible/test/cache/get_pip_<version>.py``). It does what get-pip.py does: bootstrap pip with the
interpreter's own ensurepip, then ``pip install`` the arguments it was given (the pinned pip version and
options chosen by ansible-test), from the package index.

ansible-test runs pip with a stripped environment (HOME and PATH only), so a CA bundle given by environment
variables (PIP_CERT, SSL_CERT_FILE) would be lost; the system's default CA file is written into the venv's own
pip.conf so that every later pip run in that venv verifies TLS the same way.
"""

import os
import ssl
import subprocess
import sys

# get-pip.py's own options, which pip install does not know.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}

# The system bundle (where a site's own CA is added), else what this OpenSSL would use by default.
CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    ssl.get_default_verify_paths().cafile,
)
cafile = next((path for path in CANDIDATES if path and os.path.exists(path)), None)
site_config = os.path.join(sys.prefix, "pip.conf")
if cafile and not os.path.exists(site_config):
    with open(site_config, "w", encoding="utf-8") as handle:
        handle.write(f"[global]\ncert = {cafile}\n")

# In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which would make the
# pip install below ignore every pip.conf (and with it the CA bundle).
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *(a for a in sys.argv[1:] if a not in OWN_OPTIONS)]))
