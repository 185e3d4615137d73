"""Over real ssh, as a non-root user with passwordless sudo: how operators run the deploy.

Three members reached at their bed addresses through pyinfra's ssh connector (openssh
in the test image, a user ``deploy`` with an authorized key and ``NOPASSWD`` sudo,
``_sudo`` host data), not through the Docker connector: the quiet channel's stdin, the
remote scripts and every operation go through ssh and sudo. A cold deploy, a no-op
rerun, and a drifted key repaired.
"""

from __future__ import annotations

import pytest

from etcd_cluster.engine import remote
from sandbox import ssh
from tests.e2e.conftest import PKI, Bed, assert_healthy_cluster, deploy_ok, make_bed, out, sh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def over_ssh(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-ssh", 3, subnet_index=18):
        b.inventory = ssh.setup(b.nodes, b.workdir, b.host_data)
        yield b


def test_a_cold_deploy_over_ssh_with_sudo(over_ssh: Bed):
    run = deploy_ok(over_ssh.inventory)
    assert "[10.231.18.10]" in run.output or "10.231.18.10" in run.output
    assert_healthy_cluster(over_ssh, run)
    for node in over_ssh.nodes:
        assert out(node, f"stat -c '%a %U' {PKI}/etcd/server.key") == "600 root"


def sudo_log(node) -> list[str]:
    return out(node, "journalctl -t sudo --no-pager -o cat").splitlines()


def test_a_rerun_over_ssh_changes_nothing(over_ssh: Bed):
    before = [len(sudo_log(node)) for node in over_ssh.nodes]
    run = deploy_ok(over_ssh.inventory, "--json")
    assert run.json()["results"]["totals"]["success"] == 0
    for node, seen in zip(over_ssh.nodes, before, strict=True):
        # one command per member, its script sent on stdin: sudo logs one line of it, not
        # the survey's 40 KB in pieces ("(command continued)") on every run
        logged = sudo_log(node)[seen:]
        commands = [line for line in logged if "COMMAND=" in line]
        assert len(commands) == 1 and remote.READ_COMMAND in commands[0], logged
        assert not [line for line in logged if "command continued" in line]


def test_a_drifted_key_is_repaired_over_ssh(over_ssh: Bed):
    node = over_ssh.nodes[1]
    assert sh(node, f"rm {PKI}/etcd/peer.key").returncode == 0
    run = deploy_ok(over_ssh.inventory)
    assert f"wrote {PKI}/etcd/peer.key" in run.output
    assert out(node, f"stat -c '%a %U' {PKI}/etcd/peer.key") == "600 root"
    assert_healthy_cluster(over_ssh, run)
