"""etcd's own time for each lifecycle operation: the same change made by hand on the same bed.

A member add, a removal, an upgrade and a restore each take etcd some time whoever asks
for them (a learner catching up, members restarting, restored members electing a
leader).  Timing each with bare ``etcdctl``/``etcdutl``/``systemctl`` on the hosts the
deploy set up (its unit, flags and certificates) leaves the part of a deploy run that
is the deploy's.  Each step is one ``docker exec``, as the deploy's own commands are.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Sequence

from bench.etcd_floor import (
    BOOTSTRAP_TIMEOUT,
    POLL_INTERVAL,
    FloorError,
    at_once,
    docker_exec,
    endpoints,
    etcdctl,
    wait_healthy,
)
from etcd_cluster.etcd.cluster import join_host_port
from sandbox import bed

DATA_DIR = "/var/lib/etcd"  # etcd_data_dir's default
SCRATCH = "/root/bench-floor"
"""Where the floors keep what they bring onto a host (a release, a snapshot)."""
BUMP_REVISION = 1_000_000_000  # as the deploy's restore (etcd's recovery guide)


def peer_url(node: bed.Node) -> str:
    return f"https://{join_host_port(node.address, 2380)}"


def members(listing: str) -> list[dict]:
    """The members of ``etcdctl member list -w json`` (or ``member add -w json``)."""
    return list(json.loads(listing).get("members") or [])


def member_id(listing: str, url: str) -> str:
    """The hex ID (as etcdctl takes it) of the member with peer URL ``url``."""
    for member in members(listing):
        if url in member.get("peerURLs", []):
            return f"{int(member['ID']):x}"
    raise FloorError(f"no member with peer URL {url} in {listing.strip()}")


def member_names(listing: str) -> list[str]:
    """Each member's name, `` (learner)`` after a learner's; sorted."""
    return sorted(
        (m.get("name") or "?") + (" (learner)" if m.get("isLearner") else "")
        for m in members(listing)
    )


def running_versions(status: str) -> list[str]:
    """The etcd version each endpoint of ``etcdctl endpoint status -w json`` runs."""
    return [entry["Status"]["version"] for entry in json.loads(status)]


def initial_cluster(named: Sequence[tuple[str, bed.Node]]) -> str:
    """``--initial-cluster`` for members ``(name, node)``."""
    return ",".join(f"{name}={peer_url(node)}" for name, node in named)


def checked(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise FloorError(f"{what} failed: {result.stderr.strip()}")
    return result.stdout


def remove_member(staying: Sequence[bed.Node], leaving: bed.Node) -> float:
    """Seconds for ``etcdctl member remove`` and stopping the removed member's etcd."""
    where = endpoints(staying)
    listing = checked(etcdctl(staying[0], where, "member", "list", "-w", "json"), "member list")
    leaving_id = member_id(listing, peer_url(leaving))
    start = time.monotonic()
    checked(etcdctl(staying[0], where, "member", "remove", leaving_id), "member remove")
    docker_exec(leaving, "systemctl", "stop", "etcd")
    return time.monotonic() - start


def add_learner(voters: Sequence[bed.Node], joining: bed.Node, name: str) -> float:
    """Seconds from ``member add --learner`` to a successful ``member promote``.

    ``joining`` holds the deploy's unit for ``name`` (``initial-cluster-state=existing``
    and the member list it joined with) and its certificates; its old data goes aside
    first (untimed), so it starts empty and catches up from the leader.
    """
    aside = f"{DATA_DIR}.bench-floor-$(date +%s%N)"
    docker_exec(joining, "sh", "-c", f"mkdir -p {aside} && mv {DATA_DIR}/member {aside}/")
    docker_exec(joining, "systemctl", "reset-failed", "etcd")  # start rate limit: etcd_floor
    where = endpoints(voters)
    start = time.monotonic()
    add = ("member", "add", name, f"--peer-urls={peer_url(joining)}", "--learner", "-w", "json")
    learner = member_id(checked(etcdctl(voters[0], where, *add), "member add"), peer_url(joining))
    docker_exec(joining, "systemctl", "start", "--no-block", "etcd")
    while True:  # etcd refuses to promote a learner that has not caught up yet
        promoted = etcdctl(voters[0], where, "member", "promote", learner)
        if promoted.returncode == 0:
            return time.monotonic() - start
        if time.monotonic() - start > BOOTSTRAP_TIMEOUT:
            raise FloorError(f"learner {name} not promoted: {promoted.stderr.strip()}")
        time.sleep(POLL_INTERVAL)


def stage_release(nodes: Sequence[bed.Node], archive: str, binary: str) -> None:
    """Untimed: unpack the release ``archive`` (on this machine) into each host's scratch
    directory and keep a copy of the ``binary`` it runs now (``SCRATCH/etcd.before``)."""
    for node in nodes:
        docker_exec(node, "mkdir", "-p", SCRATCH)
        subprocess.run(["docker", "cp", archive, f"{node.container}:{SCRATCH}/"], check=True)
        name = shlex.quote(archive.rsplit("/", 1)[-1])
        docker_exec(
            node,
            "sh",
            "-c",
            f"cd {SCRATCH} && tar -xzf {name} && cp -p {shlex.quote(binary)} etcd.before",
        )


def rolling_swap(nodes: Sequence[bed.Node], binary: str, source: str) -> float:
    """Seconds for etcd's rolling upgrade by hand: one member at a time, stop etcd, put
    ``source`` in place of the ``binary`` its unit runs, start it, until all are healthy."""
    start = time.monotonic()
    for node in nodes:
        docker_exec(node, "systemctl", "stop", "etcd")
        docker_exec(node, "cp", source, binary)
        docker_exec(node, "systemctl", "start", "etcd")  # Type=notify: etcd is serving
        wait_healthy(nodes, time.monotonic())
    return time.monotonic() - start


def copy_snapshot(nodes: Sequence[bed.Node], snapshot: str) -> str:
    """Untimed: the first member's ``snapshot`` onto every member (through memory only);
    its path there."""
    data = subprocess.run(
        ["docker", "exec", nodes[0].container, "cat", snapshot], capture_output=True, check=True
    ).stdout
    target = f"{SCRATCH}/snapshot.db"
    for node in nodes:
        subprocess.run(
            [
                "docker",
                "exec",
                "-i",
                node.container,
                "sh",
                "-c",
                f"mkdir -p {SCRATCH}; cat >{target}",
            ],
            input=data,
            check=True,
        )
    return target


def restore_all(named: Sequence[tuple[str, bed.Node]], snapshot: str, etcdutl: str) -> float:
    """Seconds for etcd's disaster recovery by hand, once etcd is stopped everywhere: on
    every member at once, move its data aside and ``etcdutl snapshot restore`` (a new
    cluster token, revisions bumped as the deploy does); then start them all together,
    until every member is healthy."""
    token = f"bench-floor-{time.time_ns()}"
    cluster = initial_cluster(named)
    scripts = {}
    for name, node in named:
        restore = [
            etcdutl, "snapshot", "restore", snapshot, f"--name={name}", f"--data-dir={DATA_DIR}",
            f"--initial-cluster={cluster}", f"--initial-advertise-peer-urls={peer_url(node)}",
            f"--initial-cluster-token={token}", f"--bump-revision={BUMP_REVISION}",
            "--mark-compacted",
        ]  # fmt: skip
        aside = f"mv {DATA_DIR} {DATA_DIR}.{token}"
        scripts[node] = ("sh", "-c", f"{aside} && {shlex.join(restore)} && chmod 700 {DATA_DIR}")
    # Untimed: etcd's own restore starts from stopped members (the deploy's run pays
    # for its stop step; stopping 3.5 members together took 7 s once here).
    for _, node in named:
        docker_exec(node, "systemctl", "stop", "etcd")
        docker_exec(node, "systemctl", "reset-failed", "etcd")  # as in etcd_floor
    start = time.monotonic()
    at_once(scripts)
    at_once({node: ("systemctl", "start", "--no-block", "etcd") for _, node in named})
    return wait_healthy([node for _, node in named], start)
