"""The option table: what the code derives from it, and that each entry agrees with itself."""

from __future__ import annotations

import re

import pytest

from ansible_collections.inference.triton.plugins.module_utils import _options, _spec, _values
from ansible_collections.inference.triton.plugins.module_utils._options import OPTIONS

NAMES = [option.name for option in OPTIONS]
_DEFAULT_IN_DOC = re.compile(r"Default V\(([^)]*)\)")


def _doc_value(value):
    """A default as the documentation writes it in V(...)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_one_entry_per_option_and_per_chart_key():
    assert len(NAMES) == len(set(NAMES))
    keys = [option.chart.key for option in OPTIONS if option.chart]
    assert len(keys) == len(set(keys))


def test_the_argument_spec_has_every_option_and_no_default():
    assert list(_spec.TRITON_OPTIONS) == NAMES
    assert not [name for name, entry in _spec.TRITON_OPTIONS.items() if "default" in entry]
    assert _spec.TRITON_OPTIONS["image_pull_policy"] == {"type": "str", "choices": ["Always", "IfNotPresent", "Never"]}
    assert _spec.TRITON_OPTIONS["image_pull_secrets"] == {"type": "list", "elements": "str", "no_log": False}
    assert not set(_spec.TRITON_OPTIONS) & set(_spec.RELEASE_OPTIONS)


def test_defaults_and_chart_keys_come_from_the_table():
    assert list(_values.DEFAULTS) == NAMES
    assert _values.DEFAULTS["image_tag"] == "26.07-py3"
    assert _values.CHART_KEYS["image.numGpus"] == "num_gpus"
    assert _values.CHART_KEYS == {option.chart.key: option.name for option in OPTIONS if option.chart}


def test_defaults_are_fresh_copies():
    first = _options.defaults()
    first["node_selector"]["team"] = "vision"
    first["server_args"].append("--log-verbose=1")
    assert _options.defaults()["node_selector"] == {} and _options.defaults()["server_args"] == []


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.choices], ids=lambda o: o.name)
def test_a_default_is_one_of_the_choices(option):
    assert option.default in option.choices


@pytest.mark.parametrize(
    "option", [o for o in OPTIONS if _DEFAULT_IN_DOC.search(" ".join(o.doc))], ids=lambda o: o.name
)
def test_the_default_the_description_names_is_the_table_default(option):
    """Descriptions say "Default V(x)."; x must be the table's default, or the computed one for computed defaults."""
    named = _DEFAULT_IN_DOC.search(" ".join(option.doc)).group(1)
    if option.computed:
        assert named in option.computed, (
            f"{option.name}: the description's default {named} is not in {option.computed!r}"
        )
    else:
        assert named == _doc_value(option.default), f"{option.name}: description says {named}, table {option.default!r}"


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_the_default_has_the_option_type(option):
    kinds = {"str": str, "int": int, "bool": bool, "dict": dict, "list": list}
    if option.default is not None and option.type in kinds:
        assert isinstance(option.default, kinds[option.type])
    if option.elements:
        assert option.type == "list"
