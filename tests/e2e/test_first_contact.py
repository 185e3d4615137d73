"""A new user's first contact: refusals that name the way out, then metrics for monitoring.

On fresh hosts, the refusals a new user meets first (the default static-pod runtime on
hosts without kubeadm, a bad or missing etcd_address) each name the fix and change no
host; so do a misspelt setting, a renamed one and a cluster-wide one set on a later host
alone. Then etcd_metrics_address=member: three systemd members deployed with kubeadm's
default (metrics on 127.0.0.1:2381 only, so another member cannot scrape them), then
switched to ``member`` under the write/read poller: every member restarts once, one at a
time, with no failed request; afterwards each member scrapes another's
``http://<address>:2381/metrics``, and a rerun changes nothing.
"""

from __future__ import annotations

import itertools
import re

import pytest

from etcd_cluster.etcd.cluster import join_host_port
from sandbox import bed
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_restarted_one_at_a_time,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    pyinfra,
    running_args,
    sh,
    untouched,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-first-contact", 3, subnet_index=67)


# case: (host index, host data to change, extra CLI args, texts the error must contain)
WAYS_OUT: dict[str, tuple[int, dict[str, object], tuple[str, ...], list[str]]] = {
    "static-pod without kubeadm": (
        0,
        {},
        ("--data", "etcd_runtime=static-pod"),
        ["kubeadm, kubelet, crictl", "install them", "or set `etcd_runtime=systemd`"],
    ),
    "invalid address": (
        2,
        {"etcd_address": "10.0.0.300"},
        (),
        ["etcd_address='10.0.0.300'", "set etcd_address in the inventory"],
    ),
    "missing address": (1, {"etcd_address": None}, (), ["etcd_address is required", "add it"]),
    "misspelt setting": (
        1,
        {"etcd_backup_kep": 3},
        (),
        ["etcd_backup_kep", "did you mean etcd_backup_keep?", "docs/settings.md"],
    ),
    "cluster-wide setting on a later host": (
        2,
        {"etcd_client_port": 2479},
        (),
        ["etcd_client_port=2479 is ignored", "cluster-wide, read from the first etcd host"],
    ),
    "renamed setting": (
        0,
        {"kubernetes_version": "v1.34.2"},
        (),
        ["renamed etcd_kubernetes_version"],
    ),
}


@pytest.mark.parametrize("case", list(WAYS_OUT))
def test_first_refusals_name_the_way_out_and_change_nothing(fresh: Bed, case: str):
    index, changes, args, expected = WAYS_OUT[case]
    entries = bed.inventory(fresh.nodes, fresh.host_data)
    entries[index][1].update(changes)
    for key in [k for k, v in entries[index][1].items() if v is None]:
        del entries[index][1][key]
    path = fresh.workdir / f"refused-{case.replace(' ', '-')}.py"
    path.write_text(f"etcd = {entries!r}\n")
    run = pyinfra(path, *args)
    assert run.returncode != 0
    for text in expected:
        assert text in run.output, run.output[-3000:]
    assert all(untouched(node) for node in fresh.nodes)


def scrape(node, address: str) -> str:
    """``curl`` of another member's /metrics, run on ``node``; '' when nothing answers."""
    url = f"http://{join_host_port(address, 2381)}/metrics"
    done = sh(node, f"curl -fsS --max-time 5 {url}")
    return done.stdout.decode() if done.returncode == 0 else ""


def test_metrics_move_to_the_members_address_one_restart_at_a_time(fresh: Bed):
    first, second, third = fresh.nodes
    deploy_ok(fresh.inventory)
    assert "etcd_server_has_leader 1" in out(first, "curl -fsS http://127.0.0.1:2381/metrics")
    assert scrape(second, first.address) == ""  # kubeadm's default: loopback only

    inventory = fresh.write_inventory(
        "inventory-metrics.py", host_data={"etcd_metrics_address": "member"}
    )
    before = {n.container: etcd_times(n) for n in fresh.nodes}
    with ClusterPoller(third, fresh.endpoints()) as poller:
        run = deploy_ok(inventory)
    assert poller.failures == [] and poller.ok > 0, poller.failures
    assert_restarted_one_at_a_time(before, {n.container: etcd_times(n) for n in fresh.nodes})

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


def test_a_long_wait_says_what_it_waits_for_every_few_seconds(fresh: Bed):
    """A member that hangs (SIGSTOP): the run waits for health, saying so every 5 s."""
    third = fresh.nodes[2]
    pid = out(third, "systemctl show -p MainPID --value etcd")
    sh(third, f"kill -STOP {pid}")
    try:
        inventory = fresh.workdir / "inventory-metrics.py"  # converged: nothing to change
        # 30 s: probes that time out after 3 s on a loaded bed still leave room for 2+ lines
        run = pyinfra(inventory, "--data", "etcd_health_timeout=30")
    finally:
        sh(third, f"kill -CONT {pid}")
    assert run.returncode != 0
    assert "etcd cluster not healthy after 30s" in run.output, run.output[-4000:]
    waits = re.findall(
        r"\[(\S+)\] waiting for the etcd cluster to report healthy \((\d+) s of 30 s\)",
        run.output,
    )
    for node in fresh.nodes:  # each member's health step waits, and says so
        seconds = [int(elapsed) for host, elapsed in waits if host == node.pyinfra_host]
        assert len(seconds) >= 2, run.output[-4000:]
        assert seconds[0] >= 5 and all(b - a >= 4 for a, b in itertools.pairwise(seconds))
    quiet = re.findall(r"waiting for .* \((\d+) s", deploy_ok(inventory).output)
    assert quiet == []  # the member is back: a healthy run has nothing to wait for
