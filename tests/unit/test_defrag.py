"""Defragmentation by rule and NOSPACE recovery: the decisions, without hosts."""

from __future__ import annotations

import datetime
import json
from dataclasses import replace

import pytest

from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.defrag import (
    MIB,
    alone,
    defrag_due,
    in_pass,
    maintenance,
    new_leader,
    nospace_refusals,
    tolerate_nospace,
)
from etcd_cluster.etcd.quorum import parse_view, restart_refusals
from etcd_cluster.status.report import report, table
from tests.unit.guide import guide_inputs
from tests.unit.test_restart_decisions import IDS, member_list, probe

NOSPACE_HEALTH = '{"health":"false","reason":"ALARM NOSPACE"}'


def sized(cluster, sizes: dict[str, tuple[int, int]], **kwargs):
    """The survey's view, each named member's status with (dbSize, dbSizeInUse)."""
    lines = []
    for line in probe(cluster, **kwargs):
        endpoint, _, rest = line.partition("\t")
        name = next((m.name for m in cluster.members if m.client_url(2379) == endpoint), "")
        if name in sizes:
            health, _, body = rest.partition("\t")
            status = json.loads(body)
            status["dbSize"], status["dbSizeInUse"] = (str(n) for n in sizes[name])
            line = f"{endpoint}\t{health}\t{json.dumps(status)}"
        lines.append(line)
    return parse_view(cluster, lines)


def with_nospace_health(view):
    """Every member's /health as etcd answers it while NOSPACE is active."""
    statuses = tuple(
        replace(s, healthy=False, error="ALARM NOSPACE", answered=True) for s in view.statuses
    )
    return replace(view, statuses=statuses)


@pytest.mark.parametrize(
    ("size", "in_use", "due"),
    [
        (400 * MIB, 150 * MIB, True),  # 250 MiB free, 62 %
        (200 * MIB, 100 * MIB, True),  # exactly 50 % and 100 MiB
        (200 * MIB, 101 * MIB, False),  # 99 MiB free: too little in bytes
        (1000 * MIB, 600 * MIB, False),  # 400 MiB free but only 40 %
        (150 * MIB, 0, True),
    ],
)
def test_the_rule_wants_both_the_share_and_the_size(cluster, size, in_use, due):
    view = sized(cluster, {"infra1": (size, in_use)})
    assert defrag_due(view.statuses[1], cluster.settings) is due


def test_a_member_that_did_not_say_its_sizes_is_never_due(cluster):
    view = sized(cluster, {}, down=("infra2",))
    assert not any(defrag_due(s, cluster.settings) for s in view.statuses)


def test_thresholds_are_settings_and_bad_values_are_refused(make_settings):
    assert (make_settings().defrag_free_percent, make_settings().defrag_free_mb) == (50, 100)
    assert make_settings().nospace_recover is False
    low = make_settings(etcd_defrag_free_percent="20", etcd_defrag_free_mb="1")
    assert (low.defrag_free_percent, low.defrag_free_mb) == (20, 1)
    assert make_settings(etcd_nospace_recover="yes").nospace_recover is True
    for key, value in (
        ("etcd_defrag_free_percent", 0),
        ("etcd_defrag_free_percent", 101),
        ("etcd_defrag_free_mb", -1),
        ("etcd_nospace_recover", "maybe"),
    ):
        with pytest.raises(DeployInputError) as error:
            make_settings(**{key: value})
        assert key in str(error.value) and str(value) in str(error.value)


def test_the_plan_names_each_member_due_with_its_free_space(cluster):
    view = sized(cluster, {"infra0": (400 * MIB, 100 * MIB), "infra2": (300 * MIB, 10 * MIB)})
    found = maintenance(view, cluster.settings)
    assert found.due == ("10.0.0.6", "10.0.0.8") and found.wanted and not found.nospace
    assert found.reasons[0] == "10.0.0.6: defragment infra0 (300.0 MB of 400.0 MB free, 75%)"
    assert maintenance(sized(cluster, {}), cluster.settings).wanted is False
    assert maintenance(None, cluster.settings).wanted is False  # no cluster yet


def test_nospace_refuses_the_run_naming_the_way_out_unless_recovery_is_asked(
    cluster, make_settings
):
    view = sized(cluster, {}, alarms=("NOSPACE",))
    (refusal,) = nospace_refusals(view, recover=False)
    assert "NOSPACE" in refusal and "etcd_nospace_recover=yes" in refusal
    assert "quota-backend-bytes" in refusal
    assert nospace_refusals(view, recover=True) == []
    assert nospace_refusals(sized(cluster, {}, alarms=("CORRUPT",)), recover=False) == []
    recovering = maintenance(view, make_settings(etcd_nospace_recover="yes"))
    assert recovering.nospace and recovering.wanted and recovering.due == ()
    # without the switch the plan never gets here (refused), and never defragments blind
    assert maintenance(view, cluster.settings).nospace is False


def test_a_recovery_passes_the_gate_that_nospace_closes_for_restarts(cluster):
    view = with_nospace_health(sized(cluster, {}, alarms=("NOSPACE",)))
    infra1 = cluster.members[1]
    assert "NOSPACE" in restart_refusals(cluster, view, infra1, running=True)[0]
    assert restart_refusals(cluster, tolerate_nospace(view), infra1, running=True) == []


def test_a_recovery_still_keeps_quorum_and_refuses_other_alarms(cluster):
    down = with_nospace_health(sized(cluster, {}, alarms=("NOSPACE",), down=("infra2",)))
    down = replace(
        down, statuses=(*down.statuses[:2], replace(down.statuses[2], leader_id="", member_id=""))
    )
    assert (
        "quorum"
        in restart_refusals(cluster, tolerate_nospace(down), cluster.members[1], running=True)[0]
    )
    corrupt = with_nospace_health(sized(cluster, {}, alarms=("NOSPACE", "CORRUPT")))
    refusal = restart_refusals(cluster, tolerate_nospace(corrupt), cluster.members[1], running=True)
    assert "active alarm (CORRUPT)" in refusal[0]


def test_followers_first_the_leader_last_and_leadership_goes_to_a_healthy_voter(cluster):
    view = sized(cluster, {})
    leader, follower, _ = view.statuses  # infra0 leads in the probe
    assert in_pass("followers", follower) and not in_pass("followers", leader)
    assert in_pass("leader", leader) and in_pass("leader", follower)
    assert new_leader(view, leader) == IDS["infra1"]
    down = sized(cluster, {}, down=("infra1",))
    assert new_leader(down, down.statuses[0]) == IDS["infra2"]
    alone = sized(cluster, {}, down=("infra1", "infra2"))
    assert new_leader(alone, alone.statuses[0]) == ""


def test_status_shows_fragmentation_and_defrag_due(cluster):
    view = sized(cluster, {"infra1": (400 * MIB, 100 * MIB), "infra2": (400 * MIB, 390 * MIB)})
    now = datetime.datetime.now(datetime.UTC)
    result = report(cluster, view, {}, now)
    assert [m["defrag_due"] for m in result["members"]] == [False, True, False]
    rows = table(result).splitlines()
    assert "100.0 MB (75% free, defrag due)" in rows[2]
    assert "defrag due" not in rows[3] and "(2% free)" in rows[3]


def test_a_single_voter_is_defragmented_without_a_quorum_to_keep(cluster, make_cluster):
    one = make_cluster(inputs=[next(iter(guide_inputs()))])
    view = sized(one, {}, members=member_list(one))
    assert alone(view)
    assert not alone(sized(one, {}, members=member_list(one), alarms=("CORRUPT",)))
    assert not alone(sized(cluster, {}))
    learner = sized(cluster, {}, members=member_list(cluster, learners=("infra1", "infra2")))
    assert alone(learner)  # learners do not vote
