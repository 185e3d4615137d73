"""Test beds: systemd containers on a private Docker network, for pyinfra.

A bed is named by a prefix.  ``up("etcd-e2e-a", 3, subnet_index=1)`` makes

* the bridge network ``etcd-e2e-a`` with subnet ``10.231.1.0/24`` (and, with
  ``ipv6=True``, also ``fd00:e7cd:0:1::/64``);
* containers ``etcd-e2e-a-0`` .. ``etcd-e2e-a-2`` (hostname = name) at the
  fixed addresses ``10.231.1.10`` .. ``10.231.1.12`` and, with IPv6,
  ``fd00:e7cd:0:1::10`` .. ``fd00:e7cd:0:1::12`` (same digits as the IPv4 host
  part, read as hex), each booted to ``systemctl is-system-running``.

Every bed that should exist at the same time as another needs its own prefix
and ``subnet_index`` (the demo sandbox uses 100; tests should use 1..99).
Addresses are fixed so that certificates, inventories and expected etcd member
lists can be written before the containers exist, and so that a container
keeps its address across :func:`disconnect` / :func:`reconnect` and
:func:`stop` / :func:`start`.  They are also stored as container labels, which
lets :func:`nodes` rebuild the :class:`Node` list of a bed made by another
process (the demo's ``up``).

Fixed addresses are the only targets of test traffic besides loopback.

A pytest fixture::

    @pytest.fixture(scope="module")
    def cluster_nodes(tmp_path_factory):
        nodes = bed.up("etcd-e2e-a", 3, subnet_index=1)
        inventory = bed.write_inventory(
            tmp_path_factory.mktemp("inv") / "inventory.py", nodes,
            host_data={"etcd_runtime": "systemd"},
        )
        yield nodes, inventory
        bed.down("etcd-e2e-a")

``up`` removes a leftover bed of the same prefix first, so a crashed earlier
run does not get in the way; it also starts ``dockerd`` and builds the image
when needed (see :mod:`sandbox.image`).
"""

from __future__ import annotations

import json
import os
import pprint
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.image import IMAGE, ensure_dockerd, ensure_image

LABEL = "etcd-testbed"
"""Prefix of the container labels that record a node's bed and addresses."""

MAX_NODES = 240
"""Host parts .10 .. .249 of a /24."""

BOOT_TIMEOUT = 60.0

RUN_FLAGS = (
    "--cap-add", "SYS_ADMIN",
    "--cap-add", "NET_ADMIN",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "-e", "container=docker",
    "--stop-signal", "SIGRTMIN+3",
)  # fmt: skip
"""What systemd as PID 1 needs here.  ``--privileged`` fails on these machines
(CAP_SYS_RESOURCE is not in the bounding set).  SIGRTMIN+3 asks systemd to
shut down, so ``docker stop`` is clean and quick instead of a 10 s time-out."""


@dataclass(frozen=True)
class Node:
    """One host of a bed.

    ``address`` is what etcd should use: the IPv6 address on an IPv6 bed, the
    IPv4 address otherwise.  ``pyinfra_host`` is the inventory name that makes
    pyinfra reach the container through its docker connector.
    """

    container: str
    address: str
    ipv4: str
    ipv6: str | None
    network: str
    pyinfra_host: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pyinfra_host", f"@docker/{self.container}")


NETWORK_RM_TRIES = 5


class BedError(RuntimeError):
    """A docker command or a container boot failed."""


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise BedError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


LANE = int(os.environ.get("ETCD_BED_LANE", "0") or 0)
"""A developer's parallel lane (``ETCD_BED_LANE=N``, 0 by default): beds of lane N get the
prefix suffix ``-lN`` and the networks ``10.(231+N).x.0/24`` / ``fd00:e7cd:N:x::/64``, so
several checkouts can run their end-to-end tests on one dockerd at once.  Tests that
spell an address out assume lane 0."""


def _lane_prefix(prefix: str) -> str:
    return f"{prefix}-l{LANE}" if LANE else prefix


def _ipv4_net(subnet_index: int) -> str:
    return f"10.{231 + LANE}.{subnet_index}"


def _ipv6_net(subnet_index: int) -> str:
    return f"fd00:e7cd:{LANE:x}:{subnet_index}"


def _make_node(prefix: str, index: int, subnet_index: int, ipv6: bool) -> Node:
    host = 10 + index
    ipv4 = f"{_ipv4_net(subnet_index)}.{host}"
    ipv6_address = f"{_ipv6_net(subnet_index)}::{host}" if ipv6 else None
    return Node(
        container=f"{prefix}-{index}",
        address=ipv6_address or ipv4,
        ipv4=ipv4,
        ipv6=ipv6_address,
        network=prefix,
    )


def _containers(prefix: str) -> list[str]:
    """Names of all containers (running or not) of the bed, in index order."""
    names = _docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    ours = [name for name in names if pattern.fullmatch(name)]
    return sorted(ours, key=lambda name: int(name.rsplit("-", 1)[1]))


def _run_container(node: Node) -> None:
    labels = {
        f"{LABEL}.bed": node.network,
        f"{LABEL}.ipv4": node.ipv4,
        f"{LABEL}.ipv6": node.ipv6 or "",
    }
    args = ["run", "-d", "--name", node.container, "--hostname", node.container]
    args += ["--network", node.network, "--ip", node.ipv4]
    if node.ipv6:
        args += ["--ip6", node.ipv6]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    _docker(*args, *RUN_FLAGS, IMAGE, "/lib/systemd/systemd")


def exec(node: Node, cmd: Sequence[str], check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in the container (as root) and capture its text output."""
    return subprocess.run(
        ["docker", "exec", node.container, *cmd], capture_output=True, text=True, check=check
    )


def wait_running(nodes: Sequence[Node], timeout: float = BOOT_TIMEOUT) -> None:
    """Wait until systemd in each container says ``running`` or ``degraded``.

    ``degraded`` (some unit failed) is accepted: the bed is usable and the
    failed unit is not ours to fix here.  Raises :class:`BedError` with the
    container's last state if it exits or does not get there in time.
    """
    deadline = time.monotonic() + timeout
    for node in nodes:
        while True:
            result = exec(node, ["systemctl", "is-system-running"])
            state = result.stdout.strip() or result.stderr.strip()
            if state in ("running", "degraded"):
                break
            if any(gone in result.stderr for gone in ("is not running", "No such container")):
                logs = _docker("logs", "--tail", "20", node.container, check=False)
                raise BedError(
                    f"{node.container} stopped during boot ({result.stderr.strip()});"
                    f" last log lines:\n{logs.stdout}{logs.stderr}"
                )
            if time.monotonic() > deadline:
                jobs = exec(node, ["systemctl", "list-jobs", "--no-pager"]).stdout
                raise BedError(
                    f"{node.container} not booted after {timeout:.0f} s"
                    f" (state: {state}); pending jobs:\n{jobs}"
                )
            time.sleep(0.5)


def up(prefix: str, count: int, ipv6: bool = False, subnet_index: int = 0) -> list[Node]:
    """Create a fresh bed of ``count`` booted containers and return its nodes.

    Any bed with the same prefix is removed first.  If a container does not
    boot, the bed is removed again and :class:`BedError` says why.
    """
    if not 1 <= count <= MAX_NODES:
        raise ValueError(f"count must be within 1..{MAX_NODES}, not {count}")
    if not 0 <= subnet_index <= 255:
        raise ValueError(f"subnet_index must be within 0..255, not {subnet_index}")
    ensure_image()
    prefix = _lane_prefix(prefix)
    down(prefix)
    network = ["network", "create", "--driver", "bridge", "--label", f"{LABEL}.bed={prefix}"]
    network += ["--subnet", f"{_ipv4_net(subnet_index)}.0/24"]
    if ipv6:
        network += ["--ipv6", "--subnet", f"{_ipv6_net(subnet_index)}::/64"]
    _docker(*network, prefix)
    bed = [_make_node(prefix, index, subnet_index, ipv6) for index in range(count)]
    try:
        for node in bed:
            _run_container(node)
        wait_running(bed)
    except BaseException:
        down(prefix)
        raise
    return bed


def down(prefix: str) -> None:
    """Remove the bed's containers and network; nothing to remove is fine."""
    ensure_dockerd()
    if LANE and not prefix.endswith(f"-l{LANE}"):
        prefix = _lane_prefix(prefix)
    containers = _containers(prefix)
    if containers:
        _docker("rm", "-f", "-v", *containers)
    if _docker("network", "inspect", prefix, check=False).returncode == 0:
        # dockerd can take a moment to release the endpoints of containers just removed
        for _ in range(NETWORK_RM_TRIES - 1):
            if _docker("network", "rm", prefix, check=False).returncode == 0:
                return
            time.sleep(1)
        _docker("network", "rm", prefix)


def beds() -> list[str]:
    """Prefixes of every bed on this dockerd, read from the containers' labels."""
    label = f"{LABEL}.bed"
    listing = _docker(
        "ps", "-a", "--filter", f"label={label}", "--format", f'{{{{.Label "{label}"}}}}'
    )
    return sorted(set(listing.stdout.split()))


def nodes(prefix: str) -> list[Node]:
    """The nodes of an existing bed, read back from the containers' labels."""
    containers = _containers(prefix)
    if not containers:
        return []
    lines = _docker(
        "inspect", "--format", "{{json .Config.Labels}}", *containers
    ).stdout.splitlines()
    result = []
    for container, line in zip(containers, lines, strict=True):
        labels = json.loads(line) or {}
        ipv4, ipv6 = labels.get(f"{LABEL}.ipv4"), labels.get(f"{LABEL}.ipv6") or None
        if not ipv4:
            raise BedError(f"{container} was not made by sandbox.bed (no {LABEL}.ipv4 label)")
        result.append(Node(container, ipv6 or ipv4, ipv4, ipv6, labels.get(f"{LABEL}.bed", prefix)))
    return result


def inventory(
    nodes: Sequence[Node],
    host_data: Mapping[str, object] | None = None,
    names: Sequence[str] | None = None,
) -> list[tuple[str, dict[str, object]]]:
    """pyinfra group entries for ``nodes``: ``(pyinfra_host, host data)``.

    Each host gets ``etcd_address`` and ``etcd_version='distro'`` (the image's
    Debian etcd: beds reach no release server), then ``host_data``, then
    ``etcd_name`` from ``names`` (same order as ``nodes``) when given.
    """
    if names is not None and len(names) != len(nodes):
        raise ValueError(f"{len(names)} names for {len(nodes)} nodes")
    entries: list[tuple[str, dict[str, object]]] = []
    for index, node in enumerate(nodes):
        data: dict[str, object] = {
            "etcd_address": node.address,
            "etcd_version": "distro",
            **(host_data or {}),
        }
        if names is not None:
            data["etcd_name"] = names[index]
        entries.append((node.pyinfra_host, data))
    return entries


def write_inventory(
    path: str | Path,
    nodes: Sequence[Node],
    host_data: Mapping[str, object] | None = None,
    names: Sequence[str] | None = None,
) -> Path:
    """Write a pyinfra inventory file whose group ``etcd`` is the bed's nodes.

    Values are written with ``repr`` (through :mod:`pprint`), so host data
    must be plain Python literals.  Returns the path for convenience.
    """
    path = Path(path)
    entries = pprint.pformat(inventory(nodes, host_data, names), sort_dicts=False)
    path.write_text(
        f'"""pyinfra inventory written by sandbox.bed.write_inventory."""\n\netcd = {entries}\n'
    )
    return path


def _connected(node: Node) -> bool:
    networks = _docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", node.container)
    return node.network in (json.loads(networks.stdout) or {})


def disconnect(node: Node) -> None:
    """Unplug the container from its network: a member whose network is down.

    The container and its processes keep running; pyinfra still reaches it
    (the docker connector does not use the network).
    """
    if _connected(node):
        _docker("network", "disconnect", node.network, node.container)


def reconnect(node: Node) -> None:
    """Plug the container back in, at the same fixed addresses.

    The interface comes back under a new name (``eth1`` after ``eth0``):
    match on addresses, not interface names.
    """
    if not _connected(node):
        address = ["--ip", node.ipv4] + (["--ip6", node.ipv6] if node.ipv6 else [])
        _docker("network", "connect", *address, node.network, node.container)


def stop(node: Node) -> None:
    """Shut the container's systemd down cleanly: a member host that is off.

    Keep a stopped node out of any pyinfra inventory until :func:`start`:
    pyinfra's docker connector starts a stopped container itself and, when
    done, commits it to an image and *removes* it (``docker rm -f``).
    """
    _docker("stop", node.container)


def start(node: Node, timeout: float = BOOT_TIMEOUT) -> None:
    """Boot a stopped container again (same addresses) and wait for systemd."""
    _docker("start", node.container)
    wait_running([node], timeout)
