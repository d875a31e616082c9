# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Helm ``values.yaml`` of the ``triton-backend`` chart -> module options, and the merge order.

Precedence, lowest to highest: the collection's defaults, then ``values_files`` in order, then ``values``,
then the module's own snake_case options. This is Helm's order (``-f`` files, then ``--set``), with the native
options playing the part of ``--set``, and Helm's merge: free-form mappings merge key by key, lists replace, and a
``null`` deletes the key. Helm deletes it from the chart's defaults too, and the template renders without it; the
module cannot render an option without a value, so a deleted key takes the collection's default.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ._options import OPTIONS, chart_keys, defaults

# The collection's defaults for every option that a chart value or a native option can set, and the chart value
# path -> option name for every key of the chart's values table: both from the option table (_options.py).
DEFAULTS: dict[str, Any] = defaults()
CHART_KEYS: dict[str, str] = chart_keys()
_TYPES = {option.chart.key: option.type for option in OPTIONS if option.chart}
# Values whose content is a free-form object (mappings and lists): their sub-keys are not checked.
_OPAQUE = {key for key, kind in _TYPES.items() if kind in ("dict", "list")}
# Values that must be true or false: the chart's templates test them, and YAML's "yes" is no boolean in Helm.
_BOOLEANS = {key for key, kind in _TYPES.items() if kind == "bool"}
_GROUPS = {key.split(".", 1)[0] for key in CHART_KEYS if "." in key}
_CHART_ARCH = {"amd": "amd64", "amd64": "amd64", "arm": "arm64", "arm64": "arm64"}

# The suffixes the chart's _helpers.tpl appends to image.tag and tritonEnv.tag, per architecture.
IMAGE_TAG_SUFFIX = {"amd64": "-py3", "arm64": "-py3-cpu-arm64"}
ENV_TAG_SUFFIX = {"amd64": "-cpu", "arm64": "-m1"}
# NVIDIA's Triton image. Its release tags (<release>-py3) serve amd64 and arm64 alike; it has no -cpu-arm64 tags.
NVIDIA_IMAGE = ("nvcr.io/nvidia", "tritonserver")
_RELEASE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_PY3_PART = re.compile(r"(^|-)py3(-|$)")
_PULL_SECRETS_EXAMPLE = "imagePullSecrets: [{name: regcred}]"


class ValuesError(ValueError):
    """A Helm values document that cannot be taken as it is; the message names the key."""


def flatten_values(values: dict[str, Any], source: str, keep_null: bool = False) -> dict[str, Any]:
    """Flatten a chart-shaped values document to ``{"image.tag": ...}``, refusing unknown keys.

    A ``null`` key is left out, or with ``keep_null`` kept as ``None`` (a ``null`` group, such as ``image: null``,
    as ``None`` for each of its keys), which is how a later document deletes what an earlier one set.
    """
    if not isinstance(values, dict):
        raise ValuesError(f"{source}: a values document must be a mapping, got {type(values).__name__}")
    flat: dict[str, Any] = {}
    for key, value in values.items():
        key = str(key)
        if key in _GROUPS:
            if value is None:
                if keep_null:
                    flat.update({path: None for path in CHART_KEYS if path.startswith(key + ".")})
                continue
            if not isinstance(value, dict):
                raise ValuesError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
            for sub, sub_value in value.items():
                path = f"{key}.{sub}"
                if path not in CHART_KEYS:
                    raise ValuesError(f"{source}: unknown key '{path}'{_suggest(path)}")
                if sub_value is not None or keep_null:
                    flat[path] = sub_value
        elif key in CHART_KEYS:
            if value is not None or keep_null:
                flat[key] = value
        else:
            raise ValuesError(f"{source}: unknown key '{key}'{_suggest(key)}")
    return flat


def _suggest(path: str) -> str:
    close = difflib.get_close_matches(path, list(CHART_KEYS) + sorted(_GROUPS), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return "; the chart's keys are listed in docs/values.md"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _helm_merge(base: Any, override: Any) -> Any:
    """Helm's merge of one value over another: mappings merge key by key, ``null`` deletes, the rest replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _helm_merge(merged[key], value)
            else:
                merged[key] = _without_nulls(value)
        return merged
    return _without_nulls(override)


def merge_values(values_documents: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge values documents as Helm merges ``-f`` files: later documents win key by key.

    A ``null`` deletes the key (and a ``null`` group all its keys) that an earlier document set; free-form
    mappings (``nodeSelector``, ``affinity``, ``podAnnotations``) merge key by key, lists replace. Returns the
    merged flat values and, per key, the document(s) it came from.
    """
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, document in values_documents:
        for path, value in flatten_values(document, source, keep_null=True).items():
            if value is None:
                merged.pop(path, None)
                sources.pop(path, None)
            elif path in _OPAQUE and isinstance(value, dict) and isinstance(merged.get(path), dict):
                merged[path] = _helm_merge(merged[path], value)
                sources[path] = f"{sources[path]}, {source}"
            else:
                merged[path] = _without_nulls(value) if path in _OPAQUE else value
                sources[path] = source
    return merged, sources


def chart_arch(value: Any, source: str) -> str:
    arch = _CHART_ARCH.get(str(value))
    if arch is None:
        raise ValuesError(f"{source}: 'arch' must be one of amd, amd64, arm, arm64, got {value!r}")
    return arch


def _tag_text(value: Any, key: str, source: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValuesError(f"{source}: '{key}' must be a string, got {value!r}")
    # YAML reads `tag: 22.05` as a float; Helm prints it with %v, which is what we reproduce.
    if isinstance(value, float):
        return repr(value)
    return str(value)


def chart_image_tag(value: Any, arch: str, source: str) -> tuple[str, str | None]:
    """``image.tag`` as the chart's ``_helpers.tpl`` would make it, with the cases where that would be wrong.

    - a release number (``24.05``): the chart's suffix is appended, ``-py3`` (``-py3-cpu-arm64`` on arm64);
    - a tag that already has ``py3`` as one of its dash-separated parts (``24.05-py3``, ``24.05-py3-igpu``,
      ``22.05-py3-cpu-arm64``): kept as given, with a warning, where the chart would append the suffix again;
    - anything else (``latest``, a digest): refused, since the chart's result (``latest-py3``) is not an image
      NVIDIA publishes and the module cannot tell what was meant.

    Returns the tag and the warning, if any.
    """
    text = _tag_text(value, "image.tag", source)
    suffix = IMAGE_TAG_SUFFIX[arch]
    chart = text + suffix
    if "@" in text or text.startswith("sha256:"):
        raise ValuesError(
            f"{source}: 'image.tag' {text!r} is a digest; the module names images by tag "
            "(<registry>/<repository>:<tag>), so give the tag"
        )
    if _RELEASE.match(text):
        note = None
        if isinstance(value, float) and len(text.split(".")[1]) == 1:
            note = (
                f"{source}: 'image.tag' is the number {text} (YAML reads an unquoted {text}0 as {text}), so the tag "
                f"is {chart!r}; quote the tag ('{text}0') if you meant that release"
            )
        return chart, note
    if _PY3_PART.search(text):
        return text, (
            f"{source}: 'image.tag' {text!r} is kept as given, the final tag is {text!r}: it already names a -py3 "
            f"image, where the chart would have appended {suffix} ({chart!r}). Write the release alone "
            "(for example 24.05) for a values file that means the same to the chart, or set the option image_tag"
        )
    raise ValuesError(
        f"{source}: 'image.tag' {text!r} is neither a release number (such as 24.05, to which the chart appends "
        f"{suffix}) nor a complete tag with its -py3 part (such as 24.05-py3 or 24.05-py3-igpu, kept as given); "
        f"the chart would have rendered {chart!r}. Write the complete tag, or set the option image_tag, which is "
        "always used as given"
    )


def chart_env_tag(value: Any, arch: str, source: str) -> tuple[str, str | None]:
    """``tritonEnv.tag`` with the chart's ``-cpu`` (``-m1`` on arm64), unless it already ends in one of them."""
    text = _tag_text(value, "tritonEnv.tag", source)
    suffix = ENV_TAG_SUFFIX[arch]
    if text.endswith(tuple(ENV_TAG_SUFFIX.values())):
        return text, (
            f"{source}: 'tritonEnv.tag' {text!r} is kept as given, the final tag is {text!r}: it already ends in "
            f"one of the chart's suffixes, where the chart would have appended {suffix} ({text + suffix!r})"
        )
    return text + suffix, None


def values_to_options(
    flat: dict[str, Any], arch: str, sources: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Map merged chart values to options, reproducing the chart's image tag helpers (see chart_image_tag).

    ``arch`` is the final architecture (a native ``arch`` option wins over the chart's). Any ``tritonEnv`` key
    turns the conda-pack init container on, since the chart always renders it. Returns the options, where each
    came from, and warnings per option.
    """
    options: dict[str, Any] = {}
    origin: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    for path, value in flat.items():
        option, source = CHART_KEYS[path], sources[path]
        note = None
        if path == "arch":
            value = chart_arch(value, source)
        elif path == "image.tag":
            value, note = chart_image_tag(value, arch, source)
        elif path == "tritonEnv.tag":
            value, note = chart_env_tag(value, arch, source)
        elif path == "imagePullSecrets":
            value = _pull_secret_names(value, source)
        elif path in _BOOLEANS and not isinstance(value, bool):
            raise ValuesError(f"{source}: '{path}' must be true or false, got {value!r}")
        options[option] = value
        origin[option] = source
        if note:
            notes.setdefault(option, []).append(note)
    env_keys = [path for path in flat if path.startswith("tritonEnv.")]
    if env_keys:
        options["conda_pack_source"] = "image"
        origin["conda_pack_source"] = sources[env_keys[-1]]
    if flat.get("mode.useCpu") is True:
        # The chart ignores image.numGpus in CPU mode; so do we.
        options.pop("num_gpus", None)
        origin.pop("num_gpus", None)
    return options, origin, notes


def arm64_tag_warning(given: str, source: str, options: dict[str, Any], chart_arch_value: Any) -> str | None:
    """What the chart's arm64 suffix made of a release number, or None when it added none."""
    tag = options["image_tag"]
    if options["arch"] != "arm64" or not tag.endswith(IMAGE_TAG_SUFFIX["arm64"]) or str(given) == tag:
        return None
    image = f"{options['image_registry']}/{options['image_repository']}:{tag}"
    text = (
        f"{source}: 'image.tag' {given!r} becomes {tag!r} with arch arm64 (the chart's arm64 suffix), so the image "
        f"is {image}. "
        "-py3-cpu-arm64 is the name Instill AI gave its CPU-only arm64 builds "
        "(registry.hub.docker.com/instill/tritonserver); NVIDIA publishes no such tag, its <release>-py3 images "
        "run on arm64 nodes. Check that the image exists, or write the complete tag in image.tag (kept as given)"
    )
    if str(chart_arch_value) == "arm":
        text += (
            f". The chart itself appends -py3-cpu-arm64 only for arch: arm64; with arch: arm it rendered {given}-py3"
        )
    return text


def _pull_secret_names(value: Any, source: str) -> list[str]:
    """The chart renders ``imagePullSecrets`` into the pod spec as it is: a list of ``{name: <secret>}``."""
    if not isinstance(value, list):
        raise ValuesError(
            f"{source}: 'imagePullSecrets' must be a list of {{name: <secret>}} mappings, as in the pod spec "
            f"({_PULL_SECRETS_EXAMPLE}), got {type(value).__name__}"
        )
    names = []
    for item in value:
        if isinstance(item, str):
            raise ValuesError(
                f"{source}: 'imagePullSecrets' items must be {{name: <secret>}} mappings, as in the pod spec "
                f"({_PULL_SECRETS_EXAMPLE}), got the string {item!r}: write '- name: {item}' (the chart copies the "
                "list into the pod spec, where a plain name is invalid; the option image_pull_secrets takes names)"
            )
        if not isinstance(item, dict) or set(item) != {"name"} or not isinstance(item["name"], str) or not item["name"]:
            raise ValuesError(
                f"{source}: 'imagePullSecrets' items must be {{name: <secret>}} mappings with only a name, as in the "
                f"pod spec ({_PULL_SECRETS_EXAMPLE}), got {item!r}"
            )
        names.append(item["name"])
    return names


def merge_options(
    native: dict[str, Any],
    values_documents: list[tuple[str, dict[str, Any]]],
    warnings: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge defaults, values documents (in order, as Helm merges them) and native options.

    ``native`` holds only the options the user set (``None`` means unset). A key deleted with ``null`` in a later
    document falls back to the collection's default. Returns the merged options and, for each option, where its
    value came from (``default``, a values source, or ``option``); warnings about chart values that the module
    reads differently from the chart (see chart_image_tag) are appended to ``warnings``.
    """
    flat, sources = merge_values(values_documents)
    arch = DEFAULTS["arch"]
    if "arch" in flat:
        arch = chart_arch(flat["arch"], sources["arch"])
    if native.get("arch") is not None:
        arch = native["arch"]

    options, values_origin, notes = values_to_options(flat, arch, sources)
    merged = dict(DEFAULTS)
    origin = {key: "default" for key in DEFAULTS}
    merged.update(options)
    origin.update(values_origin)
    for option, value in native.items():
        if value is not None and option in DEFAULTS:
            merged[option] = value
            origin[option] = "option"
    merged["arch"] = arch
    if merged["models"] and origin["model_control_mode"] == "default":
        merged["model_control_mode"] = "explicit"  # a declared model set is loaded, and only it, at start
    if merged["pdb_min_available"] is None and merged["pdb_max_unavailable"] is None:
        merged["pdb_min_available"] = 1
    if warnings is not None:
        for option, texts in notes.items():
            if origin[option] != "option":  # a native option replaced the chart value: nothing to say about it
                warnings.extend(texts)
        # On NVIDIA's image the arm64 suffix cannot exist: validation refuses it, with its own message.
        nvidia = (merged["image_registry"], merged["image_repository"]) == NVIDIA_IMAGE
        if "image.tag" in flat and origin["image_tag"] != "option" and not nvidia:
            given = _tag_text(flat["image.tag"], "image.tag", sources["image.tag"])
            arm64 = arm64_tag_warning(given, sources["image.tag"], merged, flat.get("arch"))
            if arm64:
                warnings.append(arm64)
    return merged, origin
