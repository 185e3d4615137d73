"""kubeadm init, CNI and join as the deploy drives them, with stand-ins for kubeadm.

kubeadm, kubelet and kubectl cannot be installed here, so this bed (``etcd-e2e-cpk``,
10.231.42.0/24) gets ``standins/fake_kube.py`` as all three, plus an empty containerd
socket. The stand-ins check what the deploy hands them (config kind and mode 0600,
shared CAs in place) and record each call with its time. What is real: the deploy's
preflight, the shared CAs, the configs it renders and delivers, the order of init ->
CNI -> joins across hosts, the guards that make a rerun do nothing, and the token it
creates when a host joins in a later run. Host 0 and 1 are the control plane (stacked
etcd), host 2 a worker. The endpoint is host 0's apiserver port, which refuses
connections (nothing listens): the guide's "connection refused is expected" case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sandbox import bed
from tests.e2e.conftest import deploy_ok, out, sh

pytestmark = pytest.mark.e2e

PREFIX = "etcd-e2e-cpk"
SUBNET = 42
STANDIN = Path(__file__).parent / "standins" / "fake_kube.py"
CNI = 'kind: ConfigMap\ndata:\n  net-conf.json: \'{"Network": "10.244.0.0/16"}\'\n'


def install_standins(node: bed.Node) -> None:
    assert sh(node, "cat > /usr/local/bin/fake_kube.py", STANDIN.read_bytes()).returncode == 0
    # argv[0] decides what the stand-in is: one symlink per tool.
    out(
        node,
        "sed -i '1i #!/usr/bin/python3' /usr/local/bin/fake_kube.py && "
        "chmod 755 /usr/local/bin/fake_kube.py && for tool in kubeadm kubelet kubectl; do "
        "ln -sf /usr/local/bin/fake_kube.py /usr/local/bin/$tool; done",
    )
    out(
        node,
        'mkdir -p /run/containerd && python3 -c "import socket; '
        "socket.socket(socket.AF_UNIX).bind('/run/containerd/containerd.sock')\"",
    )


@pytest.fixture(scope="module")
def kbed(tmp_path_factory) -> Iterator[tuple[list[bed.Node], Path]]:
    nodes = bed.up(PREFIX, 3, subnet_index=SUBNET)
    try:
        for node in nodes:
            install_standins(node)
        workdir = tmp_path_factory.mktemp(PREFIX)
        manifest = workdir / "cni.yaml"
        manifest.write_text(CNI)
        data = {
            "k8s_control_plane_endpoint": f"{nodes[0].ipv4}:6443",
            "k8s_cni_manifest": str(manifest),
        }
        cp = [(n.pyinfra_host, {"k8s_address": n.ipv4}) for n in nodes[:2]]
        workers = [(nodes[2].pyinfra_host, {"k8s_address": nodes[2].ipv4})]
        inventory = workdir / "inventory.py"
        inventory.write_text(f"control_plane = ({cp!r}, {data!r})\nworkers = {workers!r}\n")
        yield nodes, inventory
    finally:
        bed.down(PREFIX)


def calls(node: bed.Node) -> list[tuple[float, str]]:
    text = sh(node, "cat /var/lib/fake-kube/calls").stdout.decode()
    return [(float(t), call) for t, call in (line.split(" ", 1) for line in text.splitlines())]


def changes(run) -> int:
    return run.json()["results"]["totals"]["success"]


def test_init_then_cni_then_joins_with_the_deploys_token_and_ca_hash(kbed):
    nodes, inventory = kbed
    run = deploy_ok(inventory, "--json")
    first, second, worker = nodes
    assert [c for _, c in calls(first)] == ["init", "apply"]
    assert [c for _, c in calls(second)] == ["join"]
    assert [c for _, c in calls(worker)] == ["join"]
    init_at, apply_at = (t for t, _ in calls(first))
    assert init_at < apply_at < calls(second)[0][0] and apply_at < calls(worker)[0][0]

    init, cluster = yaml.safe_load_all(out(first, "cat /var/lib/fake-kube/init.yaml"))
    token = init["bootstrapTokens"][0]["token"]
    assert token not in run.output
    assert cluster["controlPlaneEndpoint"] == f"{first.ipv4}:6443"
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}
    ca = x509.load_pem_x509_certificate(out(first, "cat /etc/kubernetes/pki/ca.crt").encode())
    spki = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected_hash = "sha256:" + hashlib.sha256(spki).hexdigest()
    for node, control_plane in ((second, True), (worker, False)):
        join = yaml.safe_load(out(node, "cat /var/lib/fake-kube/join.yaml"))
        discovery = join["discovery"]["bootstrapToken"]
        assert discovery["token"] == token
        assert discovery["caCertHashes"] == [expected_hash]
        assert ("controlPlane" in join) is control_plane
    for node in nodes:  # the configs hold the token: removed once kubeadm read them
        assert sh(node, "ls /etc/kubernetes/kubeadm-*.yaml").returncode != 0
    assert sh(worker, "test ! -e /etc/kubernetes/pki/ca.key").returncode == 0


def test_rerun_runs_no_kubeadm_and_changes_nothing(kbed):
    nodes, inventory = kbed
    before = [calls(n) for n in nodes]
    assert changes(deploy_ok(inventory, "--json")) == 0
    assert [calls(n) for n in nodes] == before


def test_a_host_joining_later_gets_a_fresh_token(kbed):
    nodes, inventory = kbed
    first, _, worker = nodes
    out(worker, "rm /etc/kubernetes/kubelet.conf")  # as a new worker would be
    run = deploy_ok(inventory, "--json", "-vv", "--debug")
    assert changes(run) == 1
    created = [c for _, c in calls(first) if c.startswith("token-create")]
    assert len(created) == 1
    # the token's command went to the host on stdin: in no log line, --debug's included
    token = created[0].split()[1]
    assert "kubeadm token create" not in run.output and token not in run.output
    join = yaml.safe_load(out(worker, "cat /var/lib/fake-kube/join.yaml"))
    assert token == join["discovery"]["bootstrapToken"]["token"]
    assert [c for _, c in calls(worker)] == ["join", "join"]
    assert changes(deploy_ok(inventory, "--json")) == 0
