"""etcd_metrics_address=member: /metrics answers on the member's address, from another member.

Three systemd members deployed with kubeadm's default (metrics on 127.0.0.1:2381 only,
so another member cannot scrape them), then switched to ``member`` under the
write/read poller: every member restarts once, one at a time, with no failed request;
afterwards a member scrapes another's ``http://<address>:2381/metrics`` and a rerun
changes nothing.
"""

from __future__ import annotations

import pytest

from etcd_cluster.cluster import join_host_port
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_restarted_one_at_a_time,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    running_args,
    sh,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-metrics", 3, subnet_index=65)


def scrape(node, address: str) -> str:
    """``curl`` of another member's /metrics, run on ``node``; '' when nothing answers."""
    url = f"http://{join_host_port(address, 2381)}/metrics"
    done = sh(node, f"curl -fsS --max-time 5 {url}")
    return done.stdout.decode() if done.returncode == 0 else ""


def test_metrics_move_to_the_members_address_one_restart_at_a_time(metrics: Bed):
    first, second, third = metrics.nodes
    deploy_ok(metrics.inventory)
    assert "etcd_server_has_leader 1" in out(first, "curl -fsS http://127.0.0.1:2381/metrics")
    assert scrape(second, first.address) == ""  # kubeadm's default: loopback only

    inventory = metrics.write_inventory(
        "inventory-metrics.py", host_data={"etcd_metrics_address": "member"}
    )
    before = {n.container: etcd_times(n) for n in metrics.nodes}
    with ClusterPoller(third, metrics.endpoints()) as poller:
        run = deploy_ok(inventory)
    assert poller.failures == [] and poller.ok > 0, poller.failures
    assert_restarted_one_at_a_time(before, {n.container: etcd_times(n) for n in metrics.nodes})

    urls = f"--listen-metrics-urls=http://127.0.0.1:2381,http://{first.address}:2381"
    assert urls in running_args(first), run.output[-3000:]
    for scraper, member in ((second, first), (third, second), (first, third)):
        text = scrape(scraper, member.address)
        assert "etcd_server_has_leader 1" in text, (scraper.container, member.container)
        assert "etcd_disk_wal_fsync_duration_seconds_bucket" in text
    # kubeadm's loopback listener (its probes' address) is still there
    assert "etcd_server_has_leader 1" in out(first, "curl -fsS http://127.0.0.1:2381/metrics")

    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
