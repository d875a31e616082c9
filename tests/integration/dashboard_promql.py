"""The PromQL of the Grafana dashboard, read with a PromQL parser (promql-parser): its queries and their selectors.

Shared by tests/unit/plugins/module_utils/test_dashboard.py (the file alone) and
tests/integration/test_grafana_dashboard.py (against the real Triton's /metrics).
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser

# Grafana's interval variables stand for a duration: any valid one parses the same.
_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$")


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(panel, PromQL expression) for every query of every panel, rows' nested panels included."""
    found = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found.extend((inner, target["expr"]) for target in inner.get("targets", []))
    return found


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(variable, selector, label) for every label_values(selector, label) query of the template variables."""
    found = []
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if not isinstance(query, dict):
            continue
        match = _LABEL_VALUES.match(query.get("query", ""))
        assert match, f"variable {variable['name']}: not a label_values() query: {query}"
        found.append((variable, match["selector"], match["label"]))
    return found


def parse(expression: str) -> Any:
    """The expression's syntax tree; ValueError names the syntax error."""
    return promql_parser.parse(_INTERVALS.sub("5m", expression))


def selectors(expression: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric name, {label: (operator, value)}) of every vector selector in the expression."""
    found = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: (str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers}
            found.append((node.name, matchers))
        return True

    promql_parser.walk(parse(expression), visit)
    return found


def metric_names(expression: str) -> set[str]:
    return {name for name, _matchers in selectors(expression)}


def grouping_labels(expression: str) -> list[tuple[set[str], set[str]]]:
    """(the metrics aggregated, the labels of its ``by (...)``) for every aggregation of the expression."""
    found = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.AggregateExpr) and str(getattr(node.modifier, "type", "")).endswith("By"):
            inner: set[str] = set()

            def collect(child: Any) -> bool:
                if isinstance(child, promql_parser.VectorSelector):
                    inner.add(child.name)
                return True

            promql_parser.walk(node.expr, collect)
            found.append((inner, set(node.modifier.labels)))
        return True

    promql_parser.walk(parse(expression), visit)
    return found
