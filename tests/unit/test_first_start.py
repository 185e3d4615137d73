"""A new cluster's first start in turn (etcd/first_start.py): who waits for whom, and
``apply_state.sh``'s ``await-peers`` under a real shell with a stand-in ``curl``."""

from __future__ import annotations

import subprocess
import time

from etcd_cluster import scripts
from etcd_cluster.engine import managed
from etcd_cluster.engine.host_state import HostState, UnitState
from etcd_cluster.etcd.first_start import await_directive, start_after
from tests.unit.conftest import stand_in_tools

# answers as etcd's peer port would: 0 when $STATE/up-<host> exists, else "refused" (7);
# every call logged
CURL = """#!/bin/sh
for last; do :; done
echo "$*" >> "$STATE/calls"
host=${last#https://}; host=${host%%:*}
[ -e "$STATE/up-$host" ] && exit 0
[ -e "$STATE/hang-$host" ] && exit 28
exit 7
"""


def test_each_member_of_a_new_cluster_waits_for_the_ones_before_it(cluster):
    # only when the run starts a new cluster (Plan.starts_new_cluster, test_survey.py)
    hosts = [m.host for m in cluster.members]
    urls = [m.peer_url(cluster.settings.peer_port) for m in cluster.members]
    assert [start_after(cluster, h) for h in hosts] == [[], urls[:1], urls[:2]]
    assert start_after(cluster, "not-a-member") == []
    assert await_directive(cluster, []) == ()
    pki = cluster.settings.pki_dir
    assert await_directive(cluster, urls[:2]) == (
        *("await-peers", "10", f"{pki}/etcd/ca.crt", f"{pki}/etcd/peer.crt"),
        *(f"{pki}/etcd/peer.key", ",".join(urls[:2])),
    )


def test_the_wait_comes_just_before_a_start_never_before_a_restart():
    wait = ("await-peers", "10", "ca", "crt", "key", "https://a:2380")
    service = managed.Service("etcd.service", before_start=wait)
    stopped = HostState({}, {"etcd.service": UnitState("dead", "enabled")}, frozenset())
    assert managed._unit_directives(service, stopped, restart=False) == (
        [],
        [*wait, "systemctl", "start", "etcd.service"],
    )
    running = HostState({}, {"etcd.service": UnitState("running", "enabled")}, frozenset())
    assert managed._unit_directives(service, running, restart=True) == (
        [],
        ["systemctl", "restart", "etcd.service"],
    )


def run(env: dict[str, str], *directives: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(
        ["sh", "-c", scripts.command("apply_state", *directives)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    return done, time.monotonic() - start


def test_await_peers_waits_until_every_peer_answers_then_goes_on(tmp_path):
    env = stand_in_tools(tmp_path, curl=CURL)
    state = tmp_path / "state"
    (state / "up-a").touch()
    urls = "https://a:2380,https://b:2380"
    waiting = subprocess.Popen(
        ["sh", "-c", scripts.command("apply_state", "await-peers", "10", "ca", "c", "k", urls)],
        env=env,
    )
    time.sleep(0.5)
    assert waiting.poll() is None  # b does not answer yet
    (state / "up-b").touch()
    assert waiting.wait(timeout=5) == 0
    calls = (state / "calls").read_text().splitlines()
    assert calls[0].endswith("-o /dev/null -- https://a:2380/version")
    assert "--http1.1" in calls[0] and "--cert c --key k" in calls[0]
    assert calls[-1].endswith("https://b:2380/version") and len(calls) > 3


def test_await_peers_is_bounded_and_never_fails_the_start(tmp_path):
    env = stand_in_tools(tmp_path, curl=CURL)
    done, took = run(env, "await-peers", "1", "ca", "c", "k", "https://gone:2380")
    assert done.returncode == 0, done.stderr
    assert 0.9 < took < 5  # 50 tries 0.02 s apart, then on
    (tmp_path / "state" / "hang-gone").touch()  # a bound port that answers nothing
    (tmp_path / "state" / "calls").unlink()
    done, _ = run(env, "await-peers", "1", "ca", "c", "k", "https://gone:2380")
    assert done.returncode == 0
    assert len((tmp_path / "state" / "calls").read_text().splitlines()) == 2  # 25 ticks each
    refused, _ = run(env, "await-peers", "1", "ca")
    assert refused.returncode == 2 and "await-peers needs" in refused.stderr
