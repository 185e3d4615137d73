"""The static-pod stand-ins behave like kubeadm, kubelet and crictl (one bed container).

kubeadm, kubelet, crictl and containerd here are STAND-INS (tests/standins): the
real ones cannot be installed on our machines. The "container" they run is the real
etcd binary, so the cluster checked is a real etcd over mutual TLS. Tests run in file
order on one member: kubeadm alone first, then the real deploy (etcd_runtime=
static-pod) brings etcd up under the stand-in kubelet, then each kubelet behaviour
the deploy's restart logic depends on.
"""

from __future__ import annotations

import time

import pytest
import yaml

from etcd_cluster.defaults import DEFAULTS
from etcd_cluster.engine.templates import render
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd.cluster import MemberInput, build_cluster
from etcd_cluster.etcd.flags import etcd_command
from etcd_cluster.settings import settings_from_data
from tests import standins
from tests.e2e.conftest import (
    Bed,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcdctl,
    make_bed,
    out,
    sh,
)

pytestmark = pytest.mark.e2e

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-sp-unit", 1, subnet_index=30):
        standins.install(b.nodes[0])
        b.host_data["etcd_runtime"] = "static-pod"
        b.inventory = b.write_inventory("inventory.py")
        yield b


def wait_for(condition, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def new_events(b: Bed, since: int) -> list[standins.Event]:
    return [e for e in standins.events(b.nodes[0]) if e.ns > since]


def now_ns(b: Bed) -> int:
    return int(out(b.nodes[0], "date +%s%N"))


def etcd_healthy(b: Bed) -> bool:
    node = b.nodes[0]
    return etcdctl(node, endpoint(node), "endpoint health").returncode == 0


def test_kubeadm_writes_the_manifest_for_a_rendered_config(one: Bed):
    node = one.nodes[0]
    assert out(node, "kubeadm version -o short") == "v1.34.1"
    assert out(node, "kubelet --version") == "Kubernetes v1.34.1"
    assert sh(node, "kubeadm init").returncode == 2
    settings = settings_from_data({**DEFAULTS, **one.host_data}.get)
    cluster = build_cluster([MemberInput(node.pyinfra_host, address=node.address)], settings)
    config = render(kc.KUBEADM_CONFIG_TEMPLATE, **kc.kubeadm_config_context(cluster, cluster.first))
    sh(node, "cat > /root/kubeadmcfg.yaml", stdin=config.encode())
    assert out(node, "kubeadm init phase etcd local --config /root/kubeadmcfg.yaml")
    assert out(node, "stat -c %a /etc/kubernetes/manifests") == "700"
    assert out(node, f"stat -c %a {MANIFEST}") == "600"
    pod = yaml.safe_load(out(node, f"cat {MANIFEST}"))
    assert (pod["metadata"]["name"], pod["metadata"]["namespace"]) == ("etcd", "kube-system")
    (container,) = pod["spec"]["containers"]
    assert container["command"] == etcd_command(cluster, cluster.first, "3.4.23")
    assert container["image"] == "registry.k8s.io/etcd:3.5.24-0"
    # The deploy's first start runs kubeadm itself: leave no manifest behind.
    sh(node, "rm -rf /etc/kubernetes")


def test_static_pod_deploy_runs_etcd_under_the_kubelet(one: Bed):
    node = one.nodes[0]
    run = deploy_ok(one.inventory)
    assert_healthy_cluster(one, run)
    (container,) = standins.running_containers(node)
    manifest = yaml.safe_load(out(node, f"cat {MANIFEST}"))
    command = manifest["spec"]["containers"][0]["command"]
    assert container["info"]["runtimeSpec"]["process"]["args"] == command
    assert container["status"]["state"] == "CONTAINER_RUNNING"
    assert container["status"]["labels"]["io.kubernetes.pod.name"] == f"etcd-{node.container}"
    pid = container["info"]["pid"]
    argv = out(node, f"tr '\\0' ' ' < /proc/{pid}/cmdline").split()
    assert argv == ["/usr/bin/etcd", *command[1:]]
    (start,) = standins.events(node)
    assert (start.kind, start.manifest) == ("start", MANIFEST)
    assert start.container == container["status"]["id"]


def test_rewritten_manifest_replaces_the_container_stop_then_start(one: Bed):
    node = one.nodes[0]
    (old,) = standins.running_containers(node)
    config = yaml.safe_load_all(out(node, "cat /etc/kubernetes/kubeadmcfg.yaml"))
    docs = list(config)
    docs[1]["etcd"]["local"]["extraArgs"].append({"name": "snapshot-count", "value": "10001"})
    sh(node, "cat > /root/changed.yaml", stdin=yaml.safe_dump_all(docs).encode())
    since = now_ns(one)
    out(node, "kubeadm init phase etcd local --config=/root/changed.yaml")
    got = wait_for(lambda: len(new_events(one, since)) >= 2, what="stop and start")
    stop, start = new_events(one, since)[:2]
    assert (stop.kind, stop.container) == ("stop", old["status"]["id"])
    assert start.kind == "start" and start.container != stop.container
    assert stop.ns - since >= 1e9 and start.ns - stop.ns >= 2e9  # kubelet's default delays
    (new,) = standins.running_containers(node)
    assert "--snapshot-count=10001" in new["info"]["runtimeSpec"]["process"]["args"]
    assert got and wait_for(lambda: etcd_healthy(one), what="etcd healthy")
    out(node, "kubeadm init phase etcd local --config=/etc/kubernetes/kubeadmcfg.yaml")
    wait_for(lambda: len(new_events(one, since)) >= 4, what="the original manifest back")
    wait_for(lambda: etcd_healthy(one), what="etcd healthy")


def test_a_copy_inside_the_manifests_dir_is_a_pod_but_a_dot_file_is_not(one: Bed):
    """The real kubelet keys static pods by name: a same-name copy replaces the running
    pod (new UID) and deleting it stops etcd until the next 20 s re-list of the directory;
    a copy under another pod name is a second pod."""
    node = one.nodes[0]
    (before,) = standins.running_containers(node)
    since = now_ns(one)
    out(node, f"cp {MANIFEST} /etc/kubernetes/manifests/.etcd.yaml")
    time.sleep(5)
    assert new_events(one, since) == []
    out(node, "rm /etc/kubernetes/manifests/.etcd.yaml")
    out(node, f"cp {MANIFEST} {MANIFEST}.parked")
    wait_for(lambda: len(new_events(one, since)) >= 2, what="the parked copy's pod")
    stop, start = new_events(one, since)[:2]
    assert (stop.kind, stop.container) == ("stop", before["status"]["id"])
    assert (start.kind, start.manifest) == ("start", f"{MANIFEST}.parked")
    since = now_ns(one)
    out(node, f"rm {MANIFEST}.parked")
    wait_for(lambda: [e.kind for e in new_events(one, since)] == ["stop"], what="stop")
    assert standins.running_containers(node) == []
    wait_for(lambda: len(new_events(one, since)) >= 2, timeout=40, what="re-list")
    assert new_events(one, since)[1].manifest == MANIFEST
    wait_for(lambda: etcd_healthy(one), what="etcd healthy")
    (main,) = standins.running_containers(node)
    since = now_ns(one)
    out(node, f"sed 's/^  name: etcd$/  name: second/' {MANIFEST} > {MANIFEST}.second")
    (second,) = wait_for(lambda: new_events(one, since), what="a second pod")
    assert second.kind == "start" and second.manifest == f"{MANIFEST}.second"
    assert second.pod_uid != main["status"]["labels"]["io.kubernetes.pod.uid"]
    out(node, f"rm {MANIFEST}.second")
    time.sleep(5)
    # The second etcd cannot bind the ports and crash-loops; the first one is untouched.
    assert {e.pod_uid for e in new_events(one, since)} == {second.pod_uid}
    assert standins.running_containers(node)[0]["status"]["id"] == main["status"]["id"]


def test_kubeadm_failure_injection_leaves_the_manifest(one: Bed):
    node = one.nodes[0]
    before = out(node, f"sha256sum {MANIFEST}")
    standins.set_kubeadm_failure(node, "injected: kubeadm broke")
    try:
        result = sh(node, "kubeadm init phase etcd local --config=/root/changed.yaml")
        assert result.returncode == 1
        assert b"injected: kubeadm broke" in result.stderr
        assert out(node, f"sha256sum {MANIFEST}") == before
    finally:
        standins.set_kubeadm_failure(node, None)


def test_crictl_fails_loudly_when_the_runtime_is_down(one: Bed):
    node = one.nodes[0]
    (before,) = standins.running_containers(node)
    standins.stop_runtime(node)
    try:
        for command in ("crictl ps", "crictl -r unix:///var/run/containerd/containerd.sock ps"):
            result = sh(node, command)
            assert result.returncode == 1
            assert b"connect: no such file or directory" in result.stderr
            assert b"unix:///var/run/containerd/containerd.sock" in result.stderr
        assert etcd_healthy(one)  # containers outlive the runtime
    finally:
        standins.start_runtime(node)
    assert standins.running_containers(node)[0]["status"]["id"] == before["status"]["id"]


def test_kubelet_restart_keeps_the_container_and_a_crash_is_restarted(one: Bed):
    node = one.nodes[0]
    (before,) = standins.running_containers(node)
    since = now_ns(one)
    out(node, "systemctl restart kubelet")
    time.sleep(4)
    assert new_events(one, since) == []
    assert standins.running_containers(node)[0]["status"]["id"] == before["status"]["id"]
    out(node, f"kill -9 {before['info']['pid']}")
    wait_for(lambda: len(new_events(one, since)) >= 2, what="exit and restart")
    exited, restarted = new_events(one, since)[:2]
    assert (exited.kind, exited.container) == ("exit", before["status"]["id"])
    assert restarted.kind == "restart" and restarted.pod_uid == exited.pod_uid
    (after,) = standins.running_containers(node)
    assert after["status"]["metadata"]["attempt"] == before["status"]["metadata"]["attempt"] + 1
    wait_for(lambda: etcd_healthy(one), what="etcd healthy")
