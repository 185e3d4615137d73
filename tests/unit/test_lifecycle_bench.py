"""The lifecycle benchmark's pure parts: reading etcdctl's JSON, the inventories, the table.

The timings need a test bed and are checked by running the benchmark; a misread member
ID, a wrong inventory or a wrong ratio would make its figures wrong, and is caught here.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from bench.benchmark import INTRO, arguments
from bench.etcd_floor import FloorError
from bench.lifecycle import NAMES, Inventories
from bench.lifecycle_floor import (
    initial_cluster,
    member_id,
    member_names,
    peer_url,
    running_versions,
)
from bench.lifecycle_report import ADD, UPGRADE, LifecycleFigure, lifecycle_section
from bench.report import report
from sandbox import bed
from tests.unit.test_benchmark import size_figures, table

# `etcdctl member list -w json` (3.4) while infra3 waits as a learner: IDs are decimal
# uint64, etcdctl takes them in hex; a learner not started yet has no name.
MEMBER_LIST = json.dumps(
    {
        "header": {"cluster_id": 1, "member_id": 2, "raft_term": 2},
        "members": [
            {
                "ID": 12138154148240539937,
                "name": "infra0",
                "peerURLs": ["https://10.234.86.10:2380"],
                "clientURLs": ["https://10.234.86.10:2379"],
            },
            {"ID": 255, "peerURLs": ["https://10.234.86.13:2380"], "isLearner": True},
        ],
    }
)
ENDPOINT_STATUS = json.dumps(
    [
        {"Endpoint": "https://10.234.86.10:2379", "Status": {"version": "3.5.16", "dbSize": 1}},
        {"Endpoint": "https://10.234.86.11:2379", "Status": {"version": "3.5.30", "dbSize": 1}},
    ]
)


def node(index: int) -> bed.Node:
    address = f"10.234.86.{10 + index}"
    return bed.Node(f"etcd-bench-life-l3-{index}", address, address, None, "etcd-bench-life-l3")


def test_member_ids_are_found_by_peer_url_and_given_in_hex():
    assert member_id(MEMBER_LIST, "https://10.234.86.10:2380") == "a87362e31acfc121"
    assert member_id(MEMBER_LIST, "https://10.234.86.13:2380") == "ff"
    with pytest.raises(FloorError, match="no member with peer URL"):
        member_id(MEMBER_LIST, "https://10.234.86.12:2380")


def test_member_names_mark_learners():
    assert member_names(MEMBER_LIST) == ["? (learner)", "infra0"]
    assert member_names('{"header": {}}') == []


def test_running_versions_per_endpoint():
    assert running_versions(ENDPOINT_STATUS) == ["3.5.16", "3.5.30"]


def test_initial_cluster_names_each_peer_url():
    named = [("infra0", node(0)), ("infra1", node(1))]
    assert initial_cluster(named) == (
        "infra0=https://10.234.86.10:2380,infra1=https://10.234.86.11:2380"
    )
    v6 = bed.Node("c", "fd00::10", "10.0.0.1", "fd00::10", "n")
    assert peer_url(v6) == "https://[fd00::10]:2380"


def test_inventories_name_members_and_ask_for_a_removal(tmp_path: Path):
    inv = Inventories([node(i) for i in range(4)], tmp_path)
    four = runpy.run_path(str(inv.write("four.py", 4)))
    assert [data["etcd_name"] for _, data in four["etcd"]] == NAMES
    assert four["etcd"][3][0] == "@docker/etcd-bench-life-l3-3"
    assert all(data["etcd_runtime"] == "systemd" for _, data in four["etcd"])
    assert "etcd_removed" not in four and "etcd_remove_members" not in four["etcd"][0][1]

    removal = runpy.run_path(str(inv.write("removal.py", 3, removed=3)))
    assert [data["etcd_name"] for _, data in removal["etcd"]] == NAMES[:3]
    assert all(data["etcd_remove_members"] == ["infra3"] for _, data in removal["etcd"])
    assert removal["etcd_removed"] == [("@docker/etcd-bench-life-l3-3", {"etcd_name": "infra3"})]
    # the removal is asked for in that run only
    assert "etcd_remove_members" not in runpy.run_path(str(inv.write("next.py", 3)))["etcd"][0][1]


FIGURES = [
    LifecycleFigure(ADD, [9.0], [0.5]),
    LifecycleFigure(UPGRADE, [20.0], [2.0, 4.0, 100.0]),
]


def test_the_lifecycle_table_gives_medians_and_ratios():
    section = lifecycle_section(FIGURES)
    assert table(section, "Lifecycle operations") == [
        ["member add (3 → 4)", "9.0 s", "0.50 s", "18.00×", "1 / 1"],
        # the median of etcd's own three samples, not the 100 s outlier
        ["upgrade of 3 members", "20.0 s", "4.00 s", "5.00×", "1 / 3"],
    ]


def test_the_lifecycle_section_goes_before_the_machine():
    body = report([size_figures(3, 4.0)], 1, 1, "m", 60, [lifecycle_section(FIGURES)])
    assert body.index("Remote commands per host") < body.index("Lifecycle operations")
    assert body.index("Lifecycle operations") < body.index("Machine: m")
    assert "Lifecycle" not in report([size_figures(3, 4.0)], 1, 1, "m", 60)


def test_lifecycle_is_on_unless_switched_off_and_the_intro_defines_it():
    assert arguments([]).lifecycle is True
    assert arguments(["--no-lifecycle"]).lifecycle is False
    for term in ["Member add", "Member removal", "Upgrade", "Restore", "--no-lifecycle"]:
        assert term in INTRO
