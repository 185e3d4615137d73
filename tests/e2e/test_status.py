"""status.py on three real members: read only, one remote command per member, a JSON
report with every member, and an exit code a timer or a monitor can act on.

One bed: a deploy first, then status.py on the healthy cluster, with one member's etcd
stopped, and with a renewal window that the certificates are already inside. Before and
after each status run every host's deploy files (content, mode, mtime), its etcd start
time and main pid are compared: nothing may change.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from bench.counting import count_over_docker
from tests.e2e.conftest import Bed, Run, deploy_ok, endpoint, etcdctl, make_bed, out, pyinfra, sh

pytestmark = pytest.mark.e2e

# Everything the deploy manages or keeps outside etcd's data dir: path, mode, owner, mtime,
# size and content hash of each file; etcd's start and stop times and its pid.
HOST_STATE = (
    "for d in /etc/kubernetes /etc/systemd/system /usr/local/lib/etcd-deploy "
    "/var/lib/etcd-deploy /var/backups/etcd /opt/etcd; do "
    "[ -e $d ] && find $d -xdev \\( -type f -o -type l \\) -printf '%p %m %u %g %T@ %s\\n'; "
    "done | sort; "
    "find /etc/kubernetes /var/lib/etcd-deploy -type f -exec sha256sum {} + | sort; "
    "systemctl show etcd -p MainPID -p ActiveEnterTimestampMonotonic "
    "-p InactiveEnterTimestampMonotonic"
)


@pytest.fixture(scope="module")
def bed3(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-status", 3, subnet_index=62)


@pytest.fixture(scope="module")
def cluster(bed3: Bed) -> Bed:
    deploy_ok(bed3.inventory)
    return bed3


def host_states(b: Bed) -> dict[str, str]:
    return {node.container: out(node, HOST_STATE) for node in b.nodes}


def status(b: Bed, tmp_path: Path, *args: str) -> tuple[Run, dict, dict[str, int]]:
    """status.py with --json and the JSON report, its docker execs counted per container."""
    path = tmp_path / "status.json"
    runs: list[Run] = []
    counts = count_over_docker(
        b.nodes,
        tmp_path,
        lambda env: runs.append(
            pyinfra(
                b.inventory,
                "--json",
                "--data",
                f"etcd_status_json={path}",
                *args,
                deploy="status.py",
                env=env,
            )
        ),
    )
    (run,) = runs
    assert path.exists(), run.output[-4000:]
    assert not counts.transfers, counts
    return run, json.loads(path.read_text()), dict(counts.commands)


def by_name(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["members"]}


def test_status_of_a_healthy_cluster(cluster: Bed, tmp_path: Path):
    before = host_states(cluster)
    run, report, commands = status(cluster, tmp_path, "-vvv")
    assert run.returncode == 0, run.output[-4000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert "PRIVATE KEY" not in run.output + json.dumps(report)  # keys: public hashes only
    assert host_states(cluster) == before
    assert commands == {node.container: 1 for node in cluster.nodes}
    assert "etcd cluster status:" in run.output
    members = by_name(report)
    assert sorted(members) == ["infra0", "infra1", "infra2"], report
    assert report["ok"] is True and report["healthy"] is True, report
    assert report["problems"] == [], report
    assert all(m["healthy"] is True and m["reachable"] for m in members.values()), report
    assert [m["leader"] for m in members.values()].count(True) == 1, report
    assert report["leader"] in members
    for node, m in zip(cluster.nodes, report["members"], strict=True):
        assert m["endpoint"] == f"https://{node.address}:2379"
        assert m["version"] and m["version"].count(".") == 2
        assert m["db_size"] > 0 and 0 < m["db_size_in_use"] <= m["db_size"]
        assert 0 <= m["db_fragmentation_percent"] < 100
        assert m["alarms"] == [] and m["learner"] is False and m["in_member_list"] is True
        assert 360 < m["cert_expires_in_days"] <= 366, m
        assert m["snapshot_too_old"] is False


def test_status_while_another_run_holds_the_lock(cluster: Bed, tmp_path: Path):
    """Read only, at any time: a deploy of another machine holds every member's run lock
    (as test_run_lock plants it); status.py neither waits, refuses nor touches it."""
    lock = "/var/lib/etcd-deploy/run-lock"
    holder = (
        f"mkdir -p {lock} && printf 'token=planted\\ncontroller=elsewhere.example\\n"
        f"user=alice\\npid=999\\npid_start=1\\nrun=deploy.py\\nsince=%s\\n' "
        f"$(date +%s) >{lock}/holder"
    )
    for node in cluster.nodes:
        out(node, holder)
    try:
        before = host_states(cluster)
        run, report, commands = status(cluster, tmp_path)
        assert host_states(cluster) == before
    finally:
        for node in cluster.nodes:
            out(node, f"rm -f {lock}/holder")
    assert run.returncode == 0, run.output[-4000:]
    assert report["ok"] is True, report
    (held,) = report["runs_in_progress"]
    assert "deploy.py run by alice@elsewhere.example pid 999" in held
    assert commands == {node.container: 1 for node in cluster.nodes}


def test_status_with_a_member_stopped_fails_and_names_it(cluster: Bed, tmp_path: Path):
    down = cluster.nodes[2]
    sh(down, "systemctl stop etcd")
    try:
        before = host_states(cluster)
        run, report, commands = status(cluster, tmp_path)
        assert host_states(cluster) == before
    finally:
        sh(down, "systemctl start etcd")
    assert run.returncode != 0, run.output[-4000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert commands == {node.container: 1 for node in cluster.nodes}
    members = by_name(report)
    assert members["infra2"]["healthy"] is False and members["infra2"]["reachable"], report
    assert members["infra0"]["healthy"] is True and members["infra1"]["healthy"] is True
    assert report["ok"] is False and report["healthy"] is False
    assert any("infra2" in problem for problem in report["problems"]), report
    assert "etcd status: member infra2" in run.output  # the verdict's own message
    assert "Unexpected error" not in run.output


def test_status_with_the_first_host_frozen_probes_from_the_next(cluster: Bed, tmp_path: Path):
    """The first member's container paused: its survey gets no answer, so the next member
    probes the cluster (its one extra command); the frozen member is named, unhealthy."""
    frozen = cluster.nodes[0]
    before = host_states(cluster)
    subprocess.run(["docker", "pause", frozen.container], check=True)
    try:
        others = ",".join(endpoint(n) for n in cluster.nodes[1:])
        for _ in range(30):  # the others elect a leader among themselves if need be
            if etcdctl(cluster.nodes[1], others, "endpoint health").returncode == 0:
                break
            time.sleep(1)
        run, report, commands = status(cluster, tmp_path)
    finally:
        subprocess.run(["docker", "unpause", frozen.container], check=True)
    assert host_states(cluster) == before
    assert run.returncode != 0, run.output[-4000:]
    members = by_name(report)
    assert members["infra0"]["reachable"] is False and members["infra0"]["healthy"] is False
    assert members["infra1"]["healthy"] and members["infra2"]["healthy"], report
    assert report["leader"] in ("infra1", "infra2"), report
    assert f"host {frozen.pyinfra_host} " in " ".join(report["problems"]), report
    assert "Unexpected error" not in run.output
    assert commands[cluster.nodes[1].container] == 2 and commands[cluster.nodes[2].container] == 1


def test_status_fails_when_a_certificate_is_inside_the_renewal_window(cluster: Bed, tmp_path: Path):
    """One-year certificates with a 400-day window: every member is due for renewal."""
    deploy_ok(cluster.inventory)  # the stopped member is back and the cluster healthy
    before = host_states(cluster)
    args = ("--data", "etcd_renew_before_days=400", "--data", "etcd_cert_validity_hours=10000")
    run, report, _ = status(cluster, tmp_path, *args)
    assert host_states(cluster) == before
    assert run.returncode != 0, run.output[-4000:]
    assert all(m["healthy"] for m in report["members"]), report
    renewals = [p for p in report["problems"] if "etcd_renew_before_days=400" in p]
    assert len(renewals) == len(cluster.nodes), report
    assert "Unexpected error" not in run.output
