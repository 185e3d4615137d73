"""IPv6 only, an operator-supplied CA, and the hand-off to a control-plane host.

Three members on an IPv6 container network (URLs in brackets), signed by the
operator's own CA (the guide's "if you already have a CA"), plus a fourth host in
the inventory group ``control_plane`` that must receive etcd's CA certificate and
the apiserver-etcd-client pair, and be able to use them against the cluster.
"""

from __future__ import annotations

import datetime
import pprint

import pytest

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import ETCD_CA
from sandbox import bed
from tests.e2e.conftest import (
    PKI,
    Bed,
    assert_healthy_cluster,
    deploy_ok,
    etcdctl,
    make_bed,
    out,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ipv6(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-ipv6", 4, subnet_index=13, ipv6=True)


def test_ipv6_cluster_with_operator_ca_and_control_plane_handoff(ipv6: Bed):
    members, control_plane = ipv6.nodes[:3], ipv6.nodes[3]
    now = datetime.datetime.now(datetime.UTC)
    ca = pki.new_ca(ETCD_CA, "ECDSA-P256", datetime.timedelta(days=3650), now)
    ca_cert, ca_key = ipv6.workdir / "operator-ca.crt", ipv6.workdir / "operator-ca.key"
    ca_cert.write_bytes(ca.cert_pem)
    ca_key.write_bytes(ca.key_pem)
    ca_key.chmod(0o600)
    data = {
        **ipv6.host_data,
        "etcd_ca_cert_file": str(ca_cert),
        "etcd_ca_key_file": str(ca_key),
        "etcd_key_algorithm": "ECDSA-P256",
    }
    etcd = bed.inventory(members, data)
    inventory = ipv6.workdir / "inventory-ipv6.py"
    inventory.write_text(
        f"etcd = {pprint.pformat(etcd)}\ncontrol_plane = [{control_plane.pyinfra_host!r}]\n"
    )
    try:
        check_cluster_and_handoff(inventory, members, control_plane, ca, data, ipv6)
    finally:
        ca_key.unlink()  # the operator's own key: do not leave it in the shared temp dir


def check_cluster_and_handoff(inventory, members, control_plane, ca, data, ipv6: Bed) -> None:
    run = deploy_ok(inventory)
    cluster = Bed(members, inventory, ipv6.workdir, data)
    assert_healthy_cluster(cluster, run)

    for node in members:
        assert ":" in node.address
        assert out(node, f"cat {PKI}/etcd/ca.crt").encode() == ca.cert_pem.strip()
        unit = out(node, "cat /etc/systemd/system/etcd.service")
        assert f"--listen-client-urls=https://[{node.address}]:2379" in unit
        assert "--listen-metrics-urls=http://[::1]:2381" in unit
        listening = out(node, "ss -ltn")
        assert f"[{node.address}]:2379" in listening
        assert f"[{node.address}]:2380" in listening

    listing = out(control_plane, f"find {PKI} -type f -printf '%p %m\\n' | sort")
    assert listing.splitlines() == [
        f"{PKI}/apiserver-etcd-client.crt 644",
        f"{PKI}/apiserver-etcd-client.key 600",
        f"{PKI}/etcd/ca.crt 644",
    ]
    # What kube-apiserver will do: talk to the cluster with exactly these files.
    assert etcdctl(control_plane, cluster.endpoints(), "put from/control-plane ok").returncode == 0
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
