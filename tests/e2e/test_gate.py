"""The quorum gate never guesses; a member joins a cluster holding 100 MB (systemd runtime).

One bed of four hosts, three of them members at first, in file order:
- a member its peers reach but the prober (on the first member) cannot, while another
  member is down and cannot start: a flag change that wants it restarted refuses, naming
  why; it is not restarted (its etcd start time unchanged) and quorum holds. With the
  faults gone, the next run completes the change one member at a time under the poller;
- 100 MB of values written, then the fourth host joins through the inventory under the
  poller (etcd.service waits for a catching-up member beyond systemd's 90 s default);
- the hosts reset to static-pod members (stand-ins, see that test), one removed: its
  manifest leaves kubelet's directory and its container is gone for good.
"""

from __future__ import annotations

import json
import time

import pytest

from tests import standins
from tests.e2e.conftest import (
    CLIENT_TLS,
    PORT_HOLDER,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    assert_restarted_one_at_a_time,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    reset,
    running_args,
    sh,
)
from tests.e2e.test_membership import write

pytestmark = pytest.mark.e2e

NEW_FLAG = "--heartbeat-interval=150"
DROP_PROBER = "iptables -{op} INPUT -p tcp --dport 2379 -s {prober} -j DROP"
BIG_KEYS = 100  # of 1 MiB each (etcd takes requests up to 1.5 MiB)


@pytest.fixture(scope="module")
def bed4(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-gate", 4, subnet_index=85)


def members(b: Bed, count: int) -> Bed:
    """The first ``count`` hosts of the bed as the cluster (named infra<index>)."""
    return Bed(b.nodes[:count], b.inventory, b.workdir, b.host_data)


def test_deploy_three(bed4: Bed):
    three = members(bed4, 3)
    assert_healthy_cluster(three, deploy_ok(three.write_inventory("three.py")))


def test_a_running_member_the_prober_cannot_reach_is_not_restarted_without_quorum(bed4: Bed):
    three = members(bed4, 3)
    first, silent, down = three.nodes
    changed = three.write_inventory(
        "flag.py",
        host_data={"etcd_extra_args": {"heartbeat-interval": "150"}, "etcd_health_timeout": 10},
    )
    assert etcdctl(first, three.endpoints(), "put e2e/before-gate kept").returncode == 0
    drop = DROP_PROBER.format(prober=first.address, op="{op}")
    # down, and the deploy cannot start it: its peer port held (a blocking drop-in would be
    # moved aside by the deploy, which owns etcd's effective unit)
    assert sh(down, "systemctl stop etcd").returncode == 0
    holder = out(down, PORT_HOLDER.format(address=down.address))
    assert sh(silent, drop.format(op="A")).returncode == 0
    try:
        # The prober cannot reach infra1; infra1 and its peer infra0 still make a quorum.
        assert etcdctl(first, endpoint(silent), "endpoint health").returncode != 0
        assert etcdctl(silent, endpoint(silent), "put e2e/during-gate kept").returncode == 0
        before = {n.container: etcd_times(n) for n in (first, silent)}
        run = pyinfra(changed)
        assert run.returncode != 0
        refusals = [line for line in run.output.splitlines() if "not restarting infra1" in line]
        assert len(refusals) == 1, run.output[-5000:]
        refusal = refusals[0]
        assert "infra1's etcd runs but its endpoint does not answer here" in refusal, refusal
        assert "needed to keep quorum while infra1 restarts" in refusal, refusal
        assert "restarting etcd member" not in run.output
        assert {n.container: etcd_times(n) for n in (first, silent)} == before
        for node in (first, silent):  # the unit says so, the processes still run the old flags
            assert NEW_FLAG in out(node, "cat /etc/systemd/system/etcd.service")
            assert NEW_FLAG not in running_args(node), node.container
        got = etcdctl(first, endpoint(first), "get --print-value-only e2e/during-gate")
        assert got.stdout.decode().strip() == "kept"  # quorum kept
    finally:
        sh(silent, drop.format(op="D"))
        sh(down, f"kill {holder}")
    times_before = {n.container: etcd_times(n) for n in (first, silent)}
    flag = three.write_inventory(
        "flag-again.py", host_data={"etcd_extra_args": {"heartbeat-interval": "150"}}
    )
    with ClusterPoller(first, three.endpoints()) as poller:
        run = deploy_ok(flag)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    for node in three.nodes:
        assert NEW_FLAG in running_args(node), node.container
    times_after = {n.container: etcd_times(n) for n in (first, silent)}
    assert_restarted_one_at_a_time(times_before, times_after, run.output)
    for node in three.nodes:
        for key in ("e2e/before-gate", "e2e/during-gate"):
            got = etcdctl(node, endpoint(node), f"get --print-value-only {key}")
            assert got.stdout.decode().strip() == "kept", (node.container, key)
    rerun = deploy_ok(flag, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


WRITE_BIG = (
    "set -e; head -c 1048576 /dev/urandom >/tmp/value; "
    "for i in $(seq 1 {count}); do "
    "ETCDCTL_API=3 etcdctl --command-timeout=30s {tls} --endpoints={endpoints} "
    "put big/$i </tmp/value >/dev/null; done; rm -f /tmp/value"
)


def test_a_member_joins_a_cluster_holding_100_mb(bed4: Bed):
    three, four = members(bed4, 3), members(bed4, 4)
    first, joining = bed4.nodes[0], bed4.nodes[3]
    big = WRITE_BIG.format(count=BIG_KEYS, tls=CLIENT_TLS, endpoints=endpoint(first))
    written = sh(first, big)
    assert written.returncode == 0, written.stderr.decode()[-2000:]
    status = json.loads(etcdctl(first, endpoint(first), "endpoint status -w json").stdout)
    assert status[0]["Status"]["dbSize"] >= 100 * 2**20
    flag = {"etcd_extra_args": {"heartbeat-interval": "150"}}
    with ClusterPoller(first, three.endpoints()) as poller:
        run = deploy_ok(four.write_inventory("four.py", host_data=flag))
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "promoted infra3 to a voting member" in run.output, run.output[-3000:]
    assert_healthy_cluster(four, run)
    assert out(joining, "systemctl show -p TimeoutStartUSec --value etcd") == "15min"
    got = etcdctl(
        joining, endpoint(joining), "get --prefix --keys-only --consistency=s big/ -w json"
    )
    assert json.loads(got.stdout).get("count") == BIG_KEYS
    joined = json.loads(etcdctl(joining, endpoint(joining), "endpoint status -w json").stdout)
    assert joined[0]["Status"]["dbSize"] >= 100 * 2**20
    listing = etcdctl(joining, endpoint(joining), "member list -w json").stdout
    assert sorted(m["name"] for m in json.loads(listing)["members"]) == [
        "infra0",
        "infra1",
        "infra2",
        "infra3",
    ]
    assert not any(m.get("isLearner") for m in json.loads(listing)["members"])
    rerun = deploy_ok(four.write_inventory("four.py", host_data=flag), "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_retire_on_static_pod_takes_the_pod_down_for_good(bed4: Bed):
    """Static-pod runtime: kubeadm, kubelet, crictl and containerd are STAND-INS here
    (tests/standins; the kubelet runs the real etcd as the pod's container). A removed
    member's manifest leaves kubelet's directory and its container is gone before its
    data moves aside; kubelet does not start it again."""
    reset(bed4.nodes)
    for node in bed4.nodes[:3]:
        standins.install(node)
    pods = Bed(
        bed4.nodes[:3],
        bed4.inventory,
        bed4.workdir,
        {**bed4.host_data, "etcd_runtime": "static-pod"},
    )
    assert_healthy_cluster(pods, deploy_ok(pods.write_inventory("pods.py")))
    gone = pods.nodes[2]
    assert len(standins.running_containers(gone)) == 1
    two = write(pods, "pods-two.py", [0, 1], removed=[2], etcd_remove_members=["infra2"])
    staying = f"{endpoint(pods.nodes[0])},{endpoint(pods.nodes[1])}"
    with ClusterPoller(pods.nodes[0], staying) as poller:
        run = deploy_ok(two)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "removed member infra2" in run.output, run.output[-3000:]
    assert sh(gone, "test -e /etc/kubernetes/manifests/etcd.yaml").returncode != 0
    kept = out(gone, "ls /etc/kubernetes/tmp/etcd-deploy-removed")
    assert kept.startswith("etcd.yaml.removed-"), kept
    assert standins.running_containers(gone) == []
    seen = standins.events(gone)
    assert seen[-1].kind in ("stop", "exit")  # a removed etcd may exit by itself first
    time.sleep(5)  # a kubelet that still had the manifest would start it again
    assert standins.running_containers(gone) == []
    assert standins.events(gone) == seen
    assert sh(gone, "test -e /var/lib/etcd/member").returncode != 0
    assert out(gone, "ls -d /var/lib/etcd.removed-*")  # moved aside, kept
    listing = etcdctl(pods.nodes[0], endpoint(pods.nodes[0]), "member list -w json").stdout
    assert sorted(m["name"] for m in json.loads(listing)["members"]) == ["infra0", "infra1"]
    rerun = deploy_ok(two, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
