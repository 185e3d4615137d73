"""No etcd_version: the default release from a local mirror, verified by its checksum
(systemd runtime, one member).

etcd's real archive for the default version cannot be had offline, so the mirror holds
a stand-in under its name: ``sandbox.releases.relabelled`` packs Debian's etcd 3.5.30
binaries (sid) in etcd's upstream layout with their version string set to the default
(same minor, so flags and data format are those of a 3.5 patch release). It is not
etcd's published archive: the shipped checksum refuses it, naming host, file, expected
and actual sha256, before anything is installed. With the operator's own checksum for
it (``etcd_archive_sha256``, as for a build of a site's own) the same run installs it,
etcd runs it over mutual TLS, and a rerun changes nothing.
"""

from __future__ import annotations

import shutil

import pytest

from etcd_cluster.etcd import release_checksums
from sandbox import releases
from tests.e2e.conftest import (
    Bed,
    assert_healthy_cluster,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    pyinfra,
    running_args,
    untouched,
)

pytestmark = pytest.mark.e2e

DEFAULT = release_checksums.DEFAULT_VERSION
RELEASE = f"/opt/etcd/v{DEFAULT}"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> tuple[str, str, str]:
    """(mirror directory, the stand-in archive in it, its sha256)."""
    built, sha256 = releases.relabelled("3.5.30", DEFAULT)
    directory = tmp_path_factory.mktemp("mirror")
    archive = directory / f"etcd-v{DEFAULT}-linux-amd64.tar.gz"
    shutil.copyfile(built, archive)
    return str(directory), str(archive), sha256


@pytest.fixture(scope="module")
def one(tmp_path_factory, mirror):
    directory, _, _ = mirror
    for b in make_bed(tmp_path_factory, "etcd-e2e-default-rel", 1, subnet_index=22):
        b.host_data.update({"etcd_version": "", "etcd_archive_url": directory})  # "": unset
        b.inventory = b.write_inventory("inventory.py")
        yield b


def test_the_shipped_checksum_refuses_an_archive_that_is_not_etcds(one: Bed, mirror):
    _, archive, actual = mirror
    run = pyinfra(one.inventory)
    assert run.returncode != 0
    expected = release_checksums.SHA256[DEFAULT]["amd64"]
    for text in (one.nodes[0].pyinfra_host, archive, actual, expected, "shipped checksum"):
        assert text in run.output, run.output[-3000:]
    node = one.nodes[0]
    assert untouched(node)
    assert out(node, "ls /opt/etcd 2>&1 || true").endswith("No such file or directory")


def test_with_the_operators_checksum_the_default_installs_runs_and_stays(one: Bed, mirror):
    _, _, sha256 = mirror
    own = one.write_inventory("own.py", host_data={"etcd_archive_sha256": {DEFAULT: sha256}})
    assert_healthy_cluster(one, deploy_ok(own))
    node = one.nodes[0]
    assert running_args(node)[0] == f"{RELEASE}/etcd"
    # the stand-in's binary says the default version (see the module's docstring)
    assert out(node, f"{RELEASE}/etcd --version").splitlines()[0] == f"etcd Version: {DEFAULT}"
    assert out(node, f"head -n 1 /opt/etcd/archives/v{DEFAULT}.sha256") == f"archive {sha256}"
    assert out(node, f"stat -c '%a %U %G' {RELEASE}") == "755 root root"
    before = etcd_times(node)
    rerun = deploy_ok(own, "--json")
    changed = [op["name"] for op in rerun.json()["results"]["operations"] if op["success"]]
    assert rerun.json()["results"]["totals"]["success"] == 0, changed
    assert etcd_times(node) == before
