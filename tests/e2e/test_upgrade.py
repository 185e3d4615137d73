"""etcd from a release archive and rolling upgrades (systemd runtime, three members).

The archives are built by ``sandbox.releases`` from Debian's trixie and sid packages
(etcd 3.5.16 and 3.5.30) in etcd's upstream layout, since no release server is
reachable here; the etcd inside is the real thing. In file order on one bed: a cluster
on Debian bookworm's etcd 3.4.23; refusals that change nothing (a wrong checksum, a
skipped minor version, an unhealthy cluster); 3.4.23 -> 3.5.16 under a write/read
poller (verified snapshot first, one member at a time); a downgrade refused; the patch
upgrade 3.5.16 -> 3.5.30 under the poller.
"""

from __future__ import annotations

import time

import pytest

from sandbox import releases
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    assert_restarted_one_at_a_time,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    running_args,
    sh,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def archives() -> dict[str, tuple[str, str]]:
    built = {version: releases.archive(version) for version in ("3.5.16", "3.5.30")}
    return {version: (str(path), sha256) for version, (path, sha256) in built.items()}


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-upgrade", 3, subnet_index=16)


def release_data(archives, version: str, sha256: str | None = None) -> dict:
    """Host data choosing ``version`` from the local archives (a URL template on disk)."""
    _, real = archives.get(version, ("", "0" * 64))
    return releases.release_data(version, sha256 or real)


def unchanged(b: Bed) -> dict[str, str]:
    """What a refused run must leave alone: each unit and what each member runs."""
    return {
        n.container: out(n, "cat /etc/systemd/system/etcd.service; ls /opt/etcd 2>&1; true")
        + " ".join(running_args(n))
        for n in b.nodes
    }


def test_a_cluster_on_debians_etcd(up: Bed):
    assert_healthy_cluster(up, deploy_ok(up.inventory))
    assert all(running_args(n)[0] == "/usr/bin/etcd" for n in up.nodes)


@pytest.mark.parametrize(
    ("case", "version", "sha256", "expected"),
    [
        ("wrong checksum", "3.5.16", "f" * 64, "refusing to install it"),
        ("skipped minor", "3.6.0", None, "skips a minor version; upgrade to 3.5 first"),
    ],
)
def test_refusals_change_nothing(up: Bed, archives, case, version, sha256, expected):
    before = unchanged(up)
    inventory = up.write_inventory("refused.py", host_data=release_data(archives, version, sha256))
    run = pyinfra(inventory)
    assert run.returncode != 0
    assert expected in run.output, run.output[-3000:]
    assert unchanged(up) == before


def test_an_unhealthy_cluster_is_not_upgraded(up: Bed, archives):
    down = up.nodes[2]
    assert sh(down, "systemctl stop etcd").returncode == 0
    try:
        inventory = up.write_inventory("unhealthy.py", host_data=release_data(archives, "3.5.16"))
        run = pyinfra(inventory)
        assert run.returncode != 0
        assert "refusing to upgrade etcd to 3.5.16: the cluster is not healthy" in run.output
        assert sh(up.nodes[0], "test -e /opt/etcd").returncode != 0
    finally:
        assert sh(down, "systemctl start etcd").returncode == 0


def upgrade_under_load(up: Bed, archives, version: str):
    nodes = up.nodes
    inventory = up.write_inventory(f"v{version}.py", host_data=release_data(archives, version))
    times_before = {n.container: etcd_times(n) for n in nodes}
    with ClusterPoller(nodes[0], up.endpoints()) as poller:
        run = deploy_ok(inventory)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    for node in nodes:
        assert running_args(node)[0] == f"/opt/etcd/v{version}/etcd", node.container
        assert out(node, f"/opt/etcd/v{version}/etcd --version").startswith(
            f"etcd Version: {version}"
        )
    times_after = {n.container: etcd_times(n) for n in nodes}
    assert_restarted_one_at_a_time(times_before, times_after)
    assert_healthy_cluster(up, run)
    rerun = deploy_ok(inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
    return run


def test_upgrade_from_3_4_to_3_5_one_member_at_a_time_under_load(up: Bed, archives):
    first = up.nodes[0]
    assert etcdctl(first, up.endpoints(), "put e2e/before-upgrade kept").returncode == 0
    run = upgrade_under_load(up, archives, "3.5.16")
    assert "the cluster version is now 3.5.0" in run.output, run.output[-3000:]
    snapshots = out(first, "stat -c '%a %U %n' /var/backups/etcd/*before-upgrade.db").splitlines()
    assert len(snapshots) == 1 and snapshots[0].startswith("600 root "), snapshots
    assert out(first, "stat -c %a /var/backups/etcd") == "700"
    status = out(first, f"/opt/etcd/v3.5.16/etcdutl snapshot status {snapshots[0].split()[-1]}")
    assert status, "the snapshot does not verify"
    assert out(first, "ls /opt/etcd").split() == ["archives", "v3.5.16"]
    for node in up.nodes:
        got = etcdctl(node, endpoint(node), "get --print-value-only e2e/before-upgrade")
        assert got.stdout.decode().strip() == "kept", node.container


def test_a_downgrade_is_refused(up: Bed, archives):
    before = unchanged(up)
    data = release_data(archives, "3.5.16")
    data["etcd_version"] = "3.4.23"
    data["etcd_archive_sha256"] = {"3.4.23": "0" * 64}
    run = pyinfra(up.write_inventory("down.py", host_data=data))
    assert run.returncode != 0
    assert "a downgrade is not automated" in run.output, run.output[-3000:]
    assert unchanged(up) == before


def test_patch_upgrade_3_5_16_to_3_5_30_under_load(up: Bed, archives):
    upgrade_under_load(up, archives, "3.5.30")
    assert out(up.nodes[1], "ls /opt/etcd").split() == ["archives", "v3.5.16", "v3.5.30"]
