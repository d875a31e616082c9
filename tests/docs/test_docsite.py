"""The collection's docs site, built with antsibull-docs and Sphinx, read in a real headless Chromium.

The site is built from this checkout (tools/docsite/build.py, as `make docs` does) into .cache/docs. Chromium
(Debian's package; `make docs-check` installs it when missing) opens the pages from disk; the assertions are on what
the browser shows: visible option names, and every link of every page reachable from the index.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
import yaml

from tests.docs.chromium import Chromium, find_chromium

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "docsite"))
import build as docsite  # noqa: E402  # tools/docsite/build.py

from ansible_collections.inference.triton.plugins.module_utils._spec import argument_spec  # noqa: E402

OUT = REPO / ".cache" / "docs"
SCREENSHOT = OUT / "screenshots" / "triton_server_module.png"
ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))

# The options a page shows: each option's anchor (parameter-<path>, or parameter-<entry point>--<path> on a role
# page), with the text of its title, when the title is rendered with a size (display: none or a hidden parent give
# it none).
SHOWN_OPTIONS = """
Array.from(document.querySelectorAll('div.ansibleOptionAnchor[id^="parameter-"]')).map(anchor => {
  const title = anchor.parentElement.querySelector('.ansible-option-title');
  const box = title ? title.getBoundingClientRect() : {width: 0, height: 0};
  return [anchor.id.slice('parameter-'.length), title ? title.innerText.trim() : '', box.width > 0 && box.height > 0];
})
"""
LINKS = "Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
IDS = "Array.from(document.querySelectorAll('[id]')).map(e => e.id)"


def spec_paths(spec: dict, prefix: str = "") -> set[str]:
    """Option paths of an argument spec: top-level names and, for suboptions, parent/child."""
    paths = set()
    for name, option in spec.items():
        paths.add(prefix + name)
        if option.get("options"):
            paths |= spec_paths(option["options"], f"{prefix}{name}/")
    return paths


def spec_aliases(spec: dict, prefix: str = "") -> set[str]:
    """Paths of the aliases (antsibull-docs gives each alias an anchor of its own, next to the option's)."""
    aliases = set()
    for name, option in spec.items():
        aliases |= {prefix + alias for alias in option.get("aliases", [])}
        if option.get("options"):
            aliases |= spec_aliases(option["options"], f"{prefix}{name}/")
    return aliases


@pytest.fixture(scope="module")
def site() -> Path:
    return docsite.build(OUT).parent


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    assert binary, "chromium is not installed: `make docs-check` installs Debian's chromium package"
    chromium = Chromium(binary)
    yield chromium
    chromium.close()


def shown_options(browser: Chromium, page: Path) -> dict[str, tuple[str, bool]]:
    browser.open(page.as_uri())
    return {path: (title, visible) for path, title, visible in browser.evaluate(SHOWN_OPTIONS)}


def test_module_page_shows_every_option_of_the_argument_spec(site, browser):
    page = site / "triton_server_module.html"
    shown = shown_options(browser, page)
    expected = spec_paths(argument_spec())
    assert len(expected) > 50, expected  # the spec really was read
    missing = sorted(expected - set(shown))
    assert not missing, f"options of argument_spec() without an entry on {page.name}: {missing}"
    hidden = sorted(p for p in expected if not shown[p][1] or shown[p][0] != p.rsplit("/", 1)[-1])
    assert not hidden, f"options whose name the browser does not show on {page.name}: {hidden}"
    extra = sorted(set(shown) - expected - spec_aliases(argument_spec()))
    assert not extra, f"options documented on {page.name} that argument_spec() does not have: {extra}"

    browser.screenshot(SCREENSHOT)
    header = SCREENSHOT.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", header
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (1280, 1000), (width, height)


@pytest.mark.parametrize("role", ROLES)
def test_role_page_lists_every_variable_of_its_argument_specs(site, browser, role):
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    shown = shown_options(browser, site / f"{role}_role.html")
    for entry_point, spec in specs.items():
        expected = {f"{entry_point}--{path}" for path in spec_paths(spec.get("options", {}))}
        assert expected, f"{role}:{entry_point} has no variables"
        missing = sorted(expected - set(shown))
        assert not missing, f"{role}_role.html lacks variables of entry point {entry_point}: {missing}"
        hidden = sorted(p for p in expected if not shown[p][1] or shown[p][0] != p.rsplit("--", 1)[-1].split("/")[-1])
        assert not hidden, f"{role}_role.html does not show: {hidden}"


def test_no_internal_link_is_broken(site, browser):
    """Crawl every page reachable from the index; every link into the site names a page and an id that exist."""
    root = site.resolve()
    start = (root / "index.html").as_uri()
    pages: dict[str, set[str]] = {}  # page URL -> ids on it
    links: dict[str, set[str]] = {}  # target URL (with fragment) -> pages linking to it
    queue = [start]
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        browser.open(url)
        pages[url] = set(browser.evaluate(IDS))
        for href in browser.evaluate(LINKS):
            if not href.startswith("file://"):
                continue  # external addresses are not crawled (the build machine is offline)
            links.setdefault(href, set()).add(url)
            target, _fragment = urldefrag(href)
            path = Path(unquote(urlparse(target).path))
            assert path.is_relative_to(root), f"{url} links out of the site: {href}"
            if path.suffix == ".html" and path.is_file() and target not in pages:
                queue.append(target)

    broken = []
    for href, sources in sorted(links.items()):
        target, fragment = urldefrag(href)
        if not Path(unquote(urlparse(target).path)).is_file():
            broken.append(f"{href} (no such file) from {sorted(sources)[:3]}")
        elif fragment and target in pages and unquote(fragment) not in pages[target]:
            broken.append(f"{href} (no such id) from {sorted(sources)[:3]}")
    assert not broken, "\n".join(broken)

    reached = {Path(unquote(urlparse(u).path)).relative_to(root).as_posix() for u in pages}
    expected = {f"{role}_role.html" for role in ROLES} | {
        "triton_server_module.html",
        "changelog.html",
        *(f"docsite/{ref}.html" for ref in docsite.guides(REPO)),
    }
    assert not expected - reached, f"pages not reachable from the index: {sorted(expected - reached)}"
