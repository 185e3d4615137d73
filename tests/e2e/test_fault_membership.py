"""Faults in the middle of lifecycle changes (systemd runtime): ca.key is never lost, and
no membership change or upgrade happens without a verified snapshot from the same run.

One bed of five hosts, named ``infra<index>`` whatever the inventory's order, in file
order: four members; a fifth host added, then an upgrade to 3.5.16 (``sandbox.releases``),
while the executor's backup dir is read-only (each run fails naming the host and the
reason; no member is added or restarted); a swap of the first member (the old first stays
a member) whose new first member's PKI dir is read-only, under the poller (ca.key kept,
then moved by the next run); removing the first member while the new first member's PKI
dir is read-only, under the poller (the same); the new first member's last step failing
after the old first member was retired (ca.key stays there until a run completes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sandbox import bed, releases
from tests.e2e.conftest import (
    PKI,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    pyinfra,
    running_args,
    sh,
)
from tests.e2e.test_membership import keys_on, member_names, put_keys, view, write
from tests.e2e.test_upgrade import release_data

pytestmark = pytest.mark.e2e

CA_KEY = f"{PKI}/etcd/ca.key"
BACKUPS = "/var/backups/etcd"


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-cakey", 5, subnet_index=60)


@contextmanager
def read_only(node: bed.Node, path: str) -> Iterator[None]:
    """``path`` turns read-only on ``node`` (a failing disk), its content still visible."""
    mount = f"mount --bind {path} {path} && mount -o remount,bind,ro {path}"
    assert sh(node, mount).returncode == 0
    try:
        yield
    finally:
        assert sh(node, f"umount {path}").returncode == 0


def ca_key_holders(b: Bed) -> list[int]:
    return [i for i, n in enumerate(b.nodes) if sh(n, f"test -e {CA_KEY}").returncode == 0]


def ca_key_matches_ca_crt(node: bed.Node) -> bool:
    key = out(node, f"openssl pkey -in {CA_KEY} -pubout | sha256sum")
    cert = out(node, f"openssl x509 -in {PKI}/etcd/ca.crt -noout -pubkey | sha256sum")
    return key == cert


def test_four_members(five: Bed):
    run = deploy_ok(write(five, "four.py", [0, 1, 2, 3]))
    assert_healthy_cluster(view(five, [0, 1, 2, 3]), run)
    put_keys(five.nodes[0], "e2e/fault")
    assert ca_key_holders(five) == [0]


def test_no_snapshot_no_membership_change(five: Bed):
    """The executor (infra0) cannot write its snapshot: every host fails at the gate."""
    members = [five.nodes[i] for i in (0, 1, 2, 3)]
    times = {n.container: etcd_times(n) for n in members}
    with read_only(five.nodes[0], BACKUPS):
        run = pyinfra(write(five, "grow.py", [0, 1, 2, 3, 4]))
    assert run.returncode != 0, run.output[-3000:]
    assert "no verified snapshot from this run" in run.output, run.output[-3000:]
    assert f"{five.nodes[0].pyinfra_host}: " in run.output
    assert "Read-only file system" in run.output
    assert member_names(five.nodes[1]) == ["infra0", "infra1", "infra2", "infra3"]
    assert {n.container: etcd_times(n) for n in members} == times  # nothing restarted
    assert out(five.nodes[4], "systemctl is-active etcd || true") != "active"
    assert ca_key_holders(five) == [0]


def test_no_snapshot_no_upgrade(five: Bed):
    """The same before an upgrade to 3.5.16: no member restarts, each runs Debian's etcd."""
    path, sha256 = releases.archive("3.5.16")
    data = release_data({"3.5.16": (str(path), sha256)}, "3.5.16")
    members = [five.nodes[i] for i in (0, 1, 2, 3)]
    before = {n.container: (etcd_times(n), running_args(n)[0]) for n in members}
    with read_only(five.nodes[0], BACKUPS):
        run = pyinfra(write(five, "upgrade.py", [0, 1, 2, 3], **data))
    assert run.returncode != 0, run.output[-3000:]
    assert "no verified snapshot from this run" in run.output, run.output[-3000:]
    assert f"{five.nodes[0].pyinfra_host}: " in run.output
    assert "Read-only file system" in run.output
    after = {n.container: (etcd_times(n), running_args(n)[0]) for n in members}
    assert after == before and {argv for _, argv in after.values()} == {"/usr/bin/etcd"}


def test_a_swapped_first_member_that_cannot_write_leaves_ca_key_then_gets_it(five: Bed):
    """Inventory order 1, 0, 2, 3: infra1 becomes the first member, infra0 stays."""
    inventory = write(five, "swap.py", [1, 0, 2, 3])
    with ClusterPoller(five.nodes[2], view(five, [0, 1, 2, 3]).endpoints()) as poller:
        with read_only(five.nodes[1], f"{PKI}/etcd"):
            failed = pyinfra(inventory)
        assert failed.returncode != 0 and "Read-only file system" in failed.output
        assert ca_key_holders(five) == [0] and ca_key_matches_ca_crt(five.nodes[0])
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert ca_key_holders(five) == [1] and ca_key_matches_ca_crt(five.nodes[1])
    assert "holds a verified copy" in run.output
    assert member_names(five.nodes[0]) == ["infra0", "infra1", "infra2", "infra3"]
    assert keys_on(five.nodes[3], "e2e/fault") == 20
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_removing_the_first_member_while_the_new_one_cannot_write(five: Bed):
    """infra1 (the first member now) is removed; infra2 becomes the first member."""
    inventory = write(five, "shrink.py", [2, 0, 3], removed=[1], etcd_remove_members=["infra1"])
    with ClusterPoller(five.nodes[0], view(five, [0, 2, 3]).endpoints()) as poller:
        with read_only(five.nodes[2], f"{PKI}/etcd"):
            failed = pyinfra(inventory)
        assert failed.returncode != 0 and "Read-only file system" in failed.output
        assert ca_key_holders(five) == [1] and ca_key_matches_ca_crt(five.nodes[1])
        assert member_names(five.nodes[0]) == ["infra0", "infra1", "infra2", "infra3"]
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert_healthy_cluster(view(five, [2, 0, 3]), run)
    assert member_names(five.nodes[0]) == ["infra0", "infra2", "infra3"]
    assert ca_key_holders(five) == [2] and ca_key_matches_ca_crt(five.nodes[2])
    gone = five.nodes[1]
    assert out(gone, "systemctl is-enabled etcd || true") == "disabled"
    assert sh(gone, f"ls {PKI}/etcd/*.key {PKI}/*.key").returncode != 0
    assert keys_on(five.nodes[3], "e2e/fault") == 20
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_a_first_member_that_fails_after_the_old_one_retired_leaves_ca_key_there(five: Bed):
    """infra2 (the first member now) is removed and infra4 added; the new first member,
    infra0, fails at the run's hand-off (etcd-external.yaml cannot be written), after the
    retire: the retired infra2 keeps ca.key until a run completes."""
    members, removed, removing = [0, 3, 4], [2], ["infra2"]
    with ClusterPoller(five.nodes[0], view(five, [0, 3]).endpoints()) as poller:
        unwritable = write(
            five,
            "fails-late.py",
            members,
            removed,
            etcd_remove_members=removing,
            etcd_external_config_path="/nonexistent/etcd-external.yaml",
        )
        failed = pyinfra(unwritable)
        assert failed.returncode != 0, failed.output[-3000:]
        assert "stays on" in failed.output and "failed in this run" in failed.output
        assert ca_key_holders(five) == [0, 2]
        assert ca_key_matches_ca_crt(five.nodes[0]) and ca_key_matches_ca_crt(five.nodes[2])
        assert member_names(five.nodes[0]) == ["infra0", "infra3", "infra4"]
        inventory = write(five, "completes.py", members, removed, etcd_remove_members=removing)
        deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert ca_key_holders(five) == [0]
    assert keys_on(five.nodes[4], "e2e/fault") == 20
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
