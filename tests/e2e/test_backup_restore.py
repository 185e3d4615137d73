"""Scheduled snapshots and restore, end to end: three members, systemd runtime.

The tests run in file order on one bed: the deploy installs the backup timer, the
service writes verified mode-600 snapshots and keeps only ``etcd_backup_keep`` of
them, a rerun changes nothing; then ``restore.py`` is refused without confirmation,
shows its plan with ``--dry``, and restores (a key written before the snapshot is
back, one written after it is gone, the old data dirs are kept aside, a deploy
afterwards changes nothing); a restore that fails on one member after its data went
aside (nothing starts, nothing is lost, the next run finishes it); last, quorum is lost
(two members stopped and wiped) and the cluster is restored from the survivor's latest
scheduled snapshot.
Nothing here is a stand-in: real etcd 3.4 (Debian's), real systemd timers.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.e2e.conftest import (
    Bed,
    Run,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    sh,
)

pytestmark = pytest.mark.e2e

KEEP = 3
BACKUPS = "/var/backups/etcd"
taken: dict[str, str] = {}  # snapshots later tests restore from


@pytest.fixture(scope="module")
def bk(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-bk", 3, subnet_index=50):
        b.host_data["etcd_backup_keep"] = KEEP
        b.inventory = b.write_inventory("inventory.py")
        yield b


def snapshots(node) -> list[str]:
    listing = out(node, f"ls -A {BACKUPS}")
    return sorted(listing.split()) if listing else []


def take_snapshot(node) -> str:
    """Run the service the timer runs; return the newest snapshot's path."""
    done = sh(node, "systemctl start etcd-backup.service")
    assert done.returncode == 0, out(node, "journalctl -u etcd-backup -n 20 --no-pager -o cat")
    return f"{BACKUPS}/{snapshots(node)[-1]}"


def restore_source(node) -> str:
    """A snapshot taken now, copied out of the timer's reach for a restore to read: the
    timer's run at the top of the hour keeps the newest snapshot of each hour, and removed
    the one just taken mid-restore once (CI, 10:00 UTC)."""
    copy = "/root/e2e-restore-source.db"
    assert sh(node, f"cp -p {take_snapshot(node)} {copy}").returncode == 0
    return copy


def value(node, key: str) -> str:
    got = etcdctl(node, endpoint(node), f"get --print-value-only {key}")
    assert got.returncode == 0, got.stderr.decode()
    return got.stdout.decode().strip()


def cluster_id(node) -> str:
    got = etcdctl(node, endpoint(node), "endpoint status -w json")
    assert got.returncode == 0, got.stderr.decode()
    return str(json.loads(got.stdout)[0]["Status"]["header"]["cluster_id"])


def restore(b: Bed, snapshot: str, *args: str) -> Run:
    return pyinfra(
        b.inventory, "--data", f"etcd_restore_snapshot={snapshot}", *args, deploy="restore.py"
    )


CANARY = b"canary-secret-7f3a9c1e2b"


def traces(secret: bytes) -> list[str]:
    """The secret as it would show in output: raw, or base64 at any of the 3 alignments."""
    encoded = [base64.b64encode(b"\0" * pad + secret).decode()[4:-4] for pad in range(3)]
    return [secret.decode(), *encoded]


def assert_no_changes(b: Bed) -> None:
    run = deploy_ok(b.inventory, "--json")
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert run.json()["results"]["totals"]["success"] == 0, changed


def test_deploy_installs_an_enabled_active_backup_timer(bk: Bed):
    run = deploy_ok(bk.inventory)
    assert_healthy_cluster(bk, run)
    assert "LATEST SNAPSHOT" in run.output
    for node in bk.nodes:
        assert out(node, "systemctl is-enabled etcd-backup.timer") == "enabled"
        assert out(node, "systemctl is-active etcd-backup.timer") == "active"
        assert "OnCalendar=hourly" in out(node, "cat /etc/systemd/system/etcd-backup.timer")
        assert out(node, f"stat -c '%a %U' {BACKUPS}") == "700 root"
        assert snapshots(node) == []


def test_the_service_writes_a_verified_snapshot_with_mode_600(bk: Bed):
    for node, member in zip(bk.nodes, ("infra0", "infra1", "infra2"), strict=True):
        path = take_snapshot(node)
        assert snapshots(node) == [path.rsplit("/", 1)[1]]  # no temporary file left
        assert path.startswith(f"{BACKUPS}/etcd-snapshot-{member}-"), path
        assert out(node, f"stat -c '%a %U' {path}") == "600 root"
        status = json.loads(out(node, f"ETCDCTL_API=3 etcdctl snapshot status -w json {path}"))
        assert status["revision"] > 1 and status["totalKey"] > 0, status


def test_retention_keeps_the_newest(bk: Bed):
    node = bk.nodes[0]
    made = [take_snapshot(node) for _ in range(KEEP + 2)]
    kept = snapshots(node)
    assert len(kept) == KEEP, kept
    assert [f"{BACKUPS}/{name}" for name in kept] == sorted(made)[-KEEP:]


def test_a_rerun_changes_nothing_and_the_table_shows_the_latest_snapshot(bk: Bed):
    assert_no_changes(bk)
    run = deploy_ok(bk.inventory)
    table = run.output.split("etcd cluster status:", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("infra")][:3]
    for row, node in zip(rows, bk.nodes, strict=True):
        assert snapshots(node)[-1] in row, table


def test_restore_is_refused_without_confirmation_and_changes_nothing(bk: Bed):
    first = bk.nodes[0]
    assert etcdctl(first, bk.endpoints(), "put e2e/before-snapshot kept").returncode == 0
    assert etcdctl(first, bk.endpoints(), f"put e2e/secret {CANARY.decode()}").returncode == 0
    taken["snapshot"] = take_snapshot(first)
    assert etcdctl(first, bk.endpoints(), "put e2e/after-snapshot lost").returncode == 0
    before = cluster_id(first)
    for args in ((), ("--data", "etcd_restore_confirm=no")):
        run = restore(bk, taken["snapshot"], *args)
        assert run.returncode != 0
        assert "etcd_restore_confirm" in run.output, run.output[-3000:]
        assert "new cluster token etcd-restore-" in run.output  # the plan came first
    run = restore(bk, "/var/backups/etcd/missing.db", "--data", "etcd_restore_confirm=yes")
    assert run.returncode != 0
    assert "missing.db cannot be used: no such file" in run.output, run.output[-3000:]
    run = restore(bk, taken["snapshot"], "--data", "etcd_restore_confirm=yes", "--dry")
    assert run.returncode == 0, run.output[-3000:]
    assert "snapshot restore" in run.output
    for node in bk.nodes:
        assert out(node, "systemctl is-active etcd") == "active"
        # the data dir and no copy aside (/var/lib/etcd-deploy holds the run lock)
        assert out(node, "ls -d /var/lib/etcd /var/lib/etcd.* 2>/dev/null || true") == (
            "/var/lib/etcd"
        )
        assert value(node, "e2e/after-snapshot") == "lost"
    assert cluster_id(first) == before


def test_restore_takes_the_cluster_back_to_the_snapshot(bk: Bed):
    first = bk.nodes[0]
    before = cluster_id(first)
    run = restore(bk, taken["snapshot"], "--data", "etcd_restore_confirm=yes", "-vvv")
    assert run.returncode == 0, run.output[-6000:]
    assert "restart every kube-apiserver" in run.output  # etcdctl 3.4.23: no revision bump
    # The snapshot (every Secret) went member to member without showing in any output.
    assert not [t for t in traces(CANARY) if t in run.output]
    assert value(bk.nodes[2], "e2e/secret") == CANARY.decode()
    for node in bk.nodes:
        assert value(node, "e2e/before-snapshot") == "kept"
        assert value(node, "e2e/after-snapshot") == ""
        aside = out(node, "ls -d /var/lib/etcd.before-restore-*").split()
        assert len(aside) == 1, aside
        assert out(node, f"test -d {aside[0]}/member/wal && echo kept") == "kept"
        assert out(node, "stat -c '%a %U' /var/lib/etcd") == "700 root"
        assert not [n for n in snapshots(node) if n.startswith(".")]  # staged copies removed
    assert cluster_id(first) != before  # a new cluster (new token)
    assert_no_changes(bk)


FAILING_TOOL = "mount --bind /bin/false /usr/bin/etcdctl"  # the restore tool fails here


def test_a_restore_that_fails_on_one_member_loses_nothing_and_the_next_run_finishes(bk: Bed):
    """infra2's restore fails after its data dir went aside (its etcdctl fails, standing for
    a full disk): no member starts, every old data dir is kept, the lock is given back, and
    the next restore.py completes with the snapshot's data."""
    first, _, third = bk.nodes
    assert etcdctl(first, bk.endpoints(), "put e2e/in-second-snapshot kept").returncode == 0
    snapshot = take_snapshot(first)
    assert etcdctl(first, bk.endpoints(), "put e2e/after-second-snapshot lost").returncode == 0
    asides = {n.container: out(n, "ls -d /var/lib/etcd.before-restore-*").split() for n in bk.nodes}
    assert sh(third, FAILING_TOOL).returncode == 0
    try:
        run = restore(bk, snapshot, "--data", "etcd_restore_confirm=yes")
    finally:
        assert sh(third, "umount /usr/bin/etcdctl").returncode == 0
    assert run.returncode != 0
    assert "restore stopped before start" in run.output, run.output[-4000:]
    for node in bk.nodes:  # nothing started on a half-restored cluster; old data all kept
        assert out(node, "systemctl is-active etcd || true") != "active", node.container
        new = set(out(node, "ls -d /var/lib/etcd.before-restore-*").split()) - set(
            asides[node.container]
        )
        assert len(new) == 1, (node.container, new)
        assert out(node, f"test -d {new.pop()}/member/wal && echo kept") == "kept"
    run = restore(bk, snapshot, "--data", "etcd_restore_confirm=yes")
    assert run.returncode == 0, run.output[-6000:]
    for node in bk.nodes:
        assert value(node, "e2e/in-second-snapshot") == "kept"
        assert value(node, "e2e/before-snapshot") == "kept"
        assert value(node, "e2e/after-second-snapshot") == ""
    assert_no_changes(bk)


def test_quorum_loss_is_recovered_from_the_survivors_latest_snapshot(bk: Bed):
    survivor, *lost = bk.nodes
    for n in range(20):
        assert etcdctl(survivor, bk.endpoints(), f"put e2e/q/{n} v{n}").returncode == 0
    take_snapshot(survivor)
    for node in lost:
        sh(node, "systemctl stop etcd && rm -rf /var/lib/etcd")
        assert out(node, "systemctl is-active etcd || true") != "active"
    assert etcdctl(survivor, endpoint(survivor), "put e2e/no-quorum x").returncode != 0
    latest = f"{BACKUPS}/{snapshots(survivor)[-1]}"
    run = restore(bk, latest, "--data", "etcd_restore_confirm=yes")
    assert run.returncode == 0, run.output[-6000:]
    for node in bk.nodes:
        assert [value(node, f"e2e/q/{n}") for n in range(20)] == [f"v{n}" for n in range(20)]
        assert value(node, "e2e/before-snapshot") == "kept"
    assert_healthy_cluster(bk, deploy_ok(bk.inventory))
    assert_no_changes(bk)
