"""How long the deploy takes, next to what it cannot beat on the same hosts.

A wall-clock figure alone says little: a slow machine makes every step slow.
So each figure is measured together with its floors, in the same run and on
the same test bed (systemd containers made by :mod:`sandbox.bed`, reached
through pyinfra's docker connector, as in the end-to-end tests):

* **cold deploy**: ``pyinfra -y <inventory> deploy.py`` on fresh hosts, until
  it exits; the deploy waits for a healthy cluster, so this ends with one.
* **no-op rerun**: the same command on the converged cluster (checked once to
  change nothing: ``--json`` totals ``success == 0``).
* **pyinfra floor**: ``pyinfra -y <inventory> exec -- true``: connecting to the
  hosts and running one command, the least any pyinfra run costs.
* **etcd floor**: etcd's own bootstrap: members with their certificates and
  unit in place but no data, started at once, until ``etcdctl endpoint
  health`` answers for every endpoint.  No deploy can get a cluster faster.

It also counts the remote commands per host of the no-op run, through a
``docker`` shim on ``PATH`` that logs what pyinfra's docker connector runs:
that number, not the machine, is what makes a rerun slow over ssh.

It is a script, not a timed test: figures depend on the machine, so they are
recorded (with the machine) rather than asserted.  Run from the repository::

    .venv/bin/python -m bench.benchmark [--repeats 3] [--sizes 3,5] [--output docs/benchmark.md]

Beds are named ``etcd-bench-<size>`` on subnet index ``20 + size``, away from
the tests (11-13) and the demo sandbox (100), and always removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sandbox import bed

REPO = Path(__file__).resolve().parents[1]
PKI = "/etc/kubernetes/pki"
ETCD_MEMBER_DIR = "/var/lib/etcd/member"  # etcd_data_dir's default, plus etcd's "member"
CLIENT_TLS = (
    f"--cacert={PKI}/etcd/ca.crt",
    f"--cert={PKI}/apiserver-etcd-client.crt",
    f"--key={PKI}/apiserver-etcd-client.key",
)
BOOTSTRAP_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
PYINFRA_TIMEOUT = 900
SUBNET_BASE = 20
"""Bed of size n uses subnet index 20 + n: clear of the tests (11-13) and the sandbox (100)."""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the figures would be meaningless."""


@dataclass
class Figures:
    """Everything measured for one cluster size (durations in seconds)."""

    size: int
    cold: list[float]
    noop: list[float]
    pyinfra_floor: list[float]
    etcd_floor: list[float]
    execs: Counter[str]  # container -> `docker exec` calls on the no-op run
    copies: Counter[str]  # container -> `docker cp` calls on the no-op run
    other_docker_calls: int  # e.g. `docker container inspect` when connecting


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def pyinfra(
    inventory: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real pyinfra CLI from the repository, as the end-to-end tests do; fail loudly."""
    command = [sys.executable, "-m", "pyinfra", "-y", str(inventory), *args]
    run = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PYINFRA_TIMEOUT,
        check=False,
    )
    if run.returncode != 0:
        output = (run.stdout + run.stderr)[-6000:]
        raise BenchError(f"{shlex.join(command)} exited {run.returncode}:\n{output}")
    return run


def fresh_bed(size: int, workdir: Path) -> tuple[list[bed.Node], Path]:
    """A new bed of ``size`` booted hosts (any older one of the prefix goes first)."""
    nodes = bed.up(f"etcd-bench-{size}", size, subnet_index=SUBNET_BASE + size)
    host_data = {
        "etcd_runtime": "systemd",
        # Keep the deploy's local hand-off file out of the repository.
        "etcd_external_config_path": str(workdir / "etcd-external.yaml"),
    }
    inventory = bed.write_inventory(workdir / f"inventory_{size}.py", nodes, host_data=host_data)
    return nodes, inventory


def docker_exec(node: bed.Node, *cmd: str) -> None:
    result = bed.exec(node, cmd)
    if result.returncode != 0:
        raise BenchError(f"{node.container}: {shlex.join(cmd)}: {result.stderr.strip()}")


def cluster_healthy(nodes: Sequence[bed.Node]) -> subprocess.CompletedProcess[str]:
    """``etcdctl endpoint health`` against every member, with the apiserver's client cert."""
    endpoints = ",".join(f"https://{node.address}:2379" for node in nodes)
    return bed.exec(
        nodes[0],
        [
            "env",
            "ETCDCTL_API=3",
            "etcdctl",
            "--dial-timeout=1s",
            "--command-timeout=2s",
            *CLIENT_TLS,
            f"--endpoints={endpoints}",
            "endpoint",
            "health",
        ],
    )


def etcd_bootstrap(nodes: Sequence[bed.Node]) -> float:
    """Seconds from starting etcd on data-less members (all at once) to all endpoints healthy.

    The deploy's unit, flags and certificates stay; only the data goes, so this is
    a fresh ``initial-cluster-state=new`` bootstrap: the part of a cold deploy that
    is etcd's, not ours.  Each poll costs one ``docker exec``, as the deploy's do.
    """
    for node in nodes:
        docker_exec(node, "systemctl", "stop", "etcd")
    for node in nodes:
        docker_exec(node, "rm", "-rf", ETCD_MEMBER_DIR)
    start = time.monotonic()
    starts = [
        subprocess.Popen(
            ["docker", "exec", node.container, "systemctl", "start", "--no-block", "etcd"],
            stdout=subprocess.DEVNULL,
        )
        for node in nodes
    ]
    if any(process.wait() != 0 for process in starts):
        raise BenchError("systemctl start --no-block etcd failed on a member")
    while True:
        health = cluster_healthy(nodes)
        if health.returncode == 0:
            return time.monotonic() - start
        if time.monotonic() - start > BOOTSTRAP_TIMEOUT:
            raise BenchError(
                f"etcd not healthy {BOOTSTRAP_TIMEOUT:.0f} s after start:\n"
                f"{health.stdout}{health.stderr}"
            )
        time.sleep(POLL_INTERVAL)


def count_remote_commands(inventory: Path, workdir: Path) -> tuple[Counter[str], Counter[str], int]:
    """Run the no-op deploy once through a logging ``docker`` shim; count calls per container.

    pyinfra's docker connector runs every remote command as ``docker exec -i
    <container> sh -c ...`` and every file transfer as ``docker cp``, through a
    local shell, so a shim first on ``PATH`` sees exactly what pyinfra sends.
    The same run checks that the rerun changes nothing (``--json`` totals).
    """
    real_docker = shutil.which("docker")
    if real_docker is None:
        raise BenchError("no docker client on PATH")
    shim_dir = workdir / "shim"
    shim_dir.mkdir(exist_ok=True)
    calls = workdir / "docker-calls.log"
    calls.write_text("")
    shim = shim_dir / "docker"
    # The first four arguments name the subcommand and the container; the rest
    # (the remote command) may span lines and is not needed.
    shim.write_text(
        "#!/bin/sh\n"
        f'printf \'%s %s %s %s\\n\' "$1" "$2" "$3" "$4" >> {shlex.quote(str(calls))}\n'
        f'exec {shlex.quote(real_docker)} "$@"\n'
    )
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = pyinfra(inventory, "deploy.py", "--json", env=env)
    totals = json.loads(run.stdout)["results"]["totals"]
    if totals["success"] != 0:
        raise BenchError(f"the rerun changed something, so it is no no-op: {totals}")

    execs: Counter[str] = Counter()
    copies: Counter[str] = Counter()
    other = 0
    for line in calls.read_text().splitlines():
        subcommand, *args = line.split()
        if subcommand == "exec":
            execs[next(arg for arg in args if not arg.startswith("-"))] += 1
        elif subcommand == "cp":
            copies[next(arg for arg in args if ":" in arg).split(":", 1)[0]] += 1
        else:
            other += 1
    return execs, copies, other


def bench_size(size: int, repeats: int, workdir: Path) -> Figures:
    """All figures for one size; the last cold-deployed bed serves the rerun and the floors."""
    prefix = f"etcd-bench-{size}"
    cold: list[float] = []
    try:
        for repeat in range(1, repeats + 1):
            nodes, inventory = fresh_bed(size, workdir)
            start = time.monotonic()
            pyinfra(inventory, "deploy.py")
            cold.append(time.monotonic() - start)
            log(f"{size} members, cold deploy {repeat}/{repeats}: {cold[-1]:.1f} s")

        execs, copies, other = count_remote_commands(inventory, workdir)
        log(f"{size} members, no-op run: docker exec per host {dict(execs)}, cp {dict(copies)}")
        if set(execs) != {node.container for node in nodes}:
            raise BenchError(f"docker exec seen for {sorted(execs)}, not for every member")

        def repeat_timing(label: str, action: Callable[[], object]) -> list[float]:
            samples = []
            for repeat in range(1, repeats + 1):
                samples.append(timed(action))
                log(f"{size} members, {label} {repeat}/{repeats}: {samples[-1]:.2f} s")
            return samples

        noop = repeat_timing("no-op rerun", lambda: pyinfra(inventory, "deploy.py"))
        pyinfra_floor = repeat_timing(
            "pyinfra exec -- true", lambda: pyinfra(inventory, "exec", "--", "true")
        )
        # Last: it throws the cluster's data away (a new cluster comes up in its place).
        etcd_floor = repeat_timing("etcd bootstrap", lambda: etcd_bootstrap(nodes))
    finally:
        bed.down(prefix)
    return Figures(size, cold, noop, pyinfra_floor, etcd_floor, execs, copies, other)


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
        f"pyinfra {metadata.version('pyinfra')}, Python {sys.version.split()[0]}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded to line up, so it also reads well in a terminal."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def report(results: Sequence[Figures], repeats: int, machine_line: str, seconds: float) -> str:
    """The tables and the machine: printed as is, and the body of the Markdown file."""
    timing_rows, command_rows = [], []
    for f in results:
        cold, noop = statistics.median(f.cold), statistics.median(f.noop)
        pyinfra_floor = statistics.median(f.pyinfra_floor)
        etcd_floor = statistics.median(f.etcd_floor)
        timing_rows.append(
            [
                str(f.size),
                f"{cold:.1f} s",
                f"{noop:.1f} s",
                f"{pyinfra_floor:.2f} s",
                f"{etcd_floor:.2f} s",
                f"{cold / etcd_floor:.1f}×",
                f"{cold / pyinfra_floor:.1f}×",
                f"{noop / pyinfra_floor:.1f}×",
            ]
        )
        execs, copies = [f.execs[c] for c in f.execs], [f.copies[c] for c in f.execs]
        command_rows.append(
            [
                str(f.size),
                f"{min(execs)}–{max(execs)}",
                f"{min(copies)}–{max(copies)}",
                str(f.other_docker_calls),
            ]
        )
    timings = markdown_table(
        [
            "Members",
            "Cold deploy",
            "No-op rerun",
            "pyinfra floor",
            "etcd floor",
            "Cold ÷ etcd floor",
            "Cold ÷ pyinfra floor",
            "No-op ÷ pyinfra floor",
        ],
        timing_rows,
    )
    commands = markdown_table(
        ["Members", "`docker exec` per host", "`docker cp` per host", "Other docker calls"],
        command_rows,
    )
    return (
        f"Medians of {repeats} run(s) each:\n\n{timings}\n\n"
        f"Remote commands per host on the no-op rerun (min–max over hosts):\n\n{commands}\n\n"
        f"Machine: {machine_line}\n\n"
        f"The whole run (beds included) took {seconds / 60:.1f} min.\n"
    )


INTRO = """\
# Benchmark

How long the deploy takes on the end-to-end test bed (systemd containers reached
through pyinfra's docker connector, `etcd_runtime: systemd`), next to two floors
measured in the same run on the same hosts:

- **Cold deploy**: `pyinfra -y <inventory> deploy.py` on fresh hosts until it exits,
  which is when the cluster is healthy (the deploy waits for it).
- **No-op rerun**: the same command on the converged cluster (checked to change nothing).
- **pyinfra floor**: `pyinfra -y <inventory> exec -- true`, the least any pyinfra run costs.
- **etcd floor**: etcd's own bootstrap: members with certificates and unit in place
  but no data, started at once, until `etcdctl endpoint health` succeeds for all
  endpoints (polled every 0.1 s).
- **Remote commands per host**: `docker exec` (one per remote command) and `docker cp`
  (one per file transfer) that pyinfra runs against each host on the no-op rerun,
  counted through a logging `docker` shim; over ssh each costs a round trip.

Rerun with `.venv/bin/python -m bench.benchmark [--repeats 3] [--sizes 3,5]
[--output docs/benchmark.md]` (needs dockerd and the test-bed image, built when
missing; the run's own duration is given below).
"""


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(not 1 <= size < 100 - SUBNET_BASE for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be within 1..{99 - SUBNET_BASE}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.benchmark", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument(
        "--sizes", type=parse_sizes, default=[3, 5], help="cluster sizes (default 3,5)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("docs/benchmark.md"),
        help="Markdown file to write (default docs/benchmark.md)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="etcd-bench-") as tmp:
        results = [bench_size(size, args.repeats, Path(tmp)) for size in args.sizes]
    body = report(results, args.repeats, machine(), time.monotonic() - started)
    print(body)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"{INTRO}\n{body}")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
