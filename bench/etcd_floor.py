"""etcd's own bootstrap time: what no cold deploy can beat on the same hosts.

A cold deploy ends with a healthy cluster, so part of its time is etcd's (members
finding each other, a leader elected).  Timing a bare bootstrap on the same bed,
with the deploy's unit, flags and certificates, leaves the part that is the
deploy's.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence

from etcd_cluster.etcd.cluster import join_host_port
from sandbox import bed

PKI = "/etc/kubernetes/pki"
ETCD_MEMBER_DIR = "/var/lib/etcd/member"  # etcd_data_dir's default, plus etcd's "member"
CLIENT_TLS = (
    f"--cacert={PKI}/etcd/ca.crt",
    f"--cert={PKI}/apiserver-etcd-client.crt",
    f"--key={PKI}/apiserver-etcd-client.key",
)
BOOTSTRAP_TIMEOUT = 60.0
POLL_INTERVAL = 0.1


class FloorError(RuntimeError):
    """etcd could not be reset or did not come up: no floor to compare with."""


def docker_exec(node: bed.Node, *cmd: str) -> None:
    result = bed.exec(node, cmd)
    if result.returncode != 0:
        raise FloorError(f"{node.container}: {shlex.join(cmd)}: {result.stderr.strip()}")


def at_once(commands: Mapping[bed.Node, Sequence[str]]) -> None:
    """Run each node's command in its container, all at the same time; fail if any fails."""
    running = {
        node: subprocess.Popen(
            ["docker", "exec", node.container, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node, cmd in commands.items()
    }
    failed = [
        f"{node.container}: {shlex.join(commands[node])}: {stderr.strip()}"
        for node, process in running.items()
        for _, stderr in [process.communicate()]
        if process.returncode != 0
    ]
    if failed:
        raise FloorError("\n".join(failed))


def etcdctl(node: bed.Node, endpoints: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``etcdctl <args>`` on ``node`` against ``endpoints``, with the apiserver's client cert."""
    return bed.exec(
        node,
        [
            "env",
            "ETCDCTL_API=3",
            "etcdctl",
            "--dial-timeout=1s",
            "--command-timeout=2s",
            *CLIENT_TLS,
            f"--endpoints={endpoints}",
            *args,
        ],
    )


def endpoints(nodes: Sequence[bed.Node]) -> str:
    return ",".join(f"https://{join_host_port(node.address, 2379)}" for node in nodes)


def cluster_healthy(nodes: Sequence[bed.Node]) -> subprocess.CompletedProcess[str]:
    """``etcdctl endpoint health`` against every member, with the apiserver's client cert."""
    return etcdctl(nodes[0], endpoints(nodes), "endpoint", "health")


def wait_healthy(nodes: Sequence[bed.Node], start: float) -> float:
    """Poll until every member is healthy; seconds since ``start`` (a ``time.monotonic()``)."""
    while True:
        health = cluster_healthy(nodes)
        if health.returncode == 0:
            return time.monotonic() - start
        if time.monotonic() - start > BOOTSTRAP_TIMEOUT:
            raise FloorError(
                f"etcd not healthy {BOOTSTRAP_TIMEOUT:.0f} s after start:\n"
                f"{health.stdout}{health.stderr}"
            )
        time.sleep(POLL_INTERVAL)


def serves_peers(node: bed.Node) -> bool:
    """Whether ``node``'s etcd completes a TLS handshake on its peer port: it has passed the
    start-up check a peer started with it would wait on (a bound port that does not
    answer yet costs such a peer up to 1 s)."""
    address = join_host_port(node.address, 2380)
    probe = (
        f"timeout 0.5 openssl s_client -connect {address} -cert {PKI}/etcd/peer.crt "
        f"-key {PKI}/etcd/peer.key -CAfile {PKI}/etcd/ca.crt -verify_return_error"
    )
    return bed.exec(node, ["sh", "-c", f"{probe} </dev/null >/dev/null 2>&1"]).returncode == 0


def etcd_bootstrap(nodes: Sequence[bed.Node], in_turn: bool = False) -> float:
    """Seconds from starting etcd on data-less members to all endpoints healthy: all at
    once, or ``in_turn`` (each once the one before serves its peer port).

    The deploy's unit, flags and certificates stay; only the data goes, so this is
    a fresh ``initial-cluster-state=new`` bootstrap: the part of a cold deploy that
    is etcd's, not ours.  Each poll costs one ``docker exec``, as the deploy's do.
    The bed's cluster is replaced by a new, empty one: measure this last.
    """
    for node in nodes:
        docker_exec(node, "systemctl", "stop", "etcd")
        # the unit's start rate limit (5 in 10 s) counts the repeats' starts too: past it
        # systemd refuses a start, and a --no-block start says nothing
        docker_exec(node, "systemctl", "reset-failed", "etcd")
    for node in nodes:
        docker_exec(node, "rm", "-rf", ETCD_MEMBER_DIR)
    start = time.monotonic()
    if not in_turn:
        at_once({node: ("systemctl", "start", "--no-block", "etcd") for node in nodes})
        return wait_healthy(nodes, start)
    for node in nodes:
        docker_exec(node, "systemctl", "start", "--no-block", "etcd")
        while not serves_peers(node):
            if time.monotonic() - start > BOOTSTRAP_TIMEOUT:
                raise FloorError(f"{node.container}: etcd does not serve its peer port")
            time.sleep(POLL_INTERVAL / 5)
    return wait_healthy(nodes, start)


def etcd_floor(nodes: Sequence[bed.Node]) -> tuple[float, float]:
    """etcd's bootstrap started all at once and in turn (seconds each). Members started
    within milliseconds of each other can stall up to 1 s per peer in etcd's start-up
    check of whether they already belong to the cluster (each asks its peers, which are
    in the same check and do not answer yet); started in turn they do not, but each
    waits for the one before. The floor is the faster of the two."""
    return etcd_bootstrap(nodes), etcd_bootstrap(nodes, in_turn=True)
