"""The defaults table: every key read is in it, docs/settings.md is generated from it, and
the data mistakes it lets the preflight refuse (unknown, renamed and misplaced keys)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State

from etcd_cluster.defaults import DEFAULTS, PER_HOST, SETTINGS, TABLE
from etcd_cluster.errors import DeployInputError
from etcd_cluster.setting_checks import Firsts, HostView, check_data, misplaced, unknown_keys
from etcd_cluster.settings_doc import render
from tests.unit.conftest import REPO_ROOT

SOURCES = [
    *sorted((REPO_ROOT / "etcd_cluster").rglob("*.py")),
    *sorted((REPO_ROOT / "tasks").glob("*.py")),
    *(REPO_ROOT / name for name in ("deploy.py", "restore.py", "status.py", "inventory.py")),
]
KEY = r"(?:etcdctl|etcd|k8s|kubeadm|kubelet|kubernetes)_[a-z0-9_]+"
# Every way the code reads a setting: settings_from_data's get("..."), setting(host, "...").
READS = re.compile(rf"""(?:(?<![.\w])get\(|\bsetting\(\w+,)\s*["']({KEY})["']""")
LITERALS = re.compile(rf"""["']({KEY})["']""")


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_every_key_read_anywhere_is_in_the_table():
    read = {key for path in SOURCES for key in READS.findall(_text(path))}
    assert len(read) > 50  # the scan finds the reads
    assert sorted(read - set(SETTINGS)) == []


def test_no_data_is_read_around_the_table():
    """A direct ``host.data`` read would miss the table's default on another host."""
    bypass = re.compile(r"\.data\.get\(|\bdata\.(?!dict\b)[a-z]\w*\b(?!\()|host_data\[")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {line.strip()}"
        for path in SOURCES
        if path.name != "defaults.py"
        for line in _text(path).splitlines()
        if re.search(r"\b(?:host|h|first|hosts\[0\]|\w+_hosts\[0\])\.data\b", line)
        and bypass.search(line)
    ]
    assert offenders == []


def test_every_setting_in_the_table_is_used():
    used = {
        key
        for path in SOURCES
        if path.name != "defaults.py"
        for key in LITERALS.findall(_text(path))
    }
    assert sorted(set(SETTINGS) - used) == []


def test_docs_settings_md_is_generated_from_the_table():
    doc = (REPO_ROOT / "docs" / "settings.md").read_text()
    assert doc == render(), (
        "docs/settings.md is stale: python -m etcd_cluster.settings_doc docs/settings.md"
    )
    assert all(f"| `{s.name}` |" in doc for s in TABLE)


def test_the_table_is_well_formed():
    assert len(SETTINGS) == len(TABLE) and {s.name: s.default for s in TABLE} == DEFAULTS
    for s in TABLE:
        assert s.meaning and s.type and s.scope, s.name
        assert PER_HOST not in s.scope or s.scope == (PER_HOST,), s.name


# --- unknown and renamed keys ------------------------------------------------------------------


def test_a_misspelt_key_is_refused_naming_the_closest_and_the_hosts():
    (message,) = unknown_keys({"h0": ["etcd_backup_kep", "ssh_user"], "h1": ["etcd_backup_kep"]})
    assert "etcd_backup_kep (data of h0, h1)" in message
    assert "did you mean etcd_backup_keep?" in message and "docs/settings.md" in message


def test_an_unknown_key_without_a_close_one_still_points_at_the_doc():
    (message,) = unknown_keys({"h0": ["k8s_zzz_qqq"]})
    assert "k8s_zzz_qqq" in message and "did you mean" not in message
    assert "docs/settings.md" in message


def test_other_keys_and_known_keys_pass():
    assert unknown_keys({"h0": [*DEFAULTS, "ssh_user", "_sudo", "docker_identifier", "mine"]}) == []


def test_the_old_kubernetes_version_is_refused_naming_the_new_key():
    (message,) = unknown_keys({"h0": ["kubernetes_version"]})
    assert "kubernetes_version (data of h0) was renamed etcd_kubernetes_version" in message


# --- cluster-wide keys set on a later host ---------------------------------------------------


def test_a_cluster_wide_key_set_otherwise_on_a_later_host_is_refused():
    firsts: Firsts = {"etcd": ("h0", {"etcd_client_port": 2379, "etcd_runtime": "systemd"})}
    hosts: list[HostView] = [
        ("h0", ["etcd"], {"etcd_client_port": 2379}),
        ("h1", ["etcd"], {"etcd_client_port": 2479, "etcd_name": "x"}),
        ("h2", ["etcd"], {"etcd_runtime": "systemd"}),
    ]
    (message,) = misplaced(firsts, hosts)
    assert message.startswith("host h1: etcd_client_port=2479 is ignored")
    assert "read from the first etcd host h0 (2379)" in message
    assert "group_data/etcd.py" in message


def test_a_host_outside_the_groups_that_read_a_key_is_compared_with_their_first():
    firsts: Firsts = {
        "etcd": ("h0", {"etcd_runtime": "systemd"}),
        "lb": ("l0", {"k8s_lb_port": 6443}),
    }
    outside: list[HostView] = [("cp0", ["control_plane"], {"etcd_runtime": "static-pod"})]
    (message,) = misplaced(firsts, outside)
    assert message.startswith("host cp0: etcd_runtime='static-pod' is ignored")
    assert misplaced(firsts, [("cp0", ["control_plane"], {"etcd_runtime": "systemd"})]) == []
    # nothing reads a key of a group the inventory does not have
    assert misplaced(firsts, [("cp0", ["control_plane"], {"k8s_version": "1.30.0"})]) == []


def test_per_host_keys_and_the_first_hosts_own_values_pass():
    firsts: Firsts = {"lb": ("l0", {"k8s_lb_vip": "10.0.0.9"}), "control_plane": ("c0", {})}
    hosts: list[HostView] = [
        ("l0", ["lb"], {"k8s_lb_vip": "10.0.0.9"}),
        ("l1", ["lb"], {"k8s_lb_vrrp_interface": "eth1", "k8s_address": "10.0.0.2"}),
    ]
    assert misplaced(firsts, hosts) == []


def _state(etcd_hosts: list, etcd_data: dict | None = None, **groups: tuple) -> State:
    everyone = [*etcd_hosts, *(h for hosts, _ in groups.values() for h in hosts)]
    inventory = Inventory((everyone, {}), etcd=(etcd_hosts, etcd_data or {}), **groups)
    return State(inventory=inventory, config=Config())


def test_check_data_tells_host_data_from_group_data_through_pyinfra():
    """Group data (every member) may set cluster-wide keys; a later host's own data may not."""
    group = {"etcd_runtime": "systemd", "etcd_client_port": 2479}
    same = [("h0", {"etcd_client_port": 2479}), ("h1", {"etcd_name": "b"}), "h2"]
    check_data(_state(same, etcd_data=group))
    differs = [("h0", {}), ("h1", {"etcd_runtime": "static-pod"}), "h2"]
    with pytest.raises(DeployInputError, match=r"host h1: etcd_runtime='static-pod' is ignored"):
        check_data(_state(differs, etcd_data=group))
    overridden = _state(differs, etcd_data=group)
    overridden.inventory.override_data = {"etcd_runtime": "systemd"}  # what --data does
    check_data(overridden)


def test_check_data_refuses_a_typo_in_group_data_and_the_lb_groups_keys():
    with pytest.raises(DeployInputError, match="did you mean etcd_runtime"):
        check_data(_state(["h0"], etcd_data={"etcd_runtim": "systemd"}))
    lb: tuple[list, dict] = ([("l0", {}), ("l1", {"k8s_lb_port": 8443})], {})
    with pytest.raises(DeployInputError, match=r"host l1: k8s_lb_port=8443 .* first lb host l0"):
        check_data(_state(["h0"], lb=lb))
