# ---- inference.triton: appended to the conf.py that `antsibull-docs sphinx-init` wrote (tools/docsite/build.py) ----
# ruff: noqa: F821  (extensions is defined by the generated part above)

# The build runs offline: the inventories of the Python, Jinja2 and Ansible docs cannot be fetched. References into
# the Ansible docs are resolved by _ansible_docs_reference below instead.
intersphinx_mapping = {}

# The guides are the collection's own Markdown files (README.md, docs/*.md, roles/*/README.md), rendered by MyST.
extensions.append("myst_parser")
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]
# The Markdown headings start at level 1 in every file; a level jump inside a guide is not a broken page.
suppress_warnings = ["myst.header"]

# The theme's Ansible logo links to "/", the root of the official docs site's host; here it leads to the Ansible docs.
html_theme_options = {**globals().get("html_theme_options", {}), "documentation_home_url": "https://docs.ansible.com/"}

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# Labels of the Ansible docs that ansible-doc markup of this collection points at (the module and role pages).
ANSIBLE_DOCS_LABELS = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "action_plugins": "plugins/action.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
}


def _ansible_docs_reference(app, env, node, contnode):
    """Resolve a :ref: into the Ansible docs (ansible.builtin plugins, core pages) to its address there."""
    from docutils import nodes

    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    target = node.get("reftarget", "")
    path = ANSIBLE_DOCS_LABELS.get(target)
    prefix = "ansible_collections.ansible.builtin."
    if path is None and target.startswith(prefix):
        name, _, kind = target[len(prefix) :].rpartition("_")
        if name and kind in ("module", "lookup", "filter", "test", "become", "connection", "callback", "inventory"):
            path = f"collections/ansible/builtin/{name}_{kind}.html"
    if path is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=ANSIBLE_DOCS + path)
    reference.append(contnode)
    return reference


def setup(app):
    app.connect("missing-reference", _ansible_docs_reference)
