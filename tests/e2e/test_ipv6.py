"""An IPv6-only cluster: members on an IPv6 container network, URLs in brackets."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Bed, assert_healthy_cluster, deploy_ok, make_bed, out

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def six(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-ipv6", 3, subnet_index=13, ipv6=True)


def test_ipv6_only_cluster(six: Bed):
    run = deploy_ok(six.inventory)
    assert_healthy_cluster(six, run)
    for node in six.nodes:
        assert ":" in node.address
        unit = out(node, "cat /etc/systemd/system/etcd.service")
        assert f"--listen-client-urls=https://[{node.address}]:2379" in unit
        assert "--listen-metrics-urls=http://[::1]:2381" in unit
        listening = out(node, "ss -ltn")
        assert f"[{node.address}]:2379" in listening
        assert f"[{node.address}]:2380" in listening
