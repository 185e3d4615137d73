"""Cluster health (guide step 8): the probe script, its parsing, the verdict and the table.

Probe lines are ``endpoint<TAB>/health body<TAB>/v3/maintenance/status body`` as etcd's
HTTP gateway answers them (uint64 fields are JSON strings). The script itself is also
run against a stand-in ``curl`` to check its quoting and output format end to end.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from etcd_cluster.etcd.cluster import Cluster, MemberInput
from etcd_cluster.etcd.health import format_table, parse_probe, probe_script, problems
from etcd_cluster.etcd.quorum import parse_view, restart_refusals

HEALTHY = '{"health":"true","reason":""}'
MEMBER_IDS = ("11", "22", "33")


def status_body(member_id: str, leader: str, version: str = "3.4.23", db: str = "20480") -> str:
    return json.dumps(
        {
            "header": {
                "cluster_id": "1",
                "member_id": member_id,
                "revision": "1",
                "raft_term": "2",
            },
            "version": version,
            "dbSize": db,
            "leader": leader,
            "raftIndex": "8",
            "raftTerm": "2",
        },
        separators=(",", ":"),
    )


def probe_lines(cluster: Cluster, leader: str = "11", **overrides: str) -> list[str]:
    """One healthy line per member; ``overrides`` replaces a member's line by its name."""
    lines = []
    for member, endpoint, member_id in zip(
        cluster.members, cluster.client_endpoints, MEMBER_IDS, strict=True
    ):
        line = f"{endpoint}\t{HEALTHY}\t{status_body(member_id, leader)}"
        lines.append(overrides.get(member.name, line))
    return [line for line in lines if line]


def table_rows(table: str) -> list[list[str]]:
    return [re.split(r" {2,}", line) for line in table.splitlines()]


def test_a_healthy_cluster_with_one_leader_has_no_problems(cluster):
    statuses = parse_probe(cluster, probe_lines(cluster))
    assert problems(statuses) == []
    assert [s.healthy for s in statuses] == [True, True, True]
    assert [s.is_leader for s in statuses] == [True, False, False]
    assert [(s.member_id, s.leader_id, s.version, s.db_size) for s in statuses] == [
        (member_id, "11", "3.4.23", 20480) for member_id in MEMBER_IDS
    ]


def test_the_table_has_one_row_per_member_with_leader_and_expiry(cluster):
    statuses = parse_probe(cluster, probe_lines(cluster, leader="22"))
    expiry = datetime.datetime(2027, 1, 2, 3, 4, tzinfo=datetime.UTC)
    rows = table_rows(format_table(statuses, {"10.0.0.6": expiry}))
    assert rows[0] == [
        "NAME",
        "ENDPOINT",
        "HEALTHY",
        "LEADER",
        "VERSION",
        "DB SIZE",
        "EARLIEST CERT EXPIRY",
    ]
    assert rows[1] == [
        "infra0",
        "https://10.0.0.6:2379",
        "yes",
        "no",
        "3.4.23",
        "20.0 kB",
        "2027-01-02 03:04 UTC",
    ]
    assert [row[3] for row in rows[1:]] == ["no", "yes", "no"]
    assert [row[-1] for row in rows[2:]] == ["-", "-"]


def test_a_member_answering_with_a_curl_error_is_named(cluster):
    error = "curl: (7) Failed to connect to 10.0.0.7 port 2379 after 0 ms: Connection refused"
    lines = probe_lines(cluster, infra1=f"https://10.0.0.7:2379\t{error}\t{error}")
    statuses = parse_probe(cluster, lines)
    (problem,) = problems(statuses)
    assert "infra1" in problem and "10.0.0.7" in problem and error in problem
    row = table_rows(format_table(statuses, {}))[2]
    assert row[:3] == ["infra1", "https://10.0.0.7:2379", "NO"]
    assert row[4:6] == ["-", "-"]


def test_an_unhealthy_answer_reports_etcds_reason(cluster):
    body = '{"health":"false","reason":"RAFT NO LEADER"}'
    lines = probe_lines(cluster, infra2=f"https://10.0.0.8:2379\t{body}\t{status_body('33', '0')}")
    (problem,) = problems(parse_probe(cluster, lines))
    assert "infra2" in problem and "RAFT NO LEADER" in problem


def test_a_missing_line_means_no_answer(cluster):
    statuses = parse_probe(cluster, probe_lines(cluster, infra2=""))
    (problem,) = problems(statuses)
    assert "infra2" in problem and "10.0.0.8" in problem and "no answer" in problem


@pytest.mark.parametrize(
    "leaders",
    [("11", "11", "22"), ("0", "0", "0"), ("44", "44", "44")],
    ids=["disagree", "no-leader", "leader-not-a-member"],
)
def test_members_must_agree_on_one_leader_among_them(cluster, leaders):
    lines = [
        f"{endpoint}\t{HEALTHY}\t{status_body(member_id, leader)}"
        for endpoint, member_id, leader in zip(
            cluster.client_endpoints, MEMBER_IDS, leaders, strict=True
        )
    ]
    (problem,) = problems(parse_probe(cluster, lines))
    assert "do not agree on one leader" in problem


def test_noise_and_other_endpoints_are_ignored(cluster):
    lines = ["", "some warning on stderr", "https://10.9.9.9:2379\tx\ty", *probe_lines(cluster)]
    statuses = parse_probe(cluster, lines)
    assert [s.endpoint for s in statuses] == cluster.client_endpoints
    assert problems(statuses) == []


# --- The probe script ------------------------------------------------------------------------

FAKE_CURL = r"""#!/bin/sh
# Stand-in for the probe's one curl --parallel: logs its argv (one per line), then answers
# each transfer (they are separated by --next) like etcd into its -o file, and writes its
# -w line to stdout with the exit code and error message filled in; fd00::7 cannot be
# reached.
printf '%s\n' "$@" --- >> "$CURL_LOG"
answer() {
    code=0 message=
    case "$url" in
      'https://[fd00::7]:2379/'*) code=7 message="Failed to connect to fd00::7 port 2379" ;;
      */health) printf '{"health":"true",\n"reason":""}\n' >"$out" ;;
      */v3/maintenance/status)
        echo '{"header":{"member_id":"11"},"leader":"11","version":"3.6.9"}' >"$out" ;;
      */v3/cluster/member/list) echo '{"members":[{"ID":"11","name":"infra0"}]}' >"$out" ;;
      */v3/maintenance/alarm) echo '{"header":{}}' >"$out" ;;
    esac
    case "$format" in
      *'%{exitcode} %{errormsg}\n') format=${format%'%{exitcode}'*} ;;
      *) echo "fake curl: unexpected -w $format" >&2; exit 2 ;;
    esac
    printf '%s%s %s\n' "$format" "$code" "$message"
}
prev= out= url= format=
for arg; do
    [ "$prev" = -o ] && out=$arg
    [ "$prev" = -w ] && format=$arg
    case "$arg" in
      https://*) url=$arg ;;
      --next) answer; out= url= format= ;;
    esac
    prev=$arg
done
answer
"""


@pytest.fixture(scope="module")
def ipv6_cluster(make_cluster, make_settings) -> Cluster:
    settings = make_settings(etcd_pki_dir="/srv/etcd-pki")
    return make_cluster([MemberInput(h) for h in ("fd00::6", "fd00::7", "fd00::8")], settings)


def test_probe_script_quotes_endpoints_and_uses_the_healthcheck_client(ipv6_cluster):
    script = probe_script(ipv6_cluster, timeout=7)
    assert '-g --max-time "$max_time"' in script  # -g: [IPv6] brackets are not globs
    assert script.endswith(
        "probe_cluster 7 /srv/etcd-pki/etcd/ca.crt /srv/etcd-pki/etcd/healthcheck-client.crt "
        "/srv/etcd-pki/etcd/healthcheck-client.key '' "
        + " ".join(shlex.quote(e) for e in ipv6_cluster.client_endpoints)
    )


def run_probe(
    cluster: Cluster, tmp_path: Path, with_members: bool, fake_curl: str = FAKE_CURL
) -> tuple[str, list[list[str]]]:
    """The probe's stdout against the stand-in curl, and each curl's argv."""
    fake = tmp_path / "curl"
    fake.write_text(fake_curl)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "curl.log"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "CURL_LOG": str(log)}
    result = subprocess.run(
        ["sh", "-c", probe_script(cluster, with_members=with_members)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    calls = [call.strip("\n").split("\n") for call in log.read_text().split("---\n") if call]
    return result.stdout, calls


def test_probe_script_output_parses_into_one_status_per_member(ipv6_cluster, tmp_path: Path):
    stdout, calls = run_probe(ipv6_cluster, tmp_path, with_members=False)
    statuses = parse_probe(ipv6_cluster, stdout.splitlines())
    assert [s.healthy for s in statuses] == [True, False, True]
    assert "curl: (7) Failed to connect to fd00::7" in statuses[1].error
    assert statuses[0].version == "3.6.9" and statuses[0].is_leader

    (argv,) = calls  # one curl for all: /health and status of a member on one connection
    assert argv[0] == "--parallel"  # all at once: an unreachable member costs one timeout
    transfers = " ".join(argv).split(" --next ")
    assert len(transfers) == 6
    for transfer in transfers:
        words = transfer.split()
        assert "-g" in words and "--max-time" in words and "-f" not in words
        assert words[words.index("--cert") + 1] == "/srv/etcd-pki/etcd/healthcheck-client.crt"
        assert words[words.index("--key") + 1] == "/srv/etcd-pki/etcd/healthcheck-client.key"
        assert words[words.index("--cacert") + 1] == "/srv/etcd-pki/etcd/ca.crt"
    urls = sorted(word for argv in calls for word in argv if word.startswith("https://"))
    assert urls == sorted(
        f"{endpoint}{path}"
        for endpoint in ipv6_cluster.client_endpoints
        for path in ("/health", "/v3/maintenance/status")
    )


def test_the_member_list_is_asked_of_a_healthy_endpoint_first(ipv6_cluster, tmp_path: Path):
    stdout, calls = run_probe(ipv6_cluster, tmp_path, with_members=True)
    view = parse_view(ipv6_cluster, stdout.splitlines())
    assert [m.name for m in view.members] == ["infra0"]
    assert view.source == "https://[fd00::6]:2379"  # healthy, so asked first
    assert len(view.statuses) == 3
    assert view.alarms == ()
    (argv,) = calls  # the member list and alarms in the same curl
    transfers = " ".join(argv).split(" --next ")
    assert len(transfers) == 12
    # -f on the member list only: a failed one is no list (an error body is no alarm)
    assert [t.endswith("/v3/cluster/member/list") for t in transfers if " -f " in t] == [True] * 3


def test_a_member_without_quorum_still_gives_the_member_list(ipv6_cluster, tmp_path: Path):
    """Without quorum etcd may not answer for the alarms: the member list still counts,
    so the refusals can still name the members."""
    alarm = """*/v3/maintenance/alarm) echo '{"header":{}}' >"$out" ;;"""
    assert alarm in FAKE_CURL
    timeout = """*/v3/maintenance/alarm) code=28 message='Operation timed out' ;;"""
    stdout, _ = run_probe(ipv6_cluster, tmp_path, True, FAKE_CURL.replace(alarm, timeout))
    view = parse_view(ipv6_cluster, stdout.splitlines())
    assert [m.name for m in view.members] == ["infra0"]
    assert view.alarms == ()
    # ... and the failed alarm request is no answer, never "no alarms": the gate refuses.
    assert "Operation timed out" in view.alarm_error
    (reason,) = restart_refusals(ipv6_cluster, view, ipv6_cluster.members[0], running=True)
    assert "cannot tell whether an alarm is active" in reason


def test_learners_show_as_such_in_the_leader_column(cluster):
    statuses = parse_probe(cluster, probe_lines(cluster))
    rows = table_rows(format_table(statuses, {}, learners={"infra2"}))
    assert [row[3] for row in rows[1:]] == ["yes", "no", "learner"]


class _Meta:
    """An operation's result as ``operation_results`` lists it."""

    def __init__(self, changed: bool) -> None:
        self.changed = changed

    def is_complete(self) -> bool:
        return True

    def did_change(self) -> bool:
        return self.changed


def test_the_probe_taken_at_the_first_start_answers_step_8_while_nothing_changed_after(
    cluster, monkeypatch
):
    import types

    from etcd_cluster.engine import operations
    from etcd_cluster.engine.plan import Plan

    hosts = [m.host for m in cluster.members]
    started = {name: _Meta(changed=True) for name in hosts}
    results = {name: [_Meta(changed=True), started[name], _Meta(changed=False)] for name in hosts}
    monkeypatch.setattr(operations, "operation_results", lambda target: results[target])
    state = types.SimpleNamespace(inventory=types.SimpleNamespace(get_host=lambda name: name))
    plan = Plan(
        cluster=cluster,
        members={},
        control_plane_files={},
        ca_created=True,
        surveys=dict.fromkeys(hosts),  # type: ignore[arg-type]
        observations={},
        start_ops=dict(started),  # type: ignore[arg-type]
    )

    def answer() -> tuple[list[str], list[bool]]:
        found, statuses = operations.start_health(state, plan)  # type: ignore[arg-type]
        return found, [s.healthy for s in statuses]

    assert answer() == ([], [])  # no probe taken (etcd did not start, or the look failed)
    plan.start_probe = tuple(probe_lines(cluster))
    assert answer() == ([], [True, True, True])
    plan.start_probe = tuple(probe_lines(cluster, leader="0"))
    assert answer()[0]  # not healthy then: step 8 waits as before
    plan.start_probe = tuple(probe_lines(cluster))
    results[hosts[2]].append(_Meta(changed=True))  # a restart after the start
    assert answer() == ([], [])
    results[hosts[2]].pop()
    del plan.start_ops[hosts[1]]  # a member this run did not start: its state is not known
    assert answer() == ([], [])
