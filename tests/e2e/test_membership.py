"""Membership from the inventory (systemd runtime): learners added, members removed, the
first member replaced, a lost member re-synced; refusals that change nothing.

One bed of six hosts, each keeping the name ``infra<index>`` whatever the inventory's
order, in file order: 1 -> 3; 3 -> 5 under a write/read poller (existing members not
restarted); refusals (an unnamed removal, a removal that would lose quorum); 5 -> 3
removing two members including the first (ca.key moves, data moved aside); removing
the first member and adding another host in one run under the poller; a member whose
data dir was wiped (refused, then replaced and re-synced); a replacement while another
member is down (refused).
"""

from __future__ import annotations

import pprint
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from sandbox import bed
from tests.e2e.conftest import (
    PKI,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    sh,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-members", 6, subnet_index=17)


def write(b: Bed, name: str, members: list[int], removed: Sequence[int] = (), **data) -> Path:
    """An inventory of ``members`` (bed indices) named infra<index>, plus group etcd_removed."""
    nodes = [b.nodes[i] for i in members]
    entries = bed.inventory(nodes, {**b.host_data, **data}, [f"infra{i}" for i in members])
    gone = [(b.nodes[i].pyinfra_host, {"etcd_name": f"infra{i}"}) for i in removed]
    path = b.workdir / name
    path.write_text(f"etcd = {pprint.pformat(entries)}\netcd_removed = {pprint.pformat(gone)}\n")
    return path


def view(b: Bed, members: list[int]) -> Bed:
    return Bed([b.nodes[i] for i in members], b.inventory, b.workdir, b.host_data)


def member_names(node: bed.Node) -> list[str]:
    """(name, learner?) of every member, as etcd lists them."""
    listing = etcdctl(node, endpoint(node), "member list").stdout.decode()
    return sorted(
        line.split(", ")[2] + (" learner" if "true" in line.split(", ")[-1] else "")
        for line in listing.splitlines()
    )


def keys_on(node: bed.Node, prefix: str) -> int:
    got = etcdctl(node, endpoint(node), f"get --prefix --keys-only --consistency=s {prefix}")
    return len([line for line in got.stdout.decode().splitlines() if line.strip()])


def put_keys(node: bed.Node, prefix: str, count: int = 20) -> None:
    for i in range(count):
        assert etcdctl(node, endpoint(node), f"put {prefix}/{i} v{i}").returncode == 0


def test_one_member_grows_to_three(six: Bed):
    deploy_ok(write(six, "one.py", [0]))
    put_keys(six.nodes[0], "e2e/one")
    run = deploy_ok(write(six, "three.py", [0, 1, 2]))
    assert "membership: add infra1" in run.output and "membership: add infra2" in run.output
    assert_healthy_cluster(view(six, [0, 1, 2]), run)
    assert member_names(six.nodes[0]) == ["infra0", "infra1", "infra2"]
    assert keys_on(six.nodes[2], "e2e/one") == 20
    rerun = deploy_ok(write(six, "three.py", [0, 1, 2]), "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_three_grow_to_five_under_load_without_restarting_anyone(six: Bed):
    old = [six.nodes[i] for i in (0, 1, 2)]
    times = {n.container: etcd_times(n) for n in old}
    inventory = write(six, "five.py", [0, 1, 2, 3, 4])
    with ClusterPoller(six.nodes[0], view(six, [0, 1, 2]).endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert {n.container: etcd_times(n) for n in old} == times, run.output[-3000:]
    assert member_names(six.nodes[4]) == [f"infra{i}" for i in range(5)]
    assert keys_on(six.nodes[3], "e2e/one") == 20 and keys_on(six.nodes[4], "e2e/one") == 20
    assert keys_on(six.nodes[4], "poll") > 0
    assert (
        out(six.nodes[3], "grep -c initial-cluster-state=existing /etc/systemd/system/etcd.service")
        == "1"
    )
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def unchanged(b: Bed) -> dict[str, str]:
    return {
        n.container: out(n, "systemctl is-active etcd; md5sum /etc/kubernetes/kubeadmcfg.yaml")
        for n in b.nodes[:5]
    }


def test_an_unnamed_removal_and_one_that_loses_quorum_are_refused(six: Bed):
    before = unchanged(six)
    run = pyinfra(write(six, "unnamed.py", [1, 2, 3, 4]))
    assert run.returncode != 0 and "member infra0 is not in the inventory" in run.output
    assert unchanged(six) == before
    for node in (six.nodes[3], six.nodes[4]):
        assert sh(node, "systemctl stop etcd").returncode == 0
    try:
        run = pyinfra(write(six, "quorum.py", [1, 2, 3, 4], etcd_remove_members=["infra0"]))
        assert run.returncode != 0 and "needed for quorum" in run.output, run.output[-3000:]
        assert member_names(six.nodes[0]) == [f"infra{i}" for i in range(5)]
    finally:
        for node in (six.nodes[3], six.nodes[4]):
            sh(node, "systemctl start etcd")


def test_five_shrink_to_three_removing_the_first_member(six: Bed):
    put_keys(six.nodes[1], "e2e/five")
    inventory = write(
        six, "shrink.py", [1, 2, 3], removed=[0, 4], etcd_remove_members=["infra0", "infra4"]
    )
    run = deploy_ok(inventory)
    assert_healthy_cluster(view(six, [1, 2, 3]), run)
    assert member_names(six.nodes[1]) == ["infra1", "infra2", "infra3"]
    # ca.key moved to the new first member and is nowhere else
    holders = [
        i for i in range(6) if sh(six.nodes[i], f"test -e {PKI}/etcd/ca.key").returncode == 0
    ]
    assert holders == [1]
    for i in (0, 4):
        gone = six.nodes[i]
        assert out(gone, "systemctl is-active etcd || true") in ("inactive", "failed")
        assert out(gone, "systemctl is-enabled etcd || true") == "disabled"
        assert out(gone, "ls -d /var/lib/etcd.removed-*/member").count("member") == 1
        assert sh(gone, f"ls {PKI}/etcd/*.key {PKI}/*.key").returncode != 0
    assert keys_on(six.nodes[3], "e2e/five") == 20
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_remove_the_first_member_and_add_a_host_in_one_run_under_load(six: Bed):
    inventory = write(six, "swap.py", [2, 3, 5], removed=[1], etcd_remove_members=["infra1"])
    with ClusterPoller(six.nodes[2], view(six, [2, 3]).endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert run.output.index("remove infra1") < run.output.index("add infra5")
    assert member_names(six.nodes[2]) == ["infra2", "infra3", "infra5"]
    assert keys_on(six.nodes[5], "e2e/five") == 20
    holders = [
        i for i in range(6) if sh(six.nodes[i], f"test -e {PKI}/etcd/ca.key").returncode == 0
    ]
    assert holders == [2]
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_a_member_whose_data_was_wiped_is_refused_then_replaced(six: Bed):
    lost = six.nodes[3]
    assert sh(lost, "systemctl stop etcd && rm -rf /var/lib/etcd/member").returncode == 0
    run = pyinfra(write(six, "lost.py", [2, 3, 5]))
    assert run.returncode != 0 and "infra3" in run.output and "etcd_replace_members" in run.output
    # and not while another member is down: only one healthy voter would be left
    assert sh(six.nodes[5], "systemctl stop etcd").returncode == 0
    try:
        run = pyinfra(write(six, "down.py", [2, 3, 5], etcd_replace_members=["infra3"]))
        assert run.returncode != 0 and "needed for quorum" in run.output, run.output[-3000:]
    finally:
        sh(six.nodes[5], "systemctl start etcd")
    run = deploy_ok(write(six, "replace.py", [2, 3, 5], etcd_replace_members=["infra3"]))
    assert_healthy_cluster(view(six, [2, 3, 5]), run)
    assert member_names(six.nodes[2]) == ["infra2", "infra3", "infra5"]
    assert keys_on(lost, "e2e/five") == 20 and keys_on(lost, "e2e/one") == 20
