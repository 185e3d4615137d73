"""Debian's etcd (etcd-server, /usr/bin/etcd) is checked with dpkg's own checksums: a
changed binary has the same package version installed again before its member restarts
(systemd runtime, three members).

The survey's ``dpkg --verify`` is part of the one command per member: a converged run
still costs one ``docker exec`` per member (counted by the benchmark's docker shim).
The package is installed again from Debian's mirror (apt inside the containers).
"""

from __future__ import annotations

import time

import pytest

from bench.counting import count_over_docker
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    etcd_times,
    make_bed,
    out,
    pyinfra,
    sh,
)

pytestmark = pytest.mark.e2e

ETCD = "/usr/bin/etcd"


@pytest.fixture(scope="module")
def deb_bed(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-tamper-deb", 3, subnet_index=57)


def packaged_md5(node) -> str:
    """The md5 dpkg recorded for /usr/bin/etcd when it installed etcd-server."""
    line = out(node, "grep ' usr/bin/etcd$' /var/lib/dpkg/info/etcd-server.md5sums")
    return line.split()[0]


def running_exe_md5(node) -> str:
    pid = out(node, "systemctl show -p MainPID --value etcd")
    assert pid != "0", node.container
    return out(node, f"md5sum /proc/{pid}/exe").split()[0]


def test_a_converged_run_still_costs_one_command_per_member(deb_bed: Bed, tmp_path):
    assert_healthy_cluster(deb_bed, deploy_ok(deb_bed.inventory))
    runs = []
    counts = count_over_docker(
        deb_bed.nodes,
        tmp_path,
        lambda env: runs.append(pyinfra(deb_bed.inventory, "--json", env=env)),
    )
    (run,) = runs
    assert run.returncode == 0, run.output[-3000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert "nothing to change, checks only" in run.output
    assert counts.commands == {node.container: 1 for node in deb_bed.nodes}


def test_a_changed_packaged_etcd_is_installed_again_before_the_restart(deb_bed: Bed):
    node = deb_bed.nodes[1]
    # another binary in place of the package's (the running process keeps the old inode)
    out(node, f"cp {ETCD} /tmp/etcd.new && printf x >>/tmp/etcd.new && mv -f /tmp/etcd.new {ETCD}")
    assert "/usr/bin/etcd" in out(node, "dpkg --verify etcd-server; true")
    others = {n.container: etcd_times(n) for n in deb_bed.nodes if n is not node}
    with ClusterPoller(deb_bed.nodes[0], deb_bed.endpoints()) as poller:
        run = deploy_ok(deb_bed.inventory)
        time.sleep(1)
    assert poller.ok >= 3, "the poller barely ran"
    assert poller.failures == [], poller.failures
    assert "/usr/bin/etcd is not the file package etcd-server installed" in run.output
    reinstall = run.output.index("Install etcd-server again")
    assert reinstall < run.output.index("restarting etcd member infra1")
    assert_healthy_cluster(deb_bed, run)
    assert "/usr/bin/etcd" not in out(node, "dpkg --verify etcd-server; true")
    assert running_exe_md5(node) == packaged_md5(node)  # it runs the package's etcd
    assert sh(node, "test -e /usr/sbin/policy-rc.d").returncode != 0  # put back as it was
    assert {n.container: etcd_times(n) for n in deb_bed.nodes if n is not node} == others
    rerun = deploy_ok(deb_bed.inventory, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0
