"""Every change takes effect and never two members down (systemd runtime, three members).

One bed, in file order:
- renewal of every member's server and peer certificates under a write/read poller:
  no restart at all (etcd reloads its certificate on each TLS handshake), the new
  certificates served on 2379 and 2380, zero failed requests;
- a flag change that the quorum gate interrupts (a member is down and cannot be
  started) is completed by the next run, one member at a time, under the poller;
- a first bootstrap one member did not finish (its peer port taken by another
  process) is finished by a rerun, with every key on every member;
- a cold deploy killed (SIGKILL) once it holds the run lock, once every member has its
  certificates, and once the first member's etcd runs: no key on this machine's disk, the
  next run finishes the cluster (ca.key on the first member only) and the one after
  changes nothing.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    PKI,
    PORT_HOLDER,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    assert_restarted_one_at_a_time,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    file_certificate,
    finish,
    make_bed,
    out,
    pki_digests,
    pyinfra,
    reset,
    running_args,
    served_certificate,
    sh,
    start,
)

pytestmark = pytest.mark.e2e

NEW_FLAG = "--heartbeat-interval=150"
THREE = ["infra0", "infra1", "infra2"]


def member_names(node) -> list[str]:
    """The names in etcd's member list, asked of ``node``, sorted."""
    members = etcdctl(node, endpoint(node), "member list")
    assert members.returncode == 0, members.stderr
    return sorted(line.split(", ")[2] for line in members.stdout.decode().splitlines())


@pytest.fixture(scope="module")
def bed3(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-change", 3, subnet_index=14)


def test_deploy(bed3: Bed):
    assert_healthy_cluster(bed3, deploy_ok(bed3.inventory))


def test_renewal_of_every_server_and_peer_certificate_restarts_nothing(bed3: Bed):
    nodes = bed3.nodes
    before = pki_digests(nodes)
    times_before = {n.container: etcd_times(n) for n in nodes}
    # Certificates made by the first run expire in 365 days: inside a 366-day window.
    renew = bed3.write_inventory(
        "renew.py", host_data={"etcd_renew_before_days": 366, "etcd_cert_validity_hours": 9000}
    )
    with ClusterPoller(nodes[0], bed3.endpoints()) as poller:
        run = deploy_ok(renew)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    after = pki_digests(nodes)
    for node in nodes:
        for stem in ("etcd/server", "etcd/peer"):
            for suffix in (".crt", ".key"):
                path = f"{PKI}/{stem}{suffix}"
                assert after[(node.container, path)] != before[(node.container, path)], path
        assert served_certificate(node, 2379) == file_certificate(node, f"{PKI}/etcd/server.crt")
        assert served_certificate(node, 2380) == file_certificate(node, f"{PKI}/etcd/peer.crt")
    assert {n.container: etcd_times(n) for n in nodes} == times_before, run.output[-3000:]
    assert "restarting etcd member" not in run.output
    assert_healthy_cluster(bed3, run)
    rerun = deploy_ok(renew, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_a_flag_change_the_quorum_gate_interrupted_is_completed_by_the_next_run(bed3: Bed):
    nodes = bed3.nodes
    changed = bed3.write_inventory(
        "flag.py",
        host_data={"etcd_extra_args": {"heartbeat-interval": "150"}, "etcd_health_timeout": 10},
    )
    assert etcdctl(nodes[0], bed3.endpoints(), "put e2e/before-flag kept").returncode == 0
    # infra2 is down and cannot start (its peer port held; a blocking drop-in would be moved
    # aside, a runtime mask is shadowed by the unit in /etc): two of three voters are left.
    assert sh(nodes[2], "systemctl stop etcd").returncode == 0
    holder = out(nodes[2], PORT_HOLDER.format(address=nodes[2].address))
    try:
        run = pyinfra(changed)
        assert run.returncode != 0
        assert "not restarting infra" in run.output, run.output[-4000:]
        assert "needed to keep quorum" in run.output
        for node in nodes[:2]:  # the unit says so, but the processes still run the old flags
            assert NEW_FLAG in out(node, "cat /etc/systemd/system/etcd.service")
            assert NEW_FLAG not in running_args(node), node.container
    finally:
        sh(nodes[2], f"kill {holder}")
    times_before = {n.container: etcd_times(n) for n in nodes[:2]}
    with ClusterPoller(nodes[0], bed3.endpoints()) as poller:
        run = deploy_ok(changed)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    for node in nodes:
        assert NEW_FLAG in running_args(node), node.container
    times_after = {n.container: etcd_times(n) for n in nodes[:2]}
    assert_restarted_one_at_a_time(times_before, times_after, run.output)
    assert "runs with other flags" in run.output
    for node in nodes:
        got = etcdctl(node, endpoint(node), "get --print-value-only e2e/before-flag")
        assert got.stdout.decode().strip() == "kept", node.container
    rerun = deploy_ok(changed, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_a_half_finished_first_bootstrap_is_finished_by_a_rerun(bed3: Bed):
    nodes = bed3.nodes
    reset(nodes)
    late = nodes[2]
    holder = out(late, PORT_HOLDER.format(address=late.address))
    try:
        run = pyinfra(bed3.inventory, "--data", "etcd_health_timeout=15")
        assert run.returncode != 0
        assert "infra2" in run.output
        # infra0 and infra1 formed the cluster; infra2 never started. It gives up.
        sh(late, "systemctl stop etcd")
        assert sh(late, "test -d /var/lib/etcd/member/wal").returncode != 0
    finally:
        sh(late, f"kill {holder}")
    written = etcdctl(nodes[0], f"{endpoint(nodes[0])},{endpoint(nodes[1])}", "put e2e/early kept")
    assert written.returncode == 0, written.stderr
    run = deploy_ok(bed3.inventory)
    assert "listed by the cluster but never started" in run.output, run.output[-3000:]
    assert_healthy_cluster(bed3, run)
    assert member_names(late) == THREE
    got = etcdctl(late, endpoint(late), "get --print-value-only e2e/early")
    assert got.stdout.decode().strip() == "kept"
    rerun = deploy_ok(bed3.inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


KILL_POINTS = {
    # what the hosts show when the run is killed: (members to look at, a test on each)
    "run lock held": ([0], "test -f /var/lib/etcd-deploy/run-lock/holder"),
    "certificates on every member": ([0, 1, 2], f"test -f {PKI}/etcd/server.crt"),
    "first member's etcd running": ([0], "systemctl is-active --quiet etcd"),
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_cold_deploy_killed_at_a_step_is_finished_by_the_next_run(
    bed3: Bed, point: str, tmp_path: Path
):
    nodes = bed3.nodes
    reset(nodes)
    members, check = KILL_POINTS[point]
    proc = start(bed3.inventory, tmpdir=tmp_path)
    deadline = time.monotonic() + 120
    while not all(sh(nodes[i], check).returncode == 0 for i in members):
        assert proc.poll() is None, finish(proc).output[-3000:]
        assert time.monotonic() < deadline, f"no {point} after 120 s"
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed at: {point}"
    proc.send_signal(signal.SIGKILL)
    finish(proc, timeout=60)
    keys = [f for f in tmp_path.rglob("*") if f.is_file() and b"PRIVATE KEY" in f.read_bytes()]
    assert keys == [], keys  # not even a run that never got to clean up leaves one
    run = deploy_ok(bed3.inventory)
    assert_healthy_cluster(bed3, run)
    holds_ca_key = [sh(n, f"test -e {PKI}/etcd/ca.key").returncode == 0 for n in nodes]
    assert holds_ca_key == [True, False, False]
    assert member_names(nodes[0]) == THREE
    rerun = deploy_ok(bed3.inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
