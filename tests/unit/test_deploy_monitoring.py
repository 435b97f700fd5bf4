"""The Prometheus alert rules and the Grafana dashboard in deploy/ name only metrics (and labels) wirewatch
exports (services.common.metrics): a renamed metric must not leave an alert that can never fire."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from services.common import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "wirewatch.json"
# A metric name, then optionally its label matchers: wirewatch_x_total{stage="store", outcome=~"a|b"}.
SELECTOR = re.compile(r"\b(wirewatch_[a-z0-9_]+)\b(?:\{([^}]*)\})?")
LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
# PromQL grouping clauses name labels too: sum by (group) (...), ... without (le)
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def exported() -> dict[str, set[str]]:
    """Every series name wirewatch exports, with the labels it carries."""
    names: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        for family in metric.describe():
            if family.type == "counter":
                names[f"{family.name}_total"] = labels
            elif family.type == "histogram":
                names.update({f"{family.name}_bucket": labels | {"le"}, f"{family.name}_sum": labels,
                              f"{family.name}_count": labels})
            else:
                names[family.name] = labels
    return names


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]


def check(expr: str) -> list[str]:
    """What `expr` names that wirewatch does not export."""
    known = exported()
    problems = []
    found = SELECTOR.findall(expr)
    if not found:
        problems.append(f"names no wirewatch metric: {expr}")
    used_labels: set[str] = set()
    for name, matchers in found:
        if name not in known:
            problems.append(f"unknown metric {name}")
            continue
        for label in LABEL.findall(matchers):
            if label not in known[name]:
                problems.append(f"{name} has no label {label!r}")
        used_labels |= known[name]
    for clause in GROUPING.findall(expr):
        for label in (part.strip() for part in clause.split(",") if part.strip()):
            if label not in used_labels:
                problems.append(f"grouping by {label!r}, which none of its metrics has")
    return problems


def test_the_checker_catches_a_renamed_metric_and_a_wrong_label() -> None:
    assert check('sum by (stage) (rate(wirewatch_stage_latency_seconds_count{stage="stored"}[5m]))') == []
    assert check("rate(wirewatch_polls_total[5m])") == ["unknown metric wirewatch_polls_total"]
    assert check('wirewatch_consumer_lag{stage="x"}') == ["wirewatch_consumer_lag has no label 'stage'"]
    assert check("max by (stage) (wirewatch_consumer_lag)") == ["grouping by 'stage', which none of its metrics has"]


def test_alert_rules_name_exported_metrics_and_say_what_to_do() -> None:
    rules = alert_rules()
    assert len(rules) >= 8
    for rule in rules:
        assert rule["alert"].startswith("Wirewatch")
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert check(rule["expr"]) == [], rule["alert"]


@pytest.mark.parametrize("metric", ["wirewatch_feed_poll_failures_total", "wirewatch_consumer_lag",
                                    "wirewatch_stage_latency_seconds_bucket", "wirewatch_webhook_deliveries_total",
                                    "wirewatch_dead_letters_total", "wirewatch_articles_stored_total"])
def test_an_alert_watches_each_kind_of_trouble(metric: str) -> None:
    assert any(metric in rule["expr"] for rule in alert_rules())


def test_the_dashboard_charts_exported_metrics_only() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    for expr in exprs:
        assert check(expr) == [], expr
    charted = " ".join(exprs)
    # Every metric wirewatch exports has a chart.
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in exported()}
    assert {f for f in families if f not in charted} == set()
