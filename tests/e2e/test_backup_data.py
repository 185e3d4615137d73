"""Data dirs and backups, end to end: three members, systemd runtime, real etcd 3.4.

Every member's data dir is its own mount (a tmpfs at /var/lib/etcd stands for a dedicated
disk, as operators often give etcd). The tests run in file order on one bed: ``wal-dir``
is refused before any host changes; the deploy works on the mounts; ``restore.py``
brings the cluster back to a snapshot with every mount point still a mount (the old data
kept aside inside it); a member whose backup service fails (a read-only backup dir) is
named by the run's warning and the status table; a newest snapshot older than two
schedule intervals (``touch -d``) is named too. Nothing here is a stand-in.
"""

from __future__ import annotations

import pprint

import pytest

from sandbox import bed
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    sh,
    untouched,
)
from tests.e2e.test_backup_restore import (
    BACKUPS,
    assert_no_changes,
    restore_source,
    take_snapshot,
    value,
)

pytestmark = pytest.mark.e2e

DATA = "/var/lib/etcd"


@pytest.fixture(scope="module")
def bd(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-bd", 3, subnet_index=90):
        for node in b.nodes:  # a dedicated disk for etcd's data on every member
            out(node, f"mkdir -p {DATA} && mount -t tmpfs -o mode=0700 tmpfs {DATA}")
        yield b


def is_mount(node, path: str = DATA) -> bool:
    return sh(node, f"mountpoint -q {path}").returncode == 0


def status_row(run_output: str, member: str) -> str:
    table = run_output.split("etcd cluster status:", 1)[1]
    (row,) = [line for line in table.splitlines() if line.startswith(f"{member} ")][:1]
    return row


def test_wal_dir_is_refused_on_any_host_before_any_host_changes(bd: Bed):
    entries = bed.inventory(bd.nodes, bd.host_data)
    entries[1][1]["etcd_extra_args"] = {"wal-dir": "/var/lib/etcd-wal"}
    inventory = bd.workdir / "inventory-wal-dir.py"
    inventory.write_text(f"etcd = {pprint.pformat(entries, sort_dicts=False)}\n")
    run = pyinfra(inventory)
    assert run.returncode != 0
    host = bd.nodes[1].pyinfra_host
    assert f"host {host}: etcd_extra_args: wal-dir='/var/lib/etcd-wal' is not supported" in (
        run.output
    ), run.output[-3000:]
    assert all(untouched(node) for node in bd.nodes)


def test_the_deploy_runs_on_data_dirs_that_are_mounts(bd: Bed):
    run = deploy_ok(bd.inventory)
    assert_healthy_cluster(bd, run)
    assert "etcd backups:" not in run.output  # a new timer, no run missed yet
    for node in bd.nodes:
        assert is_mount(node)
        assert out(node, f"test -d {DATA}/member/wal && echo ok") == "ok"


def test_restore_keeps_every_mount_point_and_the_old_data_inside_it(bd: Bed):
    first = bd.nodes[0]
    assert etcdctl(first, bd.endpoints(), "put e2e/before-snapshot kept").returncode == 0
    snapshot = restore_source(first)
    assert etcdctl(first, bd.endpoints(), "put e2e/after-snapshot lost").returncode == 0
    run = pyinfra(
        bd.inventory,
        "--data",
        f"etcd_restore_snapshot={snapshot}",
        "--data",
        "etcd_restore_confirm=yes",
        deploy="restore.py",
    )
    assert run.returncode == 0, run.output[-6000:]
    assert f"move the contents of {DATA} aside to {DATA}/.before-restore-" in run.output
    assert f"({DATA} is a mount point: it stays)" in run.output
    for node in bd.nodes:
        assert is_mount(node), node.container  # the disk is still mounted where it was
        assert value(node, "e2e/before-snapshot") == "kept"
        assert value(node, "e2e/after-snapshot") == ""
        (aside,) = out(node, f"ls -d {DATA}/.before-restore-*").split()
        assert out(node, f"test -d {aside}/member/wal && echo kept") == "kept"
        assert out(node, f"ls -d {DATA}.* 2>/dev/null || true") == ""  # nothing beside the mount
        assert out(node, f"stat -c '%a %U' {DATA}") == "700 root"
    assert_healthy_cluster(bd, deploy_ok(bd.inventory))
    assert_no_changes(bd)


def test_a_failed_backup_run_is_named_by_the_run_and_the_table(bd: Bed):
    node, host = bd.nodes[1], bd.nodes[1].pyinfra_host
    # A failing disk under the backup dir (same mode and owner: the deploy sees no drift).
    out(node, f"mount -t tmpfs -o ro,mode=0700 tmpfs {BACKUPS}")
    try:
        assert sh(node, "systemctl start etcd-backup.service").returncode != 0
        run = deploy_ok(bd.inventory)
        warning = f"etcd backups: member infra1 ({host}): the last etcd-backup.service run failed"
        assert warning in run.output, run.output[-3000:]
        assert "exit-code" in run.output.split(warning, 1)[1].splitlines()[0]
        assert status_row(run.output, "infra1").split()[-1] == "FAILED"
        assert status_row(run.output, "infra0").split()[-1] in ("ok", "-")
    finally:
        out(node, f"umount {BACKUPS}")
    take_snapshot(node)
    run = deploy_ok(bd.inventory)
    assert "etcd backups:" not in run.output, run.output[-3000:]
    assert status_row(run.output, "infra1").split()[-1] == "ok"


def test_a_newest_snapshot_older_than_two_intervals_is_named(bd: Bed):
    node, host = bd.nodes[2], bd.nodes[2].pyinfra_host
    newest = take_snapshot(node)
    out(node, f"touch -d '-6 hours' {BACKUPS}/etcd-snapshot-infra2-*Z.db")
    out(node, f"touch -d '-5 hours' {newest}")
    run = deploy_ok(bd.inventory)
    name = newest.rsplit("/", 1)[1]
    warning = f"etcd backups: member infra2 ({host}): its newest snapshot {name} is 5h0"
    assert warning in run.output, run.output[-3000:]
    assert "m old, older than two intervals of etcd_backup_schedule='hourly'" in run.output
    assert "(old)" in status_row(run.output, "infra2")
    take_snapshot(node)  # a fresh snapshot: the warning goes away
    assert "etcd backups:" not in deploy_ok(bd.inventory).output


def test_a_removed_member_is_retired_under_load_and_its_mount_point_stays(bd: Bed):
    stay, gone = bd.nodes[:2], bd.nodes[2]
    entries = bed.inventory(stay, {**bd.host_data, "etcd_remove_members": ["infra2"]})
    removed = [(gone.pyinfra_host, {"etcd_name": "infra2"})]
    inventory = bd.workdir / "inventory-retire.py"
    inventory.write_text(
        f"etcd = {pprint.pformat(entries, sort_dicts=False)}\n"
        f"etcd_removed = {pprint.pformat(removed)}\n"
    )
    two = Bed(stay, inventory, bd.workdir, bd.host_data)
    with ClusterPoller(stay[0], two.endpoints()) as poller:
        run = deploy_ok(inventory)
    assert poller.failures == [] and poller.ok > 0, poller.failures
    assert_healthy_cluster(two, run)
    assert is_mount(gone)
    (aside,) = out(gone, f"ls -d {DATA}/.removed-*").split()
    assert out(gone, f"test -d {aside}/member/wal && echo kept") == "kept"
    assert out(gone, f"ls -A {DATA}").split() == sorted(
        [aside.rsplit("/", 1)[1], *out(gone, f"ls -A {DATA} | grep before-restore").split()]
    )
    assert out(gone, "systemctl is-active etcd || true") in ("inactive", "failed")
    before_change = [
        out(node, f"ls {BACKUPS} | grep -c -- '-before-membership-change.db$' || true")
        for node in stay
    ]
    assert "1" in before_change, before_change  # the snapshot before the change
    assert_no_changes(two)
