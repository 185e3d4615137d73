"""Defragmentation by rule and NOSPACE recovery on a real cluster (systemd runtime).

One bed of three members with a small ``--quota-backend-bytes`` (etcd_extra_args), in
file order:
- fragmentation made (values written, deleted, compacted), the thresholds lowered: the
  run defragments every member under the write/read poller: zero failed requests, no
  key lost, each DB smaller, one member at a time, the leader last after its leadership
  moved; the next run changes nothing;
- the cluster filled until NOSPACE (the same keys rewritten, as Kubernetes does): a run
  refuses at once naming the way out; with etcd_nospace_recover=yes it recovers: alarm
  gone, writes work, every value acknowledged before the alarm still there; a recovery
  killed (SIGKILL) after one member's defragmentation is finished by the next run.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    REPO,
    Bed,
    ClusterPoller,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcd_times,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    pyinfra_command,
    sh,
)

pytestmark = pytest.mark.e2e

QUOTA = 24 * 1024 * 1024
BIG = 256 * 1024  # bytes per large value
KEPT = 20  # small keys that must survive everything


@pytest.fixture(scope="module")
def bed3(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-defrag", 3, subnet_index=28):
        b.host_data["etcd_extra_args"] = {"quota-backend-bytes": str(QUOTA)}
        b.inventory = b.write_inventory("inventory.py")
        yield b


def statuses(b: Bed) -> dict[str, dict]:
    """Each member's own status (etcdctl endpoint status), by container."""
    found = {}
    for node in b.nodes:
        result = etcdctl(node, endpoint(node), "endpoint status -w json")
        assert result.returncode == 0, result.stderr.decode()
        found[node.container] = json.loads(result.stdout)[0]["Status"]
    return found


def leader_name(b: Bed) -> str:
    for i, status in enumerate(statuses(b).values()):
        if status["leader"] == status["header"]["member_id"]:
            return f"infra{i}"
    raise AssertionError("no leader")


def write_kept(b: Bed, prefix: str) -> None:
    first = b.nodes[0]
    for i in range(KEPT):
        assert etcdctl(first, b.endpoints(), f"put {prefix}/{i} value-{i}").returncode == 0


def assert_kept(b: Bed, prefix: str) -> None:
    for node in b.nodes:
        got = etcdctl(node, endpoint(node), f"get --prefix {prefix}/ -w json")
        kvs = json.loads(got.stdout).get("kvs", [])
        assert len(kvs) == KEPT, (node.container, got.stderr)


def big_puts(b: Bed, key: str, count: int, stop_on_failure: bool = False) -> str:
    """``count`` puts of BIG-byte values (``<i>-xxx...``) to ``key``/<i % 4> on the first
    member, in one shell loop; prints ``ok <i>`` per acknowledged put."""
    stop = "break" if stop_on_failure else "exit 1"
    script = (
        f"i=0; while [ $i -lt {count} ]; do "
        f"{{ printf '%s-' $i; head -c {BIG} /dev/zero | tr '\\0' x; }} | "
        f"ETCDCTL_API=3 etcdctl --command-timeout=10s --cacert /etc/kubernetes/pki/etcd/ca.crt "
        "--cert /etc/kubernetes/pki/apiserver-etcd-client.crt "
        "--key /etc/kubernetes/pki/apiserver-etcd-client.key "
        f"--endpoints={endpoint(b.nodes[0])} put {key}/$((i % 4)) >/dev/null || {stop}; "
        "echo ok $i; i=$((i + 1)); done"
    )
    result = sh(b.nodes[0], script)
    assert stop_on_failure or result.returncode == 0, result.stderr.decode()
    return result.stdout.decode() + result.stderr.decode()


def compact_now(b: Bed) -> None:
    revision = next(iter(statuses(b).values()))["header"]["revision"]
    result = etcdctl(b.nodes[0], b.endpoints(), f"compact {revision} --physical")
    assert result.returncode == 0, result.stderr.decode()


def fragmented(b: Bed) -> dict[str, dict]:
    """Each member's status once its compacted pages count as free (bbolt frees them on
    a later commit: a few small writes, bounded)."""
    for attempt in range(30):
        found = statuses(b)
        free = [int(s["dbSize"]) - int(s["dbSizeInUse"]) for s in found.values()]
        if all(f >= 4 * 1024 * 1024 for f in free):
            return found
        assert etcdctl(b.nodes[0], b.endpoints(), f"put defrag/tick {attempt}").returncode == 0
        time.sleep(1)
    raise AssertionError(f"no fragmentation to work on: {found}")


def test_deploy(bed3: Bed):
    assert_healthy_cluster(bed3, deploy_ok(bed3.inventory))
    assert f"--quota-backend-bytes={QUOTA}" in out(
        bed3.nodes[0], "cat /etc/systemd/system/etcd.service"
    )


def test_fragmented_members_are_defragmented_one_at_a_time_under_the_poller(bed3: Bed):
    write_kept(bed3, "defrag/kept")
    big_puts(bed3, "defrag/big", 40)  # 10 MiB written, then deleted and compacted away
    assert etcdctl(bed3.nodes[0], bed3.endpoints(), "del --prefix defrag/big/").returncode == 0
    compact_now(bed3)
    before = fragmented(bed3)
    unchanged = deploy_ok(bed3.inventory, "--json")  # default thresholds: 100 MiB free
    assert unchanged.json()["results"]["totals"]["success"] == 0
    leader = leader_name(bed3)
    times = {n.container: etcd_times(n) for n in bed3.nodes}
    low = bed3.write_inventory(
        "defrag.py", host_data={"etcd_defrag_free_percent": 50, "etcd_defrag_free_mb": 2}
    )
    with ClusterPoller(bed3.nodes[0], bed3.endpoints()) as poller:
        run = deploy_ok(low)
        time.sleep(1)
    assert poller.ok >= 5, "the poller barely ran"
    assert poller.failures == [], poller.failures
    after = statuses(bed3)
    for container, status in after.items():
        assert int(status["dbSize"]) < int(before[container]["dbSize"]) // 2, (container, status)
    assert {n.container: etcd_times(n) for n in bed3.nodes} == times  # nobody restarted
    lines = run.output.splitlines()
    starts = [i for i, line in enumerate(lines) if "defragmenting etcd member" in line]
    ends = [i for i, line in enumerate(lines) if re.search(r"member infra\d defragmented:", line)]
    assert len(starts) == len(ends) == 3, run.output[-5000:]
    for start, end, next_start in zip(starts, ends, [*starts[1:], len(lines)], strict=True):
        assert start < end < next_start  # one member at a time
    order = [re.findall(r"member (infra\d)", lines[i])[0] for i in starts]
    assert sorted(order) == ["infra0", "infra1", "infra2"] and order[-1] == leader, order
    moved = [i for i, line in enumerate(lines) if f"moved leadership from {leader}" in line]
    assert moved and starts[1] < moved[0] < starts[2], run.output[-5000:]
    assert_kept(bed3, "defrag/kept")
    rerun = deploy_ok(low, "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def fill_until_nospace(b: Bed, prefix: str) -> dict[int, int]:
    """The same four keys rewritten until etcd answers NOSPACE: which put (its ``i``) each
    key last acknowledged."""
    filled = big_puts(b, prefix, 400, stop_on_failure=True)
    assert "database space exceeded" in filled, filled[-2000:]
    acknowledged = {}
    for match in re.finditer(r"^ok (\d+)$", filled, re.M):
        acknowledged[int(match.group(1)) % 4] = int(match.group(1))
    assert len(acknowledged) == 4, filled[-2000:]
    assert "NOSPACE" in alarm_list(b)
    return acknowledged


def alarm_list(b: Bed) -> str:
    return etcdctl(b.nodes[0], b.endpoints(), "alarm list").stdout.decode().strip()


def assert_recovered(b: Bed, prefix: str, acknowledged: dict[int, int]) -> None:
    """The alarm gone, writes work, every acknowledged value still there on every member.

    The put that failed with NOSPACE may be applied all the same (etcd's quota applier
    applies it, then answers NOSPACE): its key may hold that later value, never an older one.
    """
    assert alarm_list(b) == ""
    assert etcdctl(b.nodes[2], b.endpoints(), f"put {prefix}-after ok").returncode == 0
    last = max(acknowledged.values())
    for node in b.nodes:
        for key, i in acknowledged.items():
            got = etcdctl(node, endpoint(node), f"get --print-value-only {prefix}/{key}")
            value = got.stdout.decode()
            round_, _, rest = value.partition("-")
            assert rest.startswith("xxx") and round_.isdigit(), (node.container, key, value[:20])
            failed = {last + 1} if (last + 1) % 4 == key else set()  # the put NOSPACE stopped
            assert int(round_) in {i} | failed, (node.container, key, i, value[:20])


def test_nospace_refuses_at_once_then_recovers_with_every_acknowledged_value(bed3: Bed):
    write_kept(bed3, "nospace/kept")
    acknowledged = fill_until_nospace(bed3, "nospace/big")
    times = {n.container: etcd_times(n) for n in bed3.nodes}

    started = time.monotonic()
    refused = pyinfra(bed3.inventory)
    took = time.monotonic() - started
    assert refused.returncode != 0
    assert "active NOSPACE alarm" in refused.output, refused.output[-3000:]
    assert "etcd_nospace_recover=yes" in refused.output
    assert "No hosts remaining" not in refused.output
    assert took < 60, took  # not the health timeout (90 s here) waited out
    assert {n.container: etcd_times(n) for n in bed3.nodes} == times

    run = deploy_ok(recovering(bed3))
    assert "NOSPACE recovery: compacted to revision" in run.output, run.output[-5000:]
    assert run.output.count("defragmenting etcd member") == 3
    assert "NOSPACE recovery: alarm disarmed; writes work again" in run.output
    assert_recovered(bed3, "nospace/big", acknowledged)
    assert_kept(bed3, "nospace/kept")
    assert_kept(bed3, "defrag/kept")
    assert {n.container: etcd_times(n) for n in bed3.nodes} == times  # nobody restarted
    rerun = deploy_ok(recovering(bed3), "--json")
    assert rerun.json()["results"]["totals"]["success"] == 0


def recovering(b: Bed) -> Path:
    return b.write_inventory("recover.py", host_data={"etcd_nospace_recover": "yes"})


def db_sizes(b: Bed) -> list[int | None]:
    """Each member's DB size (None while it does not answer, e.g. defragmenting)."""
    sizes: list[int | None] = []
    for node in b.nodes:
        result = etcdctl(node, endpoint(node), "endpoint status -w json")
        ok = result.returncode == 0
        sizes.append(int(json.loads(result.stdout)[0]["Status"]["dbSize"]) if ok else None)
    return sizes


def test_a_recovery_killed_midway_is_finished_by_the_next_run(bed3: Bed):
    acknowledged = fill_until_nospace(bed3, "killed/big")
    full = min(size for size in db_sizes(bed3) if size is not None)
    run = subprocess.Popen(
        pyinfra_command(recovering(bed3)), cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not any(size is not None and size < full // 2 for size in db_sizes(bed3)):
        assert run.poll() is None and time.monotonic() < deadline, "no member defragmented"
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)  # one member defragmented, the alarm still active
    output, _ = run.communicate(timeout=60)
    assert "NOSPACE" in alarm_list(bed3), output[-3000:]
    rerun = deploy_ok(recovering(bed3))
    assert f"process {run.pid} is gone from" in rerun.output  # its run lock taken over
    assert "NOSPACE recovery: alarm disarmed; writes work again" in rerun.output
    assert_recovered(bed3, "killed/big", acknowledged)
    assert_kept(bed3, "nospace/kept")
