"""What etcd runs from and who it talks to are the deploy's: a swapped release binary and
an extra peer URL (systemd runtime, etcd 3.5.16 from a release archive, three members).

The archive is built by ``sandbox.releases`` from Debian's trixie packages in etcd's
upstream layout (no release server is reachable here); the etcd inside is the real one.
A binary swapped under /opt/etcd/v3.5.16/ (here: Debian bookworm's etcd 3.4.23) is
installed again from the verified archive before the member restarts, so the process
that runs afterwards is the archive's; an extra peer URL set with ``etcdctl member
update`` is set back with etcd's member update, restarting nobody.
"""

from __future__ import annotations

import hashlib
import tarfile
import time

import pytest

from sandbox import releases
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    make_bed,
    out,
)

pytestmark = pytest.mark.e2e

VERSION = "3.5.16"
RELEASE = f"/opt/etcd/v{VERSION}"


@pytest.fixture(scope="module")
def archive() -> tuple[str, str, str]:
    """(path, archive sha256, sha256 of the etcd binary inside)."""
    path, sha256 = releases.archive(VERSION)
    with tarfile.open(path) as tar:
        member = tar.extractfile(f"etcd-v{VERSION}-linux-amd64/etcd")
        assert member is not None
        etcd = hashlib.sha256(member.read()).hexdigest()
    return str(path), sha256, etcd


@pytest.fixture(scope="module")
def rel_bed(tmp_path_factory, archive):
    _, sha256, _ = archive
    for b in make_bed(tmp_path_factory, "etcd-e2e-tamper-rel", 3, subnet_index=56):
        b.host_data.update(releases.release_data(VERSION, sha256))
        b.inventory = b.write_inventory("inventory.py")
        yield b


def running_exe_sha256(node) -> str:
    pid = out(node, "systemctl show -p MainPID --value etcd")
    assert pid != "0", node.container
    return out(node, f"sha256sum /proc/{pid}/exe").split()[0]


def assert_rerun_changes_nothing(b: Bed) -> None:
    before = {n.container: etcd_times(n) for n in b.nodes}
    run = deploy_ok(b.inventory, "--json")
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert run.json()["results"]["totals"]["success"] == 0, changed
    assert {n.container: etcd_times(n) for n in b.nodes} == before


def test_the_install_records_the_archives_checksums(rel_bed: Bed, archive):
    _, sha256, etcd = archive
    assert_healthy_cluster(rel_bed, deploy_ok(rel_bed.inventory))
    for node in rel_bed.nodes:
        record = out(node, f"cat /opt/etcd/archives/v{VERSION}.sha256").splitlines()
        assert record[0] == f"archive {sha256}"
        assert f"{etcd}  etcd" in record
        assert running_exe_sha256(node) == etcd
        assert out(node, f"stat -c '%a %U %G' {RELEASE}") == "755 root root"
    assert_rerun_changes_nothing(rel_bed)


def test_a_swapped_binary_is_reinstalled_from_the_archive_before_the_restart(rel_bed: Bed, archive):
    _, _, etcd = archive
    swapped, opened = rel_bed.nodes[1], rel_bed.nodes[2]
    # another etcd in place of the release's (the running process keeps the old inode)
    out(swapped, f"cp /usr/bin/etcd {RELEASE}/etcd.new && mv -f {RELEASE}/etcd.new {RELEASE}/etcd")
    out(opened, f"chmod 777 {RELEASE}")
    untouched = etcd_times(rel_bed.nodes[0])
    with ClusterPoller(rel_bed.nodes[0], rel_bed.endpoints()) as poller:
        run = deploy_ok(rel_bed.inventory)
        time.sleep(1)
    assert poller.ok >= 3, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert f"{RELEASE}/etcd has sha256" in run.output, run.output[-4000:]
    assert f"{RELEASE} is 777 root root, wanted 755 root root" in run.output
    install = run.output.index(f"Install etcd {VERSION}")
    assert install < run.output.index("restarting etcd member infra1")
    assert_healthy_cluster(rel_bed, run)
    for node in (swapped, opened):
        assert out(node, f"sha256sum {RELEASE}/etcd").split()[0] == etcd
        assert running_exe_sha256(node) == etcd  # the process runs the archive's binary
        assert out(node, f"stat -c '%a %U %G' {RELEASE}") == "755 root root"
    assert etcd_times(rel_bed.nodes[0]) == untouched  # the intact member kept running
    assert_rerun_changes_nothing(rel_bed)


def member_ids(node) -> dict[str, str]:
    """Member name -> hex ID, as etcdctl lists them."""
    listed = etcdctl(node, endpoint(node), "member list")
    assert listed.returncode == 0, listed.stderr
    ids = {}
    for line in listed.stdout.decode().splitlines():
        fields = [f.strip() for f in line.split(",")]
        ids[fields[2]] = fields[0]
    return ids


def peer_urls(node, name: str) -> str:
    listed = etcdctl(node, endpoint(node), "member list").stdout.decode()
    (line,) = [row for row in listed.splitlines() if f", {name}, " in row]
    return line.split(", ")[3]


def test_an_extra_peer_url_is_set_back_without_a_restart(rel_bed: Bed):
    first, target = rel_bed.nodes[0], rel_bed.nodes[1]
    wanted = f"https://{target.address}:2380"
    extra = f"{wanted},https://{target.address}:12380"
    member = member_ids(first)["infra1"]
    updated = etcdctl(first, endpoint(first), f"member update {member} --peer-urls={extra}")
    assert updated.returncode == 0, updated.stderr
    assert peer_urls(first, "infra1") == extra
    before = {n.container: etcd_times(n) for n in rel_bed.nodes}
    with ClusterPoller(first, rel_bed.endpoints()) as poller:
        run = deploy_ok(rel_bed.inventory)
        time.sleep(1)
    assert poller.failures == [], poller.failures
    assert "set the peer URLs of infra1" in run.output and f"to exactly {wanted}" in run.output
    assert peer_urls(first, "infra1") == wanted
    assert {n.container: etcd_times(n) for n in rel_bed.nodes} == before  # nobody restarted
    assert_healthy_cluster(rel_bed, run)
    assert_rerun_changes_nothing(rel_bed)
