"""Three members, etcd_runtime=static-pod (the guide's way), end to end.

kubeadm, kubelet, crictl and containerd are STAND-INS here (tests/standins): the real
ones cannot be installed on our machines. The stand-in kubelet runs the real etcd
binary with the static pod manifest's command, so the cluster checked is a real
three-member etcd cluster over mutual TLS. The stand-ins are installed before any
deploy. The kubelet's event log (``standins.events``) records every container start
and stop with a timestamp, for ordering checks across members.
"""

from __future__ import annotations

import pytest

from tests import standins
from tests.e2e.conftest import Bed, assert_healthy_cluster, deploy_ok, make_bed, out

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
