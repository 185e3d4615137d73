"""The HA guide's shared Kubernetes CAs on real control-plane hosts, end to end.

Bed ``etcd-e2e-cp`` (10.231.41.0/24): host 0 is a one-member etcd cluster (systemd
runtime), hosts 1 and 2 the control plane of the external topology, host 3 a stacked
control plane. kubeadm and kubelet cannot be installed here, so these runs set
``k8s_run_kubeadm=False`` (the deploy stops once CAs are in place), except the
preflight test, which checks that the kubeadm steps are refused on these hosts
without any host changing. Nothing here is a stand-in.
"""

from __future__ import annotations

import pprint
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from etcd_cluster.controlplane.certlist import file_modes, shared_pairs
from sandbox import bed
from tests.e2e.conftest import deploy_ok, out, pyinfra, sh

pytestmark = pytest.mark.e2e

PREFIX = "etcd-e2e-cp"
SUBNET = 41
PKI = "/etc/kubernetes/pki"
ENDPOINT = f"10.231.{SUBNET}.200:6443"
EXTERNAL = file_modes(shared_pairs(PKI, stacked=False))
STACKED = file_modes(shared_pairs(PKI, stacked=True))


def write_inventory(path: Path, nodes: list[bed.Node], stacked: bool = False, **data) -> Path:
    common = {"k8s_control_plane_endpoint": ENDPOINT, "k8s_run_kubeadm": False, **data}
    if stacked:
        text = f"control_plane = ({[nodes[3].pyinfra_host]!r}, {common!r})\n"
    else:
        etcd = bed.inventory(nodes[:1], {"etcd_runtime": "systemd", "etcd_health_timeout": 90})
        control_plane = [(n.pyinfra_host, {"k8s_address": n.ipv4}) for n in nodes[1:3]]
        text = (
            f"etcd = {pprint.pformat(etcd)}\n"
            f"control_plane = ({pprint.pformat(control_plane)}, {common!r})\n"
        )
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cp_bed(tmp_path_factory) -> Iterator[tuple[list[bed.Node], Path]]:
    nodes = bed.up(PREFIX, 4, subnet_index=SUBNET)
    try:
        workdir = tmp_path_factory.mktemp(PREFIX)
        yield nodes, workdir
    finally:
        bed.down(PREFIX)


def held(node: bed.Node, paths) -> dict[str, str]:
    """{path: "mode owner sha256"} of the files present on ``node``."""
    result = {}
    for path in paths:
        probe = sh(node, f"test -f {path} && echo $(stat -c '%a %U:%G' {path}) $(sha256sum {path})")
        if probe.returncode == 0:
            mode, owner, digest, _ = probe.stdout.decode().split()
            result[path] = f"{mode} {owner} {digest}"
    return result


def changes(run) -> int:
    return run.json()["results"]["totals"]["success"]


def test_kubeadm_steps_are_refused_where_kubeadm_is_missing(cp_bed):
    nodes, workdir = cp_bed
    inventory = write_inventory(workdir / "with-kubeadm.py", nodes, k8s_run_kubeadm=True)
    run = pyinfra(inventory)
    assert run.returncode != 0
    for node in nodes[1:3]:
        assert f"host {node.pyinfra_host}" in run.output, run.output[-3000:]
        assert held(node, EXTERNAL) == {}
    assert "kubeadm" in run.output and "kubelet" in run.output
    assert sh(nodes[0], "test ! -e /etc/kubernetes").returncode == 0  # etcd untouched too


def test_external_topology_shares_one_set_of_cas(cp_bed):
    nodes, workdir = cp_bed
    inventory = write_inventory(workdir / "external.py", nodes)
    run = deploy_ok(inventory, "--json")
    assert changes(run) > 0
    assert "PRIVATE KEY" not in run.output
    first, second = (held(n, EXTERNAL) for n in nodes[1:3])
    assert set(first) == set(EXTERNAL)
    assert first == second  # byte for byte the same on both hosts
    for path, mode in EXTERNAL.items():
        assert first[path].split()[:2] == [mode, "root:root"], path
    ca = x509.load_pem_x509_certificate(out(nodes[1], f"cat {PKI}/ca.crt").encode())
    assert ca.subject.rfc4514_string() == "CN=kubernetes"
    front = x509.load_pem_x509_certificate(out(nodes[2], f"cat {PKI}/front-proxy-ca.crt").encode())
    assert front.subject.rfc4514_string() == "CN=front-proxy-ca"
    # External etcd: the etcd CA key stays on the etcd member; the hand-off gives the client pair.
    assert sh(nodes[1], f"test ! -e {PKI}/etcd/ca.key && test -f {PKI}/etcd/ca.crt").returncode == 0
    assert changes(deploy_ok(inventory, "--json")) == 0


def test_lost_and_drifted_files_are_restored_byte_for_byte(cp_bed):
    nodes, workdir = cp_bed
    inventory = write_inventory(workdir / "external.py", nodes)
    before = held(nodes[1], EXTERNAL)
    out(nodes[2], f"rm {PKI}/sa.key {PKI}/ca.crt && chmod 644 {PKI}/front-proxy-ca.key")
    run = deploy_ok(inventory, "--json")
    assert changes(run) == 1
    assert held(nodes[1], EXTERNAL) == before == held(nodes[2], EXTERNAL)
    assert changes(deploy_ok(inventory, "--json")) == 0


def test_hosts_with_different_cas_are_refused_without_changes(cp_bed):
    nodes, workdir = cp_bed
    inventory = write_inventory(workdir / "external.py", nodes)
    saved = out(nodes[2], f"base64 -w0 {PKI}/front-proxy-ca.crt")
    out(nodes[2], f"sed -i 's/A/B/' {PKI}/front-proxy-ca.crt")
    before = {n.container: held(n, EXTERNAL) for n in nodes[1:3]}
    run = pyinfra(inventory)
    assert run.returncode != 0
    assert f"hold different {PKI}/front-proxy-ca.crt" in run.output, run.output[-3000:]
    assert {n.container: held(n, EXTERNAL) for n in nodes[1:3]} == before
    sh(nodes[2], f"base64 -d > {PKI}/front-proxy-ca.crt", saved.encode())
    assert changes(deploy_ok(inventory, "--json")) == 0


def test_stacked_topology_also_shares_the_etcd_ca(cp_bed):
    nodes, workdir = cp_bed
    inventory = write_inventory(workdir / "stacked.py", nodes, stacked=True)
    run = deploy_ok(inventory, "--json")
    assert changes(run) > 0
    files = held(nodes[3], STACKED)
    assert set(files) == set(STACKED)
    assert files[f"{PKI}/etcd/ca.key"].startswith("600 root:root")
    ca = x509.load_pem_x509_certificate(out(nodes[3], f"cat {PKI}/etcd/ca.crt").encode())
    assert ca.subject.rfc4514_string() == "CN=etcd-ca"
    assert changes(deploy_ok(inventory, "--json")) == 0
