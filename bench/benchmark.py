"""How long the deploy takes, next to what it cannot beat on the same hosts.

A wall-clock figure alone says little: a slow machine makes every step slow.
So each figure is measured together with its floors, in the same run and on
the same test bed (systemd containers made by :mod:`sandbox.bed`), and shown as
a ratio next to its target from issue 9 ("Speed", see :mod:`bench.figures`).
Each bed is reached two ways: through pyinfra's docker connector, as in the
end-to-end tests, and over real ssh as a non-root user with sudo, as operators
run it (:mod:`sandbox.ssh`).  Per cluster size:

* **cold deploy**: ``pyinfra -y <inventory> deploy.py`` on fresh hosts, until it
  exits; the deploy waits for a healthy cluster, so this ends with one.  A fresh
  bed each time, over one connector (``--cold-connector``, docker by default), run
  through :mod:`bench.timed_pyinfra` to say where the time goes (:mod:`bench.steps`).
* **no-op rerun**: the same command on the converged cluster (checked once to
  change nothing: ``--json`` totals ``success == 0``), over each connector.
* **pyinfra floor**: ``pyinfra -y <inventory> exec -- true``: connecting to the
  hosts and running one command, the least any pyinfra run costs.
* **etcd floor**: etcd's own bootstrap (:mod:`bench.etcd_floor`).
* **remote commands per host** on the no-op rerun (:mod:`bench.counting`);
* **lifecycle operations** (``--lifecycle``, on by default): a member added, one
  removed, an upgrade and a restore, each beside etcd's own time for the same change
  (:mod:`bench.lifecycle`, on a bed of its own).

It is a script, not a timed test: figures depend on the machine, so they are
recorded (with the machine) rather than asserted.  Run from the repository::

    .venv/bin/python -m bench.benchmark [--repeats 3] [--cold-repeats N]
        [--sizes 3,5,7] [--connectors docker,ssh] [--no-lifecycle]
        [--output docs/benchmark.md]

Beds are named ``etcd-bench-<size>`` on subnet index ``70 + size``, away from
the tests, dev beds and the demo sandbox (100), and always removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench import figures
from bench.counting import COUNTERS
from bench.etcd_floor import etcd_floor as measure_etcd_floor
from bench.figures import ConnectorFigures, SizeFigures
from bench.report import report
from bench.steps import Timeline
from bench.timed_pyinfra import TIMELINE_ENV
from sandbox import bed, ssh

REPO = Path(__file__).resolve().parents[1]
PYINFRA_TIMEOUT = 900
SUBNET_BASE = 70
"""Bed of size n uses subnet index 70 + n (71..79): clear of the tests and the sandbox."""
MAX_SIZE = 9
CONNECTORS = ("docker", "ssh")


class BenchError(RuntimeError):
    """A step of the benchmark failed; the figures would be meaningless."""


@dataclass
class BenchBed:
    """A bed of booted hosts and an inventory per connector that reaches them."""

    nodes: list[bed.Node]
    workdir: Path
    inventories: dict[str, Path]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def operator_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: ours) as an operator's shell has it: Python keeps its bytecode cache.

    This machine sets PYTHONDONTWRITEBYTECODE=1, so every run would compile the deploy's
    modules afresh while pyinfra's own were compiled when pip installed them: the floor
    would not pay what the deploy pays, and no operator's run does.
    """
    environment = dict(os.environ if env is None else env)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def pyinfra(
    inventory: Path, *args: str, env: dict[str, str] | None = None, module: str = "pyinfra"
) -> subprocess.CompletedProcess[str]:
    """Run the real pyinfra CLI from the repository, as the end-to-end tests do; fail loudly.
    ``module``: ``bench.timed_pyinfra`` runs the same CLI and records its timeline."""
    command = [sys.executable, "-m", module, "-y", str(inventory), *args]
    run = subprocess.run(
        command,
        cwd=REPO,
        env=operator_environment(env),
        capture_output=True,
        text=True,
        timeout=PYINFRA_TIMEOUT,
        check=False,
    )
    if run.returncode != 0:
        output = (run.stdout + run.stderr)[-6000:]
        raise BenchError(f"{shlex.join(command)} exited {run.returncode}:\n{output}")
    return run


def timed_pyinfra(inventory: Path, *args: str) -> float:
    """Seconds one successful ``pyinfra -y <inventory> <args>`` takes, start to exit."""
    return cpu_timed_pyinfra(inventory, *args)[0]


def cpu_timed_pyinfra(inventory: Path, *args: str) -> tuple[float, float]:
    """Seconds one successful ``pyinfra -y <inventory> <args>`` takes, and the CPU seconds
    of pyinfra and the children it waited for (the docker CLI; over ssh, none)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    pyinfra(inventory, *args)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return seconds, cpu


def timed_cold_deploy(inventory: Path, workdir: Path) -> tuple[float, Timeline]:
    """Seconds one cold deploy takes, and its timeline (``bench.steps``): the same run."""
    path = workdir / "timeline.json"
    env = {**os.environ, TIMELINE_ENV: str(path)}
    launched, start = time.time(), time.monotonic()
    pyinfra(inventory, "deploy.py", env=env, module="bench.timed_pyinfra")
    seconds = time.monotonic() - start
    timeline = Timeline.from_json(json.loads(path.read_text()), launched, launched + seconds)
    return seconds, timeline


def fresh_bed(size: int, workdir: Path, connectors: Sequence[str]) -> BenchBed:
    """A new bed of ``size`` booted hosts (an older one goes first), reachable by ``connectors``."""
    workdir.mkdir(parents=True)
    nodes = bed.up(f"etcd-bench-{size}", size, subnet_index=SUBNET_BASE + size)
    host_data = {
        "etcd_runtime": "systemd",
        # Keep the deploy's local hand-off file out of the repository.
        "etcd_external_config_path": str(workdir / "etcd-external.yaml"),
    }
    inventories = {"docker": bed.write_inventory(workdir / "inventory.py", nodes, host_data)}
    if "ssh" in connectors:
        inventories["ssh"] = ssh.setup(nodes, workdir, host_data)
    return BenchBed(nodes, workdir, inventories)


def noop_figures(b: BenchBed, connector: str, repeats: int) -> ConnectorFigures:
    """Count one no-op rerun's remote commands, then time reruns and their pyinfra floor."""
    inventory = b.inventories[connector]
    size = len(b.nodes)

    def checked_noop(env: dict[str, str] | None) -> None:
        run = pyinfra(inventory, "deploy.py", "--json", env=env)
        totals = json.loads(run.stdout)["results"]["totals"]
        if totals["success"] != 0:
            raise BenchError(f"the rerun changed something, so it is no no-op: {totals}")

    counts = COUNTERS[connector](b.nodes, b.workdir, checked_noop)
    log(f"{size} members over {connector}, no-op commands per host: {dict(counts.commands)}")
    if set(counts.commands) != {node.container for node in b.nodes}:
        raise BenchError(f"remote commands seen for {sorted(counts.commands)}, not every member")

    # Alternate the two, so that drift on the machine weighs on both alike.
    noop: list[float] = []
    floor: list[float] = []
    noop_cpu: list[float] = []
    floor_cpu: list[float] = []
    for repeat in range(1, repeats + 1):
        for seconds, cpu, args in (
            (noop, noop_cpu, ["deploy.py"]),
            (floor, floor_cpu, ["exec", "--", "true"]),
        ):
            taken, used = cpu_timed_pyinfra(inventory, *args)
            seconds.append(taken)
            cpu.append(used)
        log(
            f"{size} members over {connector}, {repeat}/{repeats}: "
            f"no-op {noop[-1]:.2f} s (CPU here {noop_cpu[-1]:.2f} s), "
            f"exec -- true {floor[-1]:.2f} s (CPU here {floor_cpu[-1]:.2f} s)"
        )
    return ConnectorFigures(connector, noop, floor, counts, noop_cpu, floor_cpu)


def bench_size(
    size: int,
    connectors: Sequence[str],
    cold_connector: str,
    repeats: int,
    cold_repeats: int,
    workdir: Path,
) -> SizeFigures:
    """All figures for one size; the last cold-deployed bed serves the reruns and the floors."""
    cold: list[float] = []
    fresh_floor: list[float] = []
    timelines: list[Timeline] = []
    try:
        for repeat in range(1, cold_repeats + 1):
            b = fresh_bed(size, workdir / f"{size}-{repeat}", [*connectors, cold_connector])
            # the least a pyinfra run costs on these very hosts, still fresh
            fresh_floor.append(timed_pyinfra(b.inventories[cold_connector], "exec", "--", "true"))
            seconds, timeline = timed_cold_deploy(b.inventories[cold_connector], b.workdir)
            cold.append(seconds)
            timelines.append(timeline)
            log(
                f"{size} members over {cold_connector}, "
                f"cold deploy {repeat}/{cold_repeats}: {cold[-1]:.1f} s"
            )
        per_connector = [noop_figures(b, connector, repeats) for connector in connectors]
        # Last: it throws the cluster's data away (a new cluster comes up in its place).
        etcd_floor = []
        for repeat in range(1, repeats + 1):
            together, in_turn = measure_etcd_floor(b.nodes)
            etcd_floor.append(min(together, in_turn))
            log(
                f"{size} members, etcd bootstrap {repeat}/{repeats}: "
                f"all at once {together:.2f} s, in turn {in_turn:.2f} s"
            )
    finally:
        bed.down(f"etcd-bench-{size}")
    return SizeFigures(
        size,
        cold_connector,
        cold,
        etcd_floor,
        per_connector,
        fresh_floor=fresh_floor,
        cold_timelines=timelines,
    )


def command_output(*cmd: str) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def machine() -> str:
    """One line naming the machine and the software versions the figures came from."""

    def proc_field(path: str, key: str) -> str:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
        return "unknown"

    memory_gib = int(proc_field("/proc/meminfo", "MemTotal").split()[0]) / 1024**2
    docker = command_output("docker", "version", "--format", "{{.Server.Version}}")
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({proc_field('/proc/cpuinfo', 'model name')}), "
        f"{memory_gib:.1f} GiB RAM, kernel {os.uname().release}, Docker {docker}, "
        f"pyinfra {metadata.version('pyinfra')}, paramiko {metadata.version('paramiko')}, "
        f"Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


INTRO = f"""\
# Benchmark

How long the deploy takes on the end-to-end test bed (systemd containers,
`etcd_runtime: systemd`, Debian's etcd 3.4.23), next to floors measured in the same
run on the same hosts, each ratio beside its target from issue 19 ("Speed, round
two"). Each bed is reached two ways: through pyinfra's docker connector, as in the
end-to-end tests, and over real ssh as operators run it (user `deploy` with a key,
passwordless sudo, `_sudo: True`). Every pyinfra run keeps Python's bytecode cache,
as an operator's does (this machine sets `PYTHONDONTWRITEBYTECODE=1`, which would
make the deploy compile its modules afresh on every run while pyinfra's own were
compiled when pip installed them).

- **Cold deploy**: `pyinfra -y <inventory> deploy.py` on fresh hosts until it exits,
  which is when the cluster is healthy (the deploy waits for it). A fresh bed
  each time, over one connector (docker unless `--cold-connector ssh`).
- **pyinfra floor** (fresh hosts): `pyinfra -y <inventory> exec -- true` on the same
  fresh bed just before its cold deploy.
- **etcd floor**: etcd's own bootstrap: members with certificates and unit in place
  but no data, until `etcdctl endpoint health` succeeds for all endpoints (polled every
  0.1 s), started two ways in each repeat, the faster one counting: all at once, and in
  turn (each once the one before completes a TLS handshake on its peer port). Started
  within milliseconds of each other, members can stall up to 1 s per peer in etcd's
  start-up check of whether they already belong to the cluster (each asks its peers,
  which are in the same check and do not answer yet); in turn they do not stall but
  each waits for the one before. No deploy can get a cluster faster.
- Targets: cold ÷ (pyinfra floor + etcd floor) {figures.COLD_OVER_BOTH_FLOORS} (a deploy
  run through pyinfra pays a pyinfra run and etcd's bootstrap at the least), and
  cold ÷ pyinfra floor {figures.COLD_OVER_PYINFRA_FLOOR}; cold ÷ etcd floor alone for
  context.
- **Where the cold deploy's time goes**: each cold deploy runs through
  `bench/timed_pyinfra.py`, pyinfra's CLI unchanged with a state callback handler that
  records when each stage began and when each operation ran, and which step of `tasks/`
  called it, and with the prepare phase's own work timed (the survey, key generation,
  certificates, the rest of the plan). Every instant of the run, from launch to exit, counts
  once, for the innermost part going on then, so the parts add up to the cold deploy:
  start-up, connect, the prepare phase's parts, each step's operations (`step
  certificates`: the uploads; `step start_etcd`: etcd's first start and election and the
  restart checks; `step health`: the health wait), the gaps between operations, and the
  results. Work done ahead in the background shows only as the wait it leaves. Medians
  per part over the cold deploys, as a share of their median (`bench/steps.py`).
- **No-op rerun**: the same command on the converged cluster (checked to change
  nothing), over each connector.
- **pyinfra floor**: `pyinfra -y <inventory> exec -- true` over the same connector,
  the least any pyinfra run costs.
  Target: no-op ÷ pyinfra floor {figures.NOOP_OVER_PYINFRA_FLOOR}.
- **Scaling**: the no-op rerun on the largest cluster ÷ on the smallest, per
  connector (members are handled in parallel).
  Target: {figures.NOOP_LARGEST_OVER_SMALLEST}. For context, the same ratio of the
  pyinfra floor: on this bed every member is a container sharing the machine's
  cores with the others and with pyinfra, so even `exec -- true` grows with them,
  and each member's own work (its survey) takes cores from pyinfra and the others,
  where real members each have their own. So also the same ratio of the CPU time
  of the pyinfra process and the children it waits for (the docker CLI): the part of
  a run done on the machine running pyinfra, wherever the members run, for the
  no-op and for the floor (`getrusage`).
- **Remote commands per host** on the no-op rerun, each a round trip over ssh.
  Target: {figures.COMMANDS_PER_HOST}. Docker connector: `docker exec` calls (one per
  command) and `docker cp` calls (one per file), counted by a logging `docker`
  shim on `PATH`. ssh: sshd's `Starting session:` messages at `LogLevel VERBOSE`
  (switched on for that one counted run): `exec` requests are commands, `sftp`
  subsystems transfer sessions (one per host and run, for any number of files).
  "Other" is the run's other `docker` calls (`container inspect` on connecting),
  or its ssh logins.

- **Lifecycle operations** (issue 19), on one bed of their own over the docker
  connector: three members on Debian's etcd 3.4.23, then each operation as one
  `pyinfra -y` run timed until it exits (checked to have done it: the member list,
  the versions etcd reports, a key from before the snapshot kept and one from after
  it gone), beside **etcd's own time** for the same change made by hand on the same
  hosts with the deploy's unit, flags and certificates (`etcdctl`, `etcdutl`,
  `systemctl`, one `docker exec` per step, polled every 0.1 s; the add and the
  removal `--repeats` times, the upgrade twice, the restore once). No target: the
  ratio says how much of an operation is the deploy's (its checks, the verified
  snapshot it takes first, pyinfra's run) and how much is etcd's.
  - **Member add** (3 → 4): a fourth host in the inventory; the deploy adds it as a
    learner and promotes it once caught up. etcd's own: `member add --learner`, etcd
    started on the host (its old data aside), until `member promote` succeeds.
  - **Member removal** (4 → 3): the host moves to the `etcd_removed` group and is
    named in `etcd_remove_members`. etcd's own: `member remove` and etcd stopped there.
  - **Upgrade** of 3 members: 3.4.23 → 3.5.16 from a release archive. etcd's own:
    one member at a time, stop etcd, swap its binary, start it, until every member
    is healthy: 3.5.16 → 3.5.30 and back, two samples (patch releases: the deploy's
    3.4 → 3.5 also waits for etcd to raise the cluster version, which these need not).
  - **Restore** of 3 members: `restore.py` from a scheduled snapshot on the first
    member. etcd's own, once etcd is stopped everywhere and the snapshot is on every
    member: `etcdutl snapshot restore` on every member at once, then all started
    together, until every member is healthy. It varies from run to run: with the
    deploy's `--experimental-initial-corrupt-check`, a member asks its peers for a
    hash before it serves them, so members that start together can each wait out
    etcd's request timeout (7 s) on a peer that is still checking.

Rerun with `.venv/bin/python -m bench.benchmark [--repeats 3] [--cold-repeats N]
[--sizes 3,5,7] [--connectors docker,ssh] [--cold-connector docker]
[--no-lifecycle] [--output docs/benchmark.md]` (needs dockerd and the test-bed
image, built when missing; the run's own duration is given below).
"""


def parse_sizes(text: str) -> list[int]:
    """``3,5,7`` -> ``[3, 5, 7]``: distinct sizes, each within 1..9 (its own subnet)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"sizes must be whole numbers: {text!r}") from error
    if not sizes or any(not 1 <= size <= MAX_SIZE for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be within 1..{MAX_SIZE}: {text!r}")
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"sizes must differ: {text!r}")
    return sizes


def parse_connectors(text: str) -> list[str]:
    """``docker,ssh`` -> ``["docker", "ssh"]``: distinct names from :data:`CONNECTORS`."""
    connectors = [part.strip() for part in text.split(",") if part.strip()]
    if not connectors or any(c not in CONNECTORS for c in connectors):
        raise argparse.ArgumentTypeError(f"connectors are {','.join(CONNECTORS)}: {text!r}")
    if len(set(connectors)) != len(connectors):
        raise argparse.ArgumentTypeError(f"connectors must differ: {text!r}")
    return connectors


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.benchmark", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--cold-repeats",
        type=int,
        help="cold deploys per size, each on a fresh bed (default: --repeats)",
    )
    parser.add_argument(
        "--sizes", type=parse_sizes, default=[3, 5, 7], help="cluster sizes (default 3,5,7)"
    )
    parser.add_argument(
        "--connectors",
        type=parse_connectors,
        default=list(CONNECTORS),
        help="connectors for the no-op rerun and its floors (default docker,ssh)",
    )
    parser.add_argument(
        "--cold-connector",
        choices=CONNECTORS,
        default="docker",
        help="connector for the cold deploys (default docker)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("docs/benchmark.md"),
        help="Markdown file to write (default docs/benchmark.md)",
    )
    parser.add_argument(
        "--lifecycle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time a member add, a removal, an upgrade and a restore on a bed of their own, "
        "each beside etcd's own time (bench.lifecycle; default on)",
    )
    args = parser.parse_args(argv)
    if args.cold_repeats is None:
        args.cold_repeats = args.repeats
    if args.repeats < 1 or args.cold_repeats < 1:
        parser.error("--repeats and --cold-repeats must be at least 1")
    return args


def lifecycle_sections(workdir: Path, repeats: int) -> list[str]:
    """The lifecycle section (imported here: bench.lifecycle uses this module's runner)."""
    from bench.lifecycle import measure_lifecycle
    from bench.lifecycle_report import lifecycle_section

    return [lifecycle_section(measure_lifecycle(workdir, repeats))]


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="etcd-bench-") as tmp:
        results = [
            bench_size(
                size,
                args.connectors,
                args.cold_connector,
                args.repeats,
                args.cold_repeats,
                Path(tmp),
            )
            for size in args.sizes
        ]
        lifecycle = []
        if args.lifecycle:
            lifecycle = lifecycle_sections(Path(tmp) / "lifecycle", args.repeats)
    seconds = time.monotonic() - started
    body = report(results, args.repeats, args.cold_repeats, machine(), seconds, lifecycle)
    print(body)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"{INTRO}\n{body}")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
