"""End-to-end fixtures: real systemd containers, the real ``pyinfra`` CLI, real etcd.

Every test drives ``pyinfra <inventory> deploy.py`` against containers made by
``sandbox.bed`` and asserts on what the hosts hold afterwards (files, modes,
units, an etcd cluster answering over mutual TLS). Nothing here is a stand-in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from etcd_cluster.certs.certlist import ALL_CERTS
from etcd_cluster.etcd.cluster import join_host_port
from sandbox import bed

REPO = Path(__file__).resolve().parents[2]
PKI = "/etc/kubernetes/pki"
KEY_PATHS = [spec.key_path(PKI) for spec in ALL_CERTS]
PKI_PATHS = [p for spec in ALL_CERTS for p in (spec.cert_path(PKI), spec.key_path(PKI))]
CLIENT_TLS = (
    f"--cacert {PKI}/etcd/ca.crt --cert {PKI}/apiserver-etcd-client.crt "
    f"--key {PKI}/apiserver-etcd-client.key"
)

pytestmark = pytest.mark.e2e

# Another process holds a member's peer port (format with its address): its etcd cannot
# start. Prints the holder's pid, to kill it.
PORT_HOLDER = (
    "nohup perl -MIO::Socket::INET -e "
    "'$s = IO::Socket::INET->new(LocalAddr => shift, Listen => 1, ReuseAddr => 1) or die; "
    "sleep 600' {address}:2380 >/dev/null 2>&1 & echo $!"
)


@dataclass
class Run:
    """One pyinfra invocation and what it printed."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict:
        return json.loads(self.stdout)


@dataclass
class Bed:
    """A bed of members plus the inventory that targets them."""

    nodes: list[bed.Node]
    inventory: Path
    workdir: Path
    host_data: dict = field(default_factory=dict)

    def write_inventory(self, name: str, **kwargs) -> Path:
        data = {**self.host_data, **kwargs.pop("host_data", {})}
        return bed.write_inventory(self.workdir / name, self.nodes, host_data=data, **kwargs)

    def endpoints(self) -> str:
        return ",".join(endpoint(n) for n in self.nodes)


def endpoint(node: bed.Node) -> str:
    return f"https://{join_host_port(node.address, 2379)}"


def pyinfra_command(inventory: Path, *args: str, deploy: str = "deploy.py") -> list[str]:
    """The command line of a pyinfra run (run it from ``REPO``)."""
    # --dry shows the plan only without -y (which skips change detection).
    yes = [] if "--dry" in args else ["-y"]
    return [sys.executable, "-m", "pyinfra", *yes, str(inventory), deploy, *args]


def with_tmpdir(tmpdir: Path | None, env: dict[str, str] | None = None) -> dict[str, str] | None:
    """``env`` (``None``: this process's) with ``TMPDIR`` set to ``tmpdir``, if one is given."""
    return {**(env or os.environ), "TMPDIR": str(tmpdir)} if tmpdir else env


def pyinfra(
    inventory: Path,
    *args: str,
    timeout: int = 600,
    tmpdir: Path | None = None,
    deploy: str = "deploy.py",
    env: dict[str, str] | None = None,
) -> Run:
    """Run the deploy (or another deploy file, e.g. ``restore.py``); ``tmpdir`` gives
    pyinfra (and its connectors) a temp dir of its own; ``env``: its whole environment."""
    command = pyinfra_command(inventory, *args, deploy=deploy)
    proc = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=with_tmpdir(tmpdir, env),
    )
    return Run(command, proc.returncode, proc.stdout, proc.stderr)


def start(
    inventory: Path, *args: str, deploy: str = "deploy.py", tmpdir: Path | None = None
) -> subprocess.Popen:
    """A pyinfra run in the background (its output in pipes); ``tmpdir`` as in ``pyinfra``."""
    return subprocess.Popen(
        pyinfra_command(inventory, *args, deploy=deploy),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=with_tmpdir(tmpdir),
    )


def finish(proc: subprocess.Popen, timeout: int = 600) -> Run:
    stdout, stderr = proc.communicate(timeout=timeout)
    return Run([], proc.returncode, stdout, stderr)


def deploy_ok(inventory: Path, *args: str, deploy: str = "deploy.py") -> Run:
    run = pyinfra(inventory, *args, deploy=deploy)
    assert run.returncode == 0, run.output[-6000:]
    return run


def sh(node: bed.Node, command: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", "-i", node.container, "sh", "-c", command],
        input=stdin,
        capture_output=True,
        check=False,
    )


def out(node: bed.Node, command: str) -> str:
    result = sh(node, command)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def etcdctl(node: bed.Node, endpoints: str, args: str) -> subprocess.CompletedProcess:
    return sh(
        node,
        f"ETCDCTL_API=3 etcdctl --dial-timeout=2s --command-timeout=4s {CLIENT_TLS} "
        f"--endpoints={endpoints} {args}",
    )


def pki_digests(nodes: Sequence[bed.Node]) -> dict[tuple[str, str], str]:
    """sha256 of every PKI file on every node: (container, path) -> digest."""
    digests = {}
    for node in nodes:
        for line in out(node, f"sha256sum {' '.join(PKI_PATHS)} 2>/dev/null || true").splitlines():
            digest, path = line.split()
            digests[(node.container, path)] = digest
    return digests


def etcd_times(node: bed.Node) -> tuple[int, int]:
    """(InactiveEnter, ActiveEnter) monotonic µs of etcd.service: comparable across containers."""
    text = out(
        node,
        "systemctl show etcd -p InactiveEnterTimestampMonotonic -p ActiveEnterTimestampMonotonic",
    )
    values = dict(line.split("=", 1) for line in text.splitlines())
    return int(values["InactiveEnterTimestampMonotonic"]), int(
        values["ActiveEnterTimestampMonotonic"]
    )


def assert_restarted_one_at_a_time(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], output: str = ""
) -> None:
    """Every member's etcd.service restarted (``etcd_times`` before and after a run), and
    never two at once: each one was active again before the next one went down."""
    assert all(after[c] != before[c] for c in after), output[-3000:]
    for (_, previous_active), (next_inactive, _) in itertools.pairwise(sorted(after.values())):
        assert next_inactive >= previous_active  # one member at a time


def untouched(node: bed.Node) -> bool:
    """A host this deploy never changed: no /etc/kubernetes, no etcd unit, no data."""
    return (
        sh(
            node,
            "test ! -e /etc/kubernetes && test ! -e /etc/systemd/system/etcd.service "
            "&& test ! -e /var/lib/etcd/member",
        ).returncode
        == 0
    )


DRAINING_MEMBER = "transport: missing content-type field"
"""What etcd answers a gRPC request that reaches a member while it stops: its TLS port routes
gRPC to grpc-go's ``ServeHTTP``, which returns without a word once the server is draining,
so the client reads an empty HTTP 200 ("code = Unknown", which clientv3 does not retry).
Any restart of a member can show it to a client that picks that member at that moment."""

DROPPED_PROPOSAL = "context deadline exceeded"
"""What the client reads when etcd neither applied nor refused its request before the
deadline: a write a follower forwarded to a leader that was handing leadership over (raft
drops proposals during a transfer without telling the follower; etcd-io/etcd#8975), which
every restart of the leader does on SIGTERM. The outcome is unknown, so a client sends the
same request again. A retry could hide a short loss of quorum, so the order of restarts is
checked on its own (``assert_restarted_one_at_a_time``, ``standins.timeline``)."""

DROPPED_PROPOSAL_AT_SERVER = "etcdserver: request timed out"
"""The same dropped proposal, answered by the member that took the request: its wait carries
the client's deadline (gRPC sends it along), and when that deadline passes first on the
server, etcd answers ``ErrTimeout`` (``parseProposeCtxErr``) before the client's own timer
fires. A busy client machine makes this the likelier of the two; CI met it once, 4 s after
the leader's SIGTERM in a rolling restart (test_gate)."""

UNKNOWN_OUTCOME = (DRAINING_MEMBER, DROPPED_PROPOSAL, DROPPED_PROPOSAL_AT_SERVER)

SENT_AGAIN: list[str] = []
"""Every poller's requests sent again in this process since the last test's report (listed
at the end of the run by tests/conftest.py, so CI's output shows how often it happens)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, Any, None]:
    # pytest imports this file as ``conftest``, the tests as ``tests.e2e.conftest``: the
    # pollers fill the latter's list
    from tests.e2e.conftest import SENT_AGAIN as sent

    outcome = yield
    if call.when == "call" and sent:
        outcome.get_result().user_properties.append(("poller_sent_again", list(sent)))
        sent.clear()


class ClusterPoller:
    """Writes and reads a key through all endpoints every 0.3 s while a run goes on.

    Every read is linearizable and must return the value just written (no write lost). A
    request whose outcome etcd left unknown (``UNKNOWN_OUTCOME``) is sent once more, as a
    client's retry would be, and counted in ``transients``; any other failure, or one of
    those twice in a row, is a failure, reported with what every member logged around it.
    """

    def __init__(self, node: bed.Node, endpoints: str) -> None:
        self.node, self.endpoints = node, endpoints
        self.ok = 0
        self.failures: list[str] = []
        self.transients: list[str] = []
        self._failed_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _request(self, args: str) -> subprocess.CompletedProcess:
        result = etcdctl(self.node, self.endpoints, args)
        error = result.stderr.decode()
        said = next((answer for answer in UNKNOWN_OUTCOME if answer in error), "")
        if result.returncode != 0 and said:
            self.transients.append(f"{time.strftime('%X')} {args.split()[0]}: {said}")
            SENT_AGAIN.append(self.transients[-1])
            result = etcdctl(self.node, self.endpoints, args)
        return result

    def _poll(self, n: int) -> str:
        """One write and its read back: what went wrong ("" if nothing)."""
        key = f"poll/{n % 50}"
        for args in (f"put {key} {n}", f"get --consistency=l --print-value-only {key}"):
            result = self._request(args)
            if result.returncode != 0:
                return result.stderr.decode().strip()
        value = result.stdout.decode().strip()
        return "" if value == str(n) else f"wrote {key}={n}, read back {value!r}"

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            problem = self._poll(n)
            if not problem:
                self.ok += 1
            else:
                self.failures.append(f"{time.strftime('%X')} {problem}")
                self._failed_at.append(time.time())
            time.sleep(0.3)

    def _journals(self) -> str:
        """What every container of the bed logged around the failures (for the report;
        a failure in CI is read from this, the bed is gone by then)."""
        since, until = min(self._failed_at) - 12, max(self._failed_at) + 2
        iso = [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) for t in (since, until)]
        # the journal (etcd under systemd) and the stand-in kubelet's pod logs (static pods)
        command = (
            f"journalctl -q -o short-iso-precise --no-pager --since=@{since:.0f} "
            f"--until=@{until:.0f} | grep -v -e 'docker exec' -e 'session' | tail -n 80; "
            "cat /var/log/pods/*/etcd/*.log 2>/dev/null | "
            f"awk -v a={iso[0]} -v b={iso[1]} "
            '\'{ t = "" } match($0, /"ts":"[^"]+/) { t = substr($0, RSTART + 6, 19) } '
            't == "" && /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / '
            '{ t = substr($0, 1, 10) "T" substr($0, 12, 8) } '
            't != "" && t >= a && t <= b\' | tail -n 80'
        )
        parts = []
        for node in bed.nodes(self.node.network):
            text = sh(node, command).stdout.decode(errors="replace")
            parts.append(f"--- {node.container} ---\n{text}")
        return "\n".join(parts)

    def __enter__(self) -> ClusterPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._failed_at:
            self.failures.append(self._journals())


def make_bed(
    tmp_path_factory: pytest.TempPathFactory,
    prefix: str,
    count: int,
    subnet_index: int,
    ipv6: bool = False,
) -> Iterator[Bed]:
    """Bring a bed up for one test module and always take it down again."""
    nodes = bed.up(prefix, count, ipv6=ipv6, subnet_index=subnet_index)
    try:
        workdir = tmp_path_factory.mktemp(prefix)
        host_data = {
            "etcd_runtime": "systemd",
            "etcd_health_timeout": 90,
            "etcd_external_config_path": str(workdir / "etcd-external.yaml"),
        }
        inventory = bed.write_inventory(workdir / "inventory.py", nodes, host_data=host_data)
        yield Bed(nodes, inventory, workdir, host_data)
    finally:
        bed.down(prefix)


def assert_healthy_cluster(b: Bed, run: Run) -> None:
    """The status table shows every member healthy, exactly one leader; a key round-trips."""
    table = run.output.split("etcd cluster status:", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("infra")][: len(b.nodes)]
    assert len(rows) == len(b.nodes), table
    assert all(" yes " in row for row in rows), table
    leaders = [row for row in rows if row.split()[3] == "yes"]
    assert len(leaders) == 1, table
    first, last = b.nodes[0], b.nodes[-1]
    value = f"written-{time.time_ns()}"
    assert etcdctl(first, endpoint(first), f"put e2e/key {value}").returncode == 0
    got = etcdctl(last, endpoint(last), "get --print-value-only e2e/key")
    assert got.returncode == 0 and got.stdout.decode().strip() == value, got


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def running_args(node: bed.Node) -> list[str]:
    """argv of the etcd process the unit runs now."""
    pid = out(node, "systemctl show -p MainPID --value etcd")
    assert pid != "0", f"etcd is not running on {node.container}"
    return out(node, f"tr '\\0' '\\n' </proc/{pid}/cmdline").splitlines()


def served_certificate(node: bed.Node, port: int) -> str:
    """sha256 of the certificate the member serves on ``port`` (a real TLS handshake)."""
    return out(
        node,
        f"openssl s_client -connect {join_host_port(node.address, port)} "
        f"-cert {PKI}/etcd/healthcheck-client.crt -key {PKI}/etcd/healthcheck-client.key "
        f"-CAfile {PKI}/etcd/ca.crt </dev/null 2>/dev/null | openssl x509 -outform DER | sha256sum",
    ).split()[0]


def file_certificate(node: bed.Node, path: str) -> str:
    return out(node, f"openssl x509 -in {path} -outform DER | sha256sum").split()[0]


def reset(nodes: Sequence[bed.Node]) -> None:
    """Take hosts back to before any deploy: etcd stopped, its files and data gone."""
    for node in nodes:
        sh(
            node,
            "systemctl stop etcd; systemctl unmask --runtime etcd; systemctl reset-failed etcd",
        )
        sh(node, "rm -rf /var/lib/etcd /etc/kubernetes /etc/systemd/system/etcd.service")
        sh(node, "systemctl daemon-reload")
        assert untouched(node), node.container
