# Copyright: (c) 2026, inference.triton maintainers
# SPDX-License-Identifier: Apache-2.0
"""Kubernetes resource quantities ("1Gi", "500m", "2e3") as exact numbers, and back. Pure functions."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_PATTERN = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_BINARY = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")


def parse(value: Any) -> Decimal:
    """The quantity's value in base units (bytes, cores). Raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _PATTERN.match(str(value).strip())
    if not match:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"not a quantity: {value!r}") from exc


def is_quantity(value: Any) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def format_bytes(amount: Decimal) -> str:
    """A byte count in the largest binary unit that holds it exactly ("3Gi", "1280Mi"), else in bytes."""
    whole = int(amount)
    if whole != amount:
        whole += 1  # a fraction of a byte rounds up, as the API server does
    for suffix in _BINARY:
        unit = int(_SUFFIX[suffix])
        if whole and whole % unit == 0:
            return f"{whole // unit}{suffix}"
    return str(whole)


def format_cores(amount: Decimal) -> str:
    """A CPU amount as whole cores ("2") or millicores ("1500m")."""
    if amount == int(amount):
        return str(int(amount))
    return f"{int((amount * 1000).to_integral_value(rounding='ROUND_CEILING'))}m"
