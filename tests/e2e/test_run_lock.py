"""One run at a time, end to end: three members, systemd runtime, one bed, in file order.

- a converged no-op takes no lock: still one remote command per member, the lock's
  files untouched;
- two deploys started at the same moment with the same flag change, under the
  write/read poller: one refuses naming the other (controller, user, pid), every
  member restarted exactly once, the change complete, zero failed requests;
- a lock planted by "another machine" refuses a deploy (nothing changes) until it is
  broken with ``etcd_lock_break=yes``, or has outlived ``etcd_lock_ttl``;
- a run whose hosts fail (all of them, or one) leaves no lock behind;
- a deploy killed with SIGKILL while it holds the lock does not block the next run
  from this machine, which completes the change (under the poller);
- ``restore.py --dry`` shows the live cluster's health and revision, the snapshot's
  revision and the loss; a deploy started during a restore refuses, naming it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from bench.counting import count_over_docker
from tests.e2e.conftest import (
    Bed,
    ClusterPoller,
    Run,
    assert_healthy_cluster,
    deploy_ok,
    etcdctl,
    finish,
    make_bed,
    out,
    pyinfra,
    running_args,
    sh,
    start,
)
from tests.e2e.test_backup_restore import restore_source

pytestmark = pytest.mark.e2e

LOCK = "/var/lib/etcd-deploy/run-lock"
HOLDER = f"{LOCK}/holder"


@pytest.fixture(scope="module")
def bed3(tmp_path_factory):
    yield from make_bed(tmp_path_factory, "etcd-e2e-lock", 3, subnet_index=65)


def wait_for_holder(b: Bed, timeout: float = 120) -> None:
    """Until the first member's lock is held (the run got past its plan)."""
    deadline = time.monotonic() + timeout
    while sh(b.nodes[0], f"test -f {HOLDER}").returncode != 0:
        assert time.monotonic() < deadline, "no run took the lock"
        time.sleep(0.2)


def holders(b: Bed) -> list[str]:
    """Every member's holder file ("" when its lock is free)."""
    return [out(n, f"cat {HOLDER} 2>/dev/null || true") for n in b.nodes]


def last_releases(b: Bed) -> list[str]:
    return [out(n, f"cat {LOCK}/last 2>/dev/null || true") for n in b.nodes]


def backup_script(b: Bed) -> str:
    return out(b.nodes[0], "sha256sum /usr/local/lib/etcd-deploy/etcd-backup.sh")


def clock(b: Bed) -> list[int]:
    return [int(out(n, "date +%s")) for n in b.nodes]


def starts_since(b: Bed, since: list[int]) -> list[int]:
    """How often systemd started etcd on each member since ``since`` (its clock)."""
    return [
        int(out(n, f"journalctl -u etcd --since @{t} -o cat | grep -c '^Started ' || true"))
        for n, t in zip(b.nodes, since, strict=True)
    ]


def plant(b: Bed, node: int, since: str = "$(date +%s)") -> None:
    """A holder file as another machine's run would leave it."""
    sh(
        b.nodes[node],
        f"mkdir -p {LOCK} && printf 'token=planted\\ncontroller=elsewhere.example\\nuser=alice\\n"
        f"pid=999\\npid_start=1\\nrun=deploy.py\\nsince=%s\\n' {since} >{HOLDER}",
    )


def with_flag(b: Bed, name: str, value: str) -> Path:
    return b.write_inventory(f"{name}-{value}.py", host_data={"etcd_extra_args": {name: value}})


def test_deploy_then_a_no_op_takes_no_lock(bed3: Bed, tmp_path):
    assert_healthy_cluster(bed3, deploy_ok(bed3.inventory))
    assert holders(bed3) == ["", "", ""]
    before = last_releases(bed3)
    assert all(before) and len(set(before)) == 1, before  # the deploy's token, everywhere
    runs: list[Run] = []
    counts = count_over_docker(
        bed3.nodes, tmp_path, lambda env: runs.append(pyinfra(bed3.inventory, "--json", env=env))
    )
    (run,) = runs
    assert run.returncode == 0, run.output[-3000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert not [op for op in run.json()["results"]["operations"] if "run lock" in op["name"]]
    assert counts.commands == {node.container: 1 for node in bed3.nodes}
    assert holders(bed3) == ["", "", ""] and last_releases(bed3) == before


def test_two_deploys_at_once_one_refuses_and_every_member_restarts_once(bed3: Bed):
    inventory = with_flag(bed3, "heartbeat-interval", "150")
    since = clock(bed3)
    with ClusterPoller(bed3.nodes[0], bed3.endpoints()) as poller:
        procs = [start(inventory), start(inventory)]
        runs = [finish(p) for p in procs]
    assert poller.ok > 0 and poller.failures == [], poller.failures[:5]
    codes = sorted(r.returncode for r in runs)
    assert codes[0] == 0 and codes[1] != 0, [r.output[-3000:] for r in runs]
    (winner,) = [(p, r) for p, r in zip(procs, runs, strict=True) if r.returncode == 0]
    (loser,) = [r for r in runs if r.returncode != 0]
    assert "another run holds the cluster's run lock on" in loser.output, loser.output[-3000:]
    assert f"pid {winner[0].pid}," in loser.output and "deploy.py run by" in loser.output
    assert starts_since(bed3, since) == [1, 1, 1]
    for node in bed3.nodes:
        assert "--heartbeat-interval=150" in running_args(node)
    assert holders(bed3) == ["", "", ""]
    assert deploy_ok(inventory, "--json").json()["results"]["totals"]["success"] == 0


def test_a_lock_from_another_machine_refuses_until_broken_or_expired(bed3: Bed):
    flag = {"etcd_extra_args": {"heartbeat-interval": "150"}}
    keep = bed3.write_inventory("keep-5.py", host_data={**flag, "etcd_backup_keep": 5})
    plant(bed3, 1)
    since, script = clock(bed3), backup_script(bed3)
    refused = pyinfra(keep)
    assert refused.returncode != 0
    assert "another run holds the cluster's run lock on" in refused.output
    assert "deploy.py run by alice@elsewhere.example pid 999" in refused.output
    assert "etcd_lock_break=yes" in refused.output
    assert backup_script(bed3) == script and starts_since(bed3, since) == [0, 0, 0]

    broken = deploy_ok(keep, "--data", "etcd_lock_break=yes")
    assert "the run lock of deploy.py run by alice@elsewhere.example" in broken.output
    assert "is stale (etcd_lock_break=yes)" in broken.output
    assert holders(bed3) == ["", "", ""] and backup_script(bed3) != script

    plant(bed3, 2, since="$(( $(date +%s) - 120 ))")
    short_ttl = {**flag, "etcd_backup_keep": 6, "etcd_lock_ttl": 60}
    expired = deploy_ok(bed3.write_inventory("keep-6.py", host_data=short_ttl))
    assert "older than etcd_lock_ttl=60s" in expired.output
    assert holders(bed3) == ["", "", ""]
    assert starts_since(bed3, since) == [0, 0, 0]


def test_a_run_that_fails_gives_the_lock_back(bed3: Bed):
    """Every host failing (pyinfra stops: "No hosts remaining"), then one host failing
    while the others go on: either way no lock is left behind, and the next run works."""
    scripts_dir = "/usr/local/lib/etcd-deploy"  # a failing disk: the backup script's
    keep = bed3.write_inventory(
        "keep-7.py",
        host_data={"etcd_extra_args": {"heartbeat-interval": "150"}, "etcd_backup_keep": 7},
    )
    for node in bed3.nodes:
        out(node, f"mount -t tmpfs -o ro tmpfs {scripts_dir}")
    try:
        every = pyinfra(keep)
        assert every.returncode != 0 and "No hosts remaining" in every.output, every.output[-3000:]
        assert holders(bed3) == ["", "", ""]
        for node in (bed3.nodes[0], bed3.nodes[2]):
            out(node, f"umount {scripts_dir}")
        one = pyinfra(keep)
        assert one.returncode != 0, one.output[-3000:]
        assert holders(bed3) == ["", "", ""]
    finally:
        for node in bed3.nodes:
            sh(node, f"umount {scripts_dir}")
    deploy_ok(keep)
    assert holders(bed3) == ["", "", ""]


def test_a_killed_run_does_not_block_the_next_one(bed3: Bed):
    inventory = with_flag(bed3, "heartbeat-interval", "200")
    with ClusterPoller(bed3.nodes[0], bed3.endpoints()) as poller:
        proc = start(inventory)
        wait_for_holder(bed3)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert sh(bed3.nodes[0], f"test -f {HOLDER}").returncode == 0  # left behind
        rerun = deploy_ok(inventory)
    assert poller.ok > 0 and poller.failures == [], poller.failures[:5]
    assert f"process {proc.pid} is gone from" in rerun.output
    for node in bed3.nodes:
        assert "--heartbeat-interval=200" in running_args(node)
    assert holders(bed3) == ["", "", ""]


def test_restore_shows_the_live_cluster_and_a_deploy_during_it_refuses(bed3: Bed):
    first = bed3.nodes[0]
    inventory = with_flag(bed3, "heartbeat-interval", "200")
    snapshot = restore_source(first)
    for i in range(5):  # revisions the restore takes back
        assert etcdctl(first, bed3.endpoints(), f"put after/{i} {i}").returncode == 0
    data = ("--data", f"etcd_restore_snapshot={snapshot}", "--data", "etcd_restore_confirm=yes")
    dry = pyinfra(inventory, *data, "--dry", deploy="restore.py")
    assert dry.returncode == 0, dry.output[-3000:]
    assert "live cluster: 3/3 members healthy, leader infra" in dry.output
    assert "5 revision(s) written since it will be lost" in dry.output, dry.output[-3000:]
    assert holders(bed3) == ["", "", ""]  # --dry takes no lock

    restoring = start(inventory, *data, deploy="restore.py")
    wait_for_holder(bed3)
    # held still while the deploy runs: a restore that finished first (a busy machine slows
    # the deploy's start) would leave it nothing to refuse (seen once, three test files at once)
    restoring.send_signal(signal.SIGSTOP)
    try:
        during = pyinfra(inventory)
    finally:
        restoring.send_signal(signal.SIGCONT)
    restored = finish(restoring)
    assert restored.returncode == 0, restored.output[-4000:]
    assert during.returncode != 0, during.output[-4000:]
    assert "another run holds the cluster's run lock on" in during.output
    assert "restore.py run by" in during.output and f"pid {restoring.pid}," in during.output
    assert holders(bed3) == ["", "", ""]
    assert deploy_ok(inventory, "--json").json()["results"]["totals"]["success"] == 0
