"""Three members, etcd_runtime=static-pod (the guide's way), end to end.

kubeadm, kubelet, crictl and containerd are STAND-INS here (tests/standins): the real
ones cannot be installed on our machines. The stand-in kubelet runs the real etcd
binary with the static pod manifest's command, so the cluster checked is a real
three-member etcd cluster over mutual TLS. The stand-ins are installed before any
deploy. The kubelet's event log (``standins.events``) records every container start
and stop with a timestamp, for ordering checks across members.
"""

from __future__ import annotations

import time

import pytest

from tests import standins
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    make_bed,
    out,
    pyinfra,
)

pytestmark = pytest.mark.e2e

# path -> mode, as kubeadm and the guide leave them
KUBELET_AND_MANIFEST_MODES = {
    "/etc/systemd/system/kubelet.service.d/kubelet.conf": "644",
    "/etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf": "644",
    "/etc/kubernetes/manifests": "700",
    "/etc/kubernetes/manifests/etcd.yaml": "600",
    "/var/lib/etcd": "700",
}


@pytest.fixture(scope="module")
def static_pod(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-sp", 3, subnet_index=31):
        for node in b.nodes:
            standins.install(node)
        b.host_data["etcd_runtime"] = "static-pod"
        b.inventory = b.write_inventory("inventory.py")
        yield b


def test_cold_deploy_reaches_a_healthy_cluster_under_the_kubelet(static_pod: Bed):
    run = deploy_ok(static_pod.inventory)
    assert_healthy_cluster(static_pod, run)
    for node in static_pod.nodes:
        for path, mode in KUBELET_AND_MANIFEST_MODES.items():
            assert out(node, f"stat -c %a {path}") == mode, (node.container, path)
        assert out(node, "systemctl is-active kubelet") == "active"
        (container,) = standins.running_containers(node)
        assert container["status"]["state"] == "CONTAINER_RUNNING"
        assert [e.kind for e in standins.events(node)] == ["start"]


def test_rerun_changes_nothing(static_pod: Bed):
    before = {node.container: standins.events(node) for node in static_pod.nodes}
    run = deploy_ok(static_pod.inventory, "--json")
    totals = run.json()["results"]["totals"]
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert totals["success"] == 0, changed
    assert totals["error"] == 0
    assert {node.container: standins.events(node) for node in static_pod.nodes} == before


def test_flag_change_replaces_one_member_at_a_time(static_pod: Bed):
    inventory = static_pod.write_inventory(
        "inventory-flags.py", host_data={"etcd_extra_args": {"snapshot-count": "10001"}}
    )
    before = len(standins.timeline(static_pod.nodes))
    run = deploy_ok(inventory)
    assert_healthy_cluster(static_pod, run)
    steps = [(name, e.kind) for name, e in standins.timeline(static_pod.nodes)[before:]]
    # Each member's old container is gone and its new one started before the next stops.
    assert len(steps) == 2 * len(static_pod.nodes), steps
    for index in range(0, len(steps), 2):
        (stopped, first), (started, second) = steps[index : index + 2]
        assert (first, second, stopped) == ("stop", "start", started), steps
    assert len({name for name, _ in steps}) == len(static_pod.nodes)
    for node in static_pod.nodes:
        (container,) = standins.running_containers(node)
        assert "--snapshot-count=10001" in container["info"]["runtimeSpec"]["process"]["args"]


def running_args(node) -> list[str]:
    (container,) = standins.running_containers(node)
    return container["info"]["runtimeSpec"]["process"]["args"]


def test_a_flag_change_under_load_loses_nothing(static_pod: Bed):
    inventory = static_pod.write_inventory(
        "inventory-load.py", host_data={"etcd_extra_args": {"heartbeat-interval": "150"}}
    )
    with ClusterPoller(static_pod.nodes[0], static_pod.endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "(render)" in run.output
    assert all("--heartbeat-interval=150" in running_args(n) for n in static_pod.nodes)
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def test_a_failing_kubeadm_fails_the_run_and_leaves_that_members_pod(static_pod: Bed):
    broken = static_pod.nodes[1]
    inventory = static_pod.write_inventory(
        "inventory-broken.py", host_data={"etcd_extra_args": {"heartbeat-interval": "200"}}
    )
    standins.set_kubeadm_failure(broken, "error execution phase etcd/local: stand-in failure")
    before = standins.events(broken)
    try:
        run = pyinfra(inventory)
        assert run.returncode != 0
        assert "kubeadm init phase etcd local" in run.output and "stand-in failure" in run.output
        assert standins.events(broken) == before  # its pod was never touched
        assert "--heartbeat-interval=150" in running_args(broken)
    finally:
        standins.set_kubeadm_failure(broken, None)
    run = deploy_ok(inventory)  # the next run completes what the failed one left
    assert_healthy_cluster(static_pod, run)
    assert all("--heartbeat-interval=200" in running_args(n) for n in static_pod.nodes)


def test_a_container_runtime_crictl_cannot_reach_is_refused(static_pod: Bed):
    node = static_pod.nodes[2]
    standins.stop_runtime(node)
    try:
        run = pyinfra(static_pod.inventory)
        assert run.returncode != 0
        assert "container runtime socket /var/run/containerd/containerd.sock" in run.output
        assert "or set `etcd_runtime=systemd`" in run.output  # the way out
    finally:
        standins.start_runtime(node)


def test_metrics_on_the_members_address_through_kubeadm_under_load(static_pod: Bed):
    """etcd_metrics_address=member reaches kubeadm's extraArgs: each pod replaced in turn,
    no failed request, and another member scrapes ``http://<address>:2381/metrics``."""
    inventory = static_pod.write_inventory(
        "inventory-metrics.py",
        host_data={
            "etcd_extra_args": {"heartbeat-interval": "200"},
            "etcd_metrics_address": "member",
        },
    )
    with ClusterPoller(static_pod.nodes[0], static_pod.endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5 and poller.failures == [], poller.failures
    assert_healthy_cluster(static_pod, run)
    nodes = static_pod.nodes
    for scraper, member in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        urls = f"http://127.0.0.1:2381,http://{member.address}:2381"
        assert f"--listen-metrics-urls={urls}" in running_args(member)
        url = f"http://{member.address}:2381/metrics"
        assert "etcd_server_has_leader 1" in out(scraper, f"curl -fsS --max-time 5 {url}")
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
