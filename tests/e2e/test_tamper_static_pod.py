"""The static pod manifest is the deploy's, compared whole: a hand edit or a flag removed
from ``etcd_extra_args`` is rendered again through kubeadm and applied by the gated restart.

Three members under the stand-ins (tests/standins: kubeadm renders kubeadm's manifest, the
kubelet runs the real etcd binary with the manifest's command), so what is checked is a
real etcd cluster over mutual TLS and the command line of the process the kubelet runs.
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
)

pytestmark = pytest.mark.e2e

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
RECORD = "/etc/kubernetes/etcd-deploy/etcd.yaml.rendered"
EXTRA = {"etcd_extra_args": {"heartbeat-interval": "150"}}


@pytest.fixture(scope="module")
def pod_bed(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-tamper-sp", 3, subnet_index=55):
        for node in b.nodes:
            standins.install(node)
        b.host_data["etcd_runtime"] = "static-pod"
        b.inventory = b.write_inventory("inventory.py")
        b.write_inventory("inventory-extra.py", host_data=EXTRA)
        yield b


def running_args(node) -> list[str]:
    (container,) = standins.running_containers(node)
    return container["info"]["runtimeSpec"]["process"]["args"]


def wait_for_args(node, check, timeout: float = 60) -> list[str]:
    """The running container's argv once ``check`` holds (the kubelet replaces it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            args = running_args(node)
        except ValueError:  # between two containers
            args = []
        if args and check(args):
            return args
        assert time.monotonic() < deadline, args
        time.sleep(1)


def assert_rerun_changes_nothing(b: Bed, inventory) -> None:
    before = {node.container: standins.events(node) for node in b.nodes}
    run = deploy_ok(inventory, "--json")
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert run.json()["results"]["totals"]["success"] == 0, changed
    assert {node.container: standins.events(node) for node in b.nodes} == before


def test_cold_deploy_records_what_kubeadm_rendered(pod_bed: Bed):
    inventory = pod_bed.workdir / "inventory-extra.py"
    run = deploy_ok(inventory)
    assert_healthy_cluster(pod_bed, run)
    for node in pod_bed.nodes:
        config, manifest = out(node, f"cat {RECORD}").split()
        assert manifest == out(node, f"sha256sum {MANIFEST}").split()[0]
        assert config == out(node, "sha256sum /etc/kubernetes/kubeadmcfg.yaml").split()[0]
        assert "--heartbeat-interval=150" in running_args(node)
    assert_rerun_changes_nothing(pod_bed, inventory)


def test_a_manifest_edited_to_drop_client_cert_auth_is_rendered_again(pod_bed: Bed):
    inventory = pod_bed.workdir / "inventory-extra.py"
    node = pod_bed.nodes[1]
    # The edit the issue names: no client certificate needed, metrics on every address.
    out(
        node,
        f"sed -i -e '/--client-cert-auth=true/d' -e '/--trusted-ca-file=/d' "
        f"-e 's#--listen-metrics-urls=.*#--listen-metrics-urls=http://0.0.0.0:2381#' {MANIFEST}",
    )
    wait_for_args(node, lambda args: "--client-cert-auth=true" not in args)
    others = {n.container: standins.events(n) for n in pod_bed.nodes if n is not node}
    with ClusterPoller(pod_bed.nodes[0], pod_bed.endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 3, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "the manifest is not the one kubeadm rendered" in run.output
    assert "restarting etcd member infra1 (render)" in run.output
    assert_healthy_cluster(pod_bed, run)
    args = running_args(node)
    assert (
        "--client-cert-auth=true" in args
        and "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt" in args
    )
    assert "--listen-metrics-urls=http://127.0.0.1:2381" in args
    assert "client-cert-auth=true" in out(node, f"cat {MANIFEST}")
    # only the edited member was restarted
    assert {n.container: standins.events(n) for n in pod_bed.nodes if n is not node} == others
    assert_rerun_changes_nothing(pod_bed, inventory)


def test_a_flag_removed_from_etcd_extra_args_leaves_the_running_process(pod_bed: Bed):
    with ClusterPoller(pod_bed.nodes[0], pod_bed.endpoints()) as poller:
        run = deploy_ok(pod_bed.inventory)  # the same inventory without etcd_extra_args
        time.sleep(1)
    assert poller.ok >= 3, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "kubeadm rendered the manifest from another kubeadm config" in run.output
    assert_healthy_cluster(pod_bed, run)
    for node in pod_bed.nodes:
        assert not any(a.startswith("--heartbeat-interval") for a in running_args(node))
        assert "heartbeat-interval" not in out(node, f"cat {MANIFEST}")
    assert_rerun_changes_nothing(pod_bed, pod_bed.inventory)


def test_a_member_without_a_record_is_rendered_again_and_restarts_nothing(pod_bed: Bed):
    """A member deployed before the record existed (or a run that stopped between kubeadm
    and the record): kubeadm renders the same manifest, the record is written, no pod is
    replaced."""
    node = pod_bed.nodes[2]
    out(node, f"rm {RECORD}")
    before = {n.container: standins.events(n) for n in pod_bed.nodes}
    run = deploy_ok(pod_bed.inventory)
    assert "no record of what kubeadm rendered" in run.output
    assert "kubeadm wrote the same manifest" in run.output and "runs it already" in run.output
    assert {n.container: standins.events(n) for n in pod_bed.nodes} == before
    config, manifest = out(node, f"cat {RECORD}").split()
    assert manifest == out(node, f"sha256sum {MANIFEST}").split()[0]
    assert config == out(node, "sha256sum /etc/kubernetes/kubeadmcfg.yaml").split()[0]
    assert_rerun_changes_nothing(pod_bed, pod_bed.inventory)
