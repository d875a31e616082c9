"""Quantities as the API server reads them, and byte counts written back in the largest exact binary unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ansible_collections.inference.triton.plugins.module_utils._quantity import (
    format_bytes,
    format_cores,
    is_quantity,
    parse,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("2e3", Decimal(2000)),
        (".5", Decimal("0.5")),
    ],
)
def test_parse(text, value):
    assert parse(text) == value


@pytest.mark.parametrize("text", ["", "1 Gi", "1GB", "Gi", "1.2.3", "lots", True, None, "1ki"])
def test_not_quantities(text):
    assert not is_quantity(text)
    with pytest.raises(ValueError):
        parse(text)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal(3 * 2**30), "3Gi"),
        (Decimal(1280 * 2**20), "1280Mi"),
        (Decimal(2**40), "1Ti"),
        (Decimal(1000), "1000"),
        (Decimal("1000.2"), "1001"),
    ],
)
def test_format_bytes(amount, text):
    assert format_bytes(amount) == text


@pytest.mark.parametrize(("amount", "text"), [(Decimal(4), "4"), (Decimal("1.5"), "1500m"), (Decimal("0.0001"), "1m")])
def test_format_cores(amount, text):
    assert format_cores(amount) == text
