"""docs/prometheus-alerts.yaml: a rule file Prometheus can load, covering what issue 17 asks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

RULES_FILE = Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yaml"
DURATION = re.compile(r"^\d+[smhdw]$")


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES_FILE.read_text())
    assert set(document) == {"groups"}
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_groups_have_unique_names_and_rules():
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names))
    assert all(group["rules"] for group in groups)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule.get("alert", "?"))
def test_each_rule_is_a_complete_alert(rule):
    assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
    assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
    assert isinstance(rule["expr"], str) and rule["expr"].strip()
    assert rule["expr"].count("(") == rule["expr"].count(")")
    assert DURATION.match(rule["for"])
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alert_names_are_unique():
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "metric",
    [
        "etcd_server_has_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_failed_total",
        "etcd_disk_wal_fsync_duration_seconds_bucket",
        "etcd_disk_backend_commit_duration_seconds_bucket",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_server_quota_backend_bytes",
        "etcd_deploy_certificate_expiry_timestamp_seconds",
        "etcd_deploy_backup_last_success_timestamp_seconds",
    ],
)
def test_every_asked_for_condition_has_a_rule(metric):
    assert any(metric in rule["expr"] for rule in rules())


def test_latencies_are_p99_over_histogram_buckets():
    for rule in rules():
        if "_duration_seconds_bucket" in rule["expr"]:
            assert "histogram_quantile(0.99," in rule["expr"] and "le)" in rule["expr"]
