"""The Grafana dashboard queries only metrics the engine declares (telemetry/metrics.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from telemetry import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "runbox.json"
# The sample names each metric type exposes, from the family name.
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
}


def declared() -> dict[str, set[str]]:
    """Every sample name of our metrics, with the label names it has."""
    found: dict[str, set[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            for suffix in SUFFIXES.get(family.type, ()):
                found[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return found


def queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_every_metric_the_dashboard_queries_is_declared() -> None:
    names = declared()
    used = {name for expr in queries() for name in re.findall(r"\brunbox_\w+", expr)}
    assert used, "the dashboard queries no runbox metric"
    assert sorted(used - set(names)) == []


def test_every_label_the_dashboard_groups_or_filters_by_exists() -> None:
    names = declared()
    for expr in queries():
        metric_names = re.findall(r"\brunbox_\w+", expr)
        labels = set().union(*(names.get(n, set()) for n in metric_names))
        used = {
            label.strip()
            for group in re.findall(r"by \(([^)]*)\)", expr)
            for label in group.split(",")
        } | set(re.findall(r"(\w+)!?=~?\"", expr))
        assert used <= labels, (expr, used - labels)


def test_every_declared_metric_is_on_the_dashboard() -> None:
    """A metric nobody looks at is a metric nobody notices breaking."""
    used = {name for expr in queries() for name in re.findall(r"\brunbox_\w+", expr)}
    families = {n.removesuffix("_bucket") for n in used} | {n.removesuffix("_total") for n in used}
    missing = [
        name
        for name in declared()
        if name.removesuffix("_total").removesuffix("_bucket") not in families
        and not name.endswith(("_count", "_sum"))
    ]
    assert missing == []
