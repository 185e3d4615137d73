"""Three members, IPv4, systemd runtime: the guide's cluster, end to end.

The tests run in file order on one bed: refusals and ``--dry`` first (the hosts
must stay untouched), then the deploy, the no-op rerun (one remote command per member),
drift shown by ``--dry --diff`` and repaired by a ``--serial`` run, a member that is down,
and a rename that must be refused (a replacement) without touching data.
"""

from __future__ import annotations

import pytest
import yaml

from bench.counting import count_over_docker
from sandbox import bed
from tests.e2e.conftest import (
    PKI,
    Bed,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    sh,
    untouched,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-three", 3, subnet_index=11)


def test_dry_run_on_fresh_hosts_prints_plan_and_changes_nothing(three: Bed):
    run = pyinfra(three.inventory, "--dry")
    assert run.returncode == 0, run.output[-4000:]
    assert "Detected changes" in run.output
    assert "Install the etcd CA and this member's certificates and keys" in run.output
    assert all(untouched(node) for node in three.nodes)
    assert not (three.workdir / "etcd-external.yaml").exists()


# case: (host index, host data to change, extra CLI args, text the error must contain)
BAD_INPUTS = {
    "duplicate names": (1, {"etcd_name": "infra0"}, (), "etcd_name='infra0' is used by both"),
    "duplicate addresses": (1, {"etcd_address": "10.231.11.10"}, (), "'10.231.11.10' is used by"),
    "invalid address": (2, {"etcd_address": "10.231.11.300"}, (), "etcd_address='10.231.11.300'"),
    "unsupported API version": (0, {}, ("--data", "kubeadm_api_version=v1beta2"), "'v1beta2'"),
    "unsupported runtime": (0, {}, ("--data", "etcd_runtime=docker"), "etcd_runtime='docker'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_before_any_change(three: Bed, case: str):
    index, changes, args, expected = BAD_INPUTS[case]
    entries = bed.inventory(three.nodes, three.host_data)
    entries[index][1].update(changes)
    path = three.workdir / f"bad-{case.replace(' ', '-')}.py"
    path.write_text(f"etcd = {entries!r}\n")
    run = pyinfra(path, *args)
    assert run.returncode != 0
    assert expected in run.output, run.output[-3000:]
    assert all(untouched(node) for node in three.nodes)


def test_empty_etcd_group_is_refused(three: Bed):
    path = three.workdir / "bad-empty.py"
    path.write_text(f"etcd = []\ncontrol_plane = [{three.nodes[0].pyinfra_host!r}]\n")
    run = pyinfra(path)
    assert run.returncode != 0
    assert "group 'etcd' is empty" in run.output, run.output[-3000:]
    assert all(untouched(node) for node in three.nodes)


def test_static_pod_runtime_without_kubeadm_is_refused(three: Bed):
    run = pyinfra(three.inventory, "--data", "etcd_runtime=static-pod")
    assert run.returncode != 0
    assert "kubeadm, kubelet, crictl" in run.output, run.output[-3000:]
    assert "containerd.sock" in run.output
    assert "or set `etcd_runtime=systemd`" in run.output  # the way out
    assert all(untouched(node) for node in three.nodes)


def test_deploy_builds_a_healthy_cluster_over_mutual_tls(three: Bed, tmp_path):
    """A new cluster in four remote commands per member (counted as the benchmark counts):
    the survey, the run lock, one command that writes every file, checks them (step 6)
    and starts etcd, and giving the lock back; a fifth only if the first member's probe
    in that command did not yet find every member healthy (step 8 then waits)."""
    runs = []
    counts = count_over_docker(
        three.nodes, tmp_path, lambda env: runs.append(pyinfra(three.inventory, env=env))
    )
    (run,) = runs
    assert run.returncode == 0, run.output[-6000:]
    assert_healthy_cluster(three, run)
    assert "Install the etcd CA and this member's certificates and keys" in run.output
    assert "Write this member's kubeadm config" not in run.output  # in the same command
    assert "The guide's expected files are in place" not in run.output  # checked in it
    per_member = {counts.commands[node.container] for node in three.nodes}
    assert per_member in ({4}, {5}), counts.commands
    assert not counts.transfers
    # The client certificate is required: without one etcd refuses the request.
    first = three.nodes[0]
    anonymous = sh(first, f"curl -sS --cacert {PKI}/etcd/ca.crt {endpoint(first)}/health")
    assert anonymous.returncode != 0 or b'"health":"true"' not in anonymous.stdout
    external = yaml.safe_load((three.workdir / "etcd-external.yaml").read_text())
    assert external["etcd"]["external"]["endpoints"] == [endpoint(n) for n in three.nodes]
    assert external["etcd"]["external"]["keyFile"] == f"{PKI}/apiserver-etcd-client.key"


def test_second_run_reports_zero_changes(three: Bed):
    run = deploy_ok(three.inventory, "--json")
    totals = run.json()["results"]["totals"]
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert totals["success"] == 0, changed
    assert totals["error"] == 0


def test_a_run_that_changes_nothing_costs_one_remote_command_per_member(three: Bed, tmp_path):
    """One survey per member is the whole cost of a converged run: one ``docker exec`` each
    (counted by a logging ``docker`` shim, as the benchmark counts), no upload."""
    runs = []
    counts = count_over_docker(
        three.nodes, tmp_path, lambda env: runs.append(pyinfra(three.inventory, "--json", env=env))
    )
    (run,) = runs
    assert run.returncode == 0, run.output[-3000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert "nothing to change, checks only" in run.output
    assert counts.commands == {node.container: 1 for node in three.nodes}
    assert not counts.transfers


def test_drift_shows_in_dry_diff_and_a_serial_run_repairs_it(three: Bed):
    """``--dry --diff`` shows a drifted file's diff and changes nothing; ``--serial`` repairs
    it (and a mode), and the next run changes nothing."""
    first = three.nodes[0]
    timer = "/etc/systemd/system/etcd-backup.timer"
    config = "/etc/kubernetes/kubeadmcfg.yaml"
    sh(first, f"echo '# drifted by hand' >> {timer}; chmod 600 {config}")

    dry = pyinfra(three.inventory, "--dry", "--diff")
    assert dry.returncode == 0, dry.output[-3000:]
    assert f"Will modify {timer}" in dry.output and "# drifted by hand" in dry.output
    assert out(first, f"tail -n 1 {timer}") == "# drifted by hand"
    assert out(first, f"stat -c %a {config}") == "600"

    deploy_ok(three.inventory, "--serial")
    assert "# drifted by hand" not in out(first, f"cat {timer}")
    assert out(first, f"stat -c %a {config}") == "644"
    assert out(first, "systemctl is-active etcd-backup.timer") == "active"
    assert deploy_ok(three.inventory, "--json").json()["results"]["totals"]["success"] == 0


def test_hosts_hold_the_guides_files_with_kubeadms_modes(three: Bed):
    for index, node in enumerate(three.nodes):
        listing = out(node, f"find {PKI} -type f -printf '%p %m %u %g\\n' | sort")
        files = dict(line.split(" ", 1) for line in listing.splitlines())
        expected_keys = ["apiserver-etcd-client", "etcd/healthcheck-client", "etcd/peer"]
        expected_keys += ["etcd/server"] + (["etcd/ca"] if index == 0 else [])
        for stem in expected_keys:
            assert files[f"{PKI}/{stem}.key"] == "600 root root", (node.container, stem)
            assert files[f"{PKI}/{stem}.crt"] == "644 root root", (node.container, stem)
        assert files[f"{PKI}/etcd/ca.crt"] == "644 root root"
        assert (f"{PKI}/etcd/ca.key" in files) == (index == 0), node.container
        assert len(files) == len(expected_keys) * 2 + (0 if index == 0 else 1)
        assert out(node, "systemctl is-active etcd") == "active"
        assert out(node, "systemctl is-enabled etcd") == "enabled"
        assert out(node, "stat -c '%a %U' /var/lib/etcd") == "700 root"


def test_member_down_fails_naming_it_then_a_rerun_converges(three: Bed):
    down = three.nodes[2]
    first = three.nodes[0]
    assert etcdctl(first, three.endpoints(), "put e2e/before-outage kept").returncode == 0
    bed.disconnect(down)
    try:
        run = pyinfra(three.inventory, "--data", "etcd_health_timeout=10")
        assert run.returncode != 0
        assert f"member infra2 ({down.pyinfra_host}" in run.output, run.output[-4000:]
        assert "last log lines of etcd here" in run.output
    finally:
        bed.reconnect(down)
    run = deploy_ok(three.inventory)
    assert_healthy_cluster(three, run)
    for node in three.nodes:
        got = etcdctl(node, endpoint(node), "get --print-value-only e2e/before-outage")
        assert got.stdout.decode().strip() == "kept", node.container


def test_a_rename_is_refused_as_a_replacement_and_no_data_is_touched(three: Bed):
    assert etcdctl(three.nodes[0], three.endpoints(), "put e2e/before-change kept").returncode == 0
    configs = {n.container: out(n, "md5sum /etc/kubernetes/kubeadmcfg.yaml") for n in three.nodes}
    renamed = three.write_inventory("renamed.py", names=["infra0", "infra1", "infra9"])
    run = pyinfra(renamed)
    assert run.returncode != 0
    assert "is named 'infra2', the inventory says 'infra9'" in run.output, run.output[-3000:]
    assert "renaming a member is a replacement" in run.output
    for node in three.nodes:
        assert out(node, "md5sum /etc/kubernetes/kubeadmcfg.yaml") == configs[node.container]
        assert out(node, "systemctl is-active etcd") == "active"
        got = etcdctl(node, endpoint(node), "get --print-value-only e2e/before-change")
        assert got.stdout.decode().strip() == "kept", node.container
