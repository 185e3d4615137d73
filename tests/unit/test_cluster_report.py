"""status.py's report without hosts: rows, JSON shape, table and the exit verdict.

Inputs are what the survey hands over: probe lines as etcd's gateway answers them (see
``test_status.py``), each member's certificates as read, and its ``Observation``.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from etcd_cluster.backup import schedule as backup
from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_SERVER
from etcd_cluster.engine.observe import Observation
from etcd_cluster.engine.remote import RemoteFile
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.quorum import parse_view
from etcd_cluster.status.ops import write_json
from etcd_cluster.status.report import MemberFacts, report, table
from tests.unit.test_status import MEMBER_IDS, probe_lines, table_rows

PKI = "/etc/kubernetes/pki"
YEAR = datetime.timedelta(days=365)


def live_lines(cluster: Cluster, alarms: str = "{}", learner: str = "", extra: bool = False):
    """The probe's member list and alarms lines, as the first member answers them."""
    members = [
        {
            "ID": member_id,
            "name": m.name,
            "peerURLs": [m.peer_url(2380)],
            "clientURLs": [m.client_url(2379)],
            **({"isLearner": True} if m.name == learner else {}),
        }
        for m, member_id in zip(cluster.members, MEMBER_IDS, strict=True)
    ]
    if extra:
        members.append({"ID": "99", "name": "old0", "peerURLs": ["https://10.0.0.99:2380"]})
    first = cluster.client_endpoints[0]
    return [
        f"members\t{first}\t{json.dumps({'members': members})}",
        f"alarms\t{first}\t{alarms}",
    ]


def facts_for(
    cluster: Cluster,
    ca: pki.KeyPair,
    now: datetime.datetime,
    validity: datetime.timedelta = YEAR,
    observation: Observation | None = None,
) -> dict[str, MemberFacts | None]:
    o = observation or Observation(clock=now.timestamp())
    result: dict[str, MemberFacts | None] = {}
    for m in cluster.members:
        leaf = pki.new_leaf(ETCD_SERVER, ca, m.name, None, "ECDSA-P256", validity, now)
        files = {
            ETCD_CA.cert_path(PKI): RemoteFile(ca.cert_pem, "644", "root", "root"),
            ETCD_SERVER.cert_path(PKI): RemoteFile(leaf.cert_pem, "644", "root", "root"),
            ETCD_SERVER.key_path(PKI): RemoteFile(None, "600", "root", "root", "abc"),
        }
        result[m.host] = MemberFacts(files, o)
    return result


def make_report(cluster, lines, facts, now):
    return report(cluster, parse_view(cluster, lines), facts, now)


def test_a_healthy_cluster_reports_every_member_and_no_problem(cluster, ca, now):
    lines = [
        line.replace('"dbSize"', '"dbSizeInUse":"5120","dbSize"') for line in probe_lines(cluster)
    ]
    result = make_report(cluster, [*lines, *live_lines(cluster)], facts_for(cluster, ca, now), now)
    assert result["ok"] is True and result["healthy"] is True and result["problems"] == []
    assert result["leader"] == "infra0"
    assert [m["name"] for m in result["members"]] == ["infra0", "infra1", "infra2"]
    first = result["members"][0]
    assert first["endpoint"] == "https://10.0.0.6:2379"
    assert first["healthy"] is True and first["leader"] is True and first["learner"] is False
    assert [m["leader"] for m in result["members"]] == [True, False, False]
    assert first["version"] == "3.4.23"
    assert (first["db_size"], first["db_size_in_use"]) == (20480, 5120)
    assert first["db_fragmentation_percent"] == 75.0
    assert first["alarms"] == [] and first["in_member_list"] is True
    assert first["cert_expiry_file"] == ETCD_SERVER.cert_path(PKI)  # before the CA's
    assert 364.9 < first["cert_expires_in_days"] <= 365
    assert result["other_live_members"] == []
    assert json.loads(json.dumps(result)) == result  # JSON as it is
    rows = table_rows(table(result))
    assert rows[0][:4] == ["NAME", "ENDPOINT", "HEALTHY", "LEADER"] and len(rows) == 4
    cells = ["infra0", "https://10.0.0.6:2379", "yes", "yes", "3.4.23", "20.0 kB"]
    assert rows[1][:7] == [*cells, "5.0 kB (75% free)"]


def test_a_stopped_member_is_unhealthy_and_fails_the_run(cluster, ca, now):
    down = "https://10.0.0.8:2379\tFailed to connect to 10.0.0.8 port 2379\tno answer"
    lines = [*probe_lines(cluster, infra2=down), *live_lines(cluster)]
    result = make_report(cluster, lines, facts_for(cluster, ca, now), now)
    assert [m["healthy"] for m in result["members"]] == [True, True, False]
    assert result["ok"] is False and result["healthy"] is False
    assert any("member infra2 (10.0.0.8" in p for p in result["problems"]), result["problems"]
    assert result["members"][2]["version"] is None
    assert table_rows(table(result))[3][2] == "NO"


def test_an_active_alarm_fails_the_run_and_names_the_member(cluster, ca, now):
    alarms = json.dumps({"alarms": [{"memberID": "22", "alarm": "NOSPACE"}]})
    lines = [*probe_lines(cluster), *live_lines(cluster, alarms=alarms)]
    result = make_report(cluster, lines, facts_for(cluster, ca, now), now)
    assert [m["alarms"] for m in result["members"]] == [[], ["NOSPACE"], []]
    assert result["problems"] == ["alarm NOSPACE is active on member infra1"]
    assert result["healthy"] is True and result["ok"] is False


def test_unreadable_alarms_on_a_healthy_cluster_fail_the_run(cluster, ca, now):
    lines = [*probe_lines(cluster), *live_lines(cluster, alarms="curl: (28) timed out")]
    result = make_report(cluster, lines, facts_for(cluster, ca, now), now)
    assert result["problems"] == ["the active alarms could not be read: curl: (28) timed out"]


@pytest.mark.parametrize(("days_left", "fails"), [(29, True), (31, False)])
def test_a_certificate_inside_the_renewal_window_fails_the_run(cluster, ca, now, days_left, fails):
    facts = facts_for(cluster, ca, now, validity=datetime.timedelta(days=days_left))
    result = make_report(cluster, [*probe_lines(cluster), *live_lines(cluster)], facts, now)
    due = [p for p in result["problems"] if "etcd_renew_before_days=30" in p]
    assert len(due) == (3 if fails else 0), result["problems"]


def test_backups_too_old_or_failing_fail_the_run(cluster, ca, now):
    clock = now.timestamp()
    stale = Observation(
        clock=clock,
        latest_snapshot="etcd-snapshot-infra0-20261201T000000Z.db",
        latest_snapshot_mtime=clock - 5 * 3600,
        backup_due=clock - 2 * 3600,
        backup_result="exit-code",
        backup_exit_status="1",
        backup_exit_at=clock - 60,
    )
    facts = facts_for(cluster, ca, now, observation=stale)
    result = make_report(cluster, [*probe_lines(cluster), *live_lines(cluster)], facts, now)
    first = result["members"][0]
    assert first["snapshot_age_seconds"] == 5 * 3600 and first["snapshot_too_old"] is True
    assert first["last_backup"] == "failed"
    assert result["problems"] == backup.backup_warnings(cluster, {h: stale for h in facts})
    assert len(result["problems"]) == 6
    assert table_rows(table(result))[1][-2:] == ["5h00m (old)", "FAILED"]


def test_a_host_that_could_not_be_surveyed_is_named(cluster, ca, now):
    facts = facts_for(cluster, ca, now)
    facts["10.0.0.7"] = None
    result = make_report(cluster, [*probe_lines(cluster), *live_lines(cluster)], facts, now)
    assert result["members"][1]["reachable"] is False
    assert result["members"][1]["cert_expiry"] is None
    assert result["problems"] == ["host 10.0.0.7 (member infra1) could not be surveyed"]


def test_learners_and_members_the_inventory_does_not_name(cluster, ca, now):
    lines = [*probe_lines(cluster), *live_lines(cluster, learner="infra2", extra=True)]
    result = make_report(cluster, lines, facts_for(cluster, ca, now), now)
    assert [m["learner"] for m in result["members"]] == [False, False, True]
    assert result["other_live_members"] == [{"name": "old0", "id": "99", "learner": False}]
    assert table_rows(table(result))[3][3] == "learner"


def test_no_probe_at_all_is_every_member_unhealthy(cluster, ca, now):
    result = make_report(cluster, [], facts_for(cluster, ca, now), now)
    assert not any(m["healthy"] for m in result["members"])
    assert result["leader"] is None and result["ok"] is False
    assert all(m["in_member_list"] is None for m in result["members"])


def test_the_json_file_is_written_whole(tmp_path: Path):
    path = tmp_path / "status.json"
    write_json(path, {"members": [{"name": "infra0", "healthy": True}]})
    write_json(path, {"members": []})
    assert json.loads(path.read_text()) == {"members": []}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_the_json_path_setting(make_settings):
    assert make_settings().status_json == ""
    assert make_settings(etcd_status_json="out/status.json").status_json == "out/status.json"


def test_a_run_in_progress_is_shown_but_is_no_problem(cluster, ca, now):
    facts = facts_for(cluster, ca, now)
    holder = "deploy.py run by root@ctl pid 42, since 2026-12-01 16:00:00 UTC"
    for host, found in list(facts.items()):
        assert found is not None
        facts[host] = MemberFacts(found.files, found.observation, holder)
    result = make_report(cluster, [*probe_lines(cluster), *live_lines(cluster)], facts, now)
    assert result["runs_in_progress"] == [holder]
    assert result["ok"] is True
