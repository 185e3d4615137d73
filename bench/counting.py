"""Remote commands per host on one pyinfra run, counted where each connector leaves a trace.

Each remote command costs a round trip, so their number, not the machine, is what
makes a no-op rerun slow over ssh.  pyinfra itself does not count them:

* docker connector: every remote command is ``docker exec -i <container> sh -c ...``
  and every file transfer ``docker cp``, run through a local shell, so a logging
  ``docker`` shim first on ``PATH`` sees exactly what pyinfra sends;
* ssh connector: every remote command is an ``exec`` request to the host's sshd,
  and file transfers go through an ``sftp`` subsystem (one per host and run, reused
  for every file).  At ``LogLevel VERBOSE`` sshd logs each request as ``Starting
  session: ...``, which is read back from the host's journal.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import bed

Run = Callable[[dict[str, str] | None], object]
"""The pyinfra run to count, given the environment to run it with (None: inherit)."""

SSHD_VERBOSE = "/etc/ssh/sshd_config.d/zz-bench-verbose.conf"


class CountError(RuntimeError):
    """The trace a connector left could not be read."""


@dataclass
class Counts:
    """What one run sent to each host (keyed by container name)."""

    commands: Counter[str] = field(default_factory=Counter)
    transfers: Counter[str] = field(default_factory=Counter)
    """docker: ``docker cp`` calls; ssh: sftp sessions (each may carry several files)."""
    other: int = 0
    """docker: other docker calls (``container inspect`` on connecting); ssh: logins."""


def parse_docker_calls(log: str) -> Counts:
    """Counts from the shim's log: one line per call, ``<subcommand> <first 3 arguments>``."""
    counts = Counts()
    for line in log.splitlines():
        subcommand, *args = line.split()
        if subcommand == "exec":
            counts.commands[next(arg for arg in args if not arg.startswith("-"))] += 1
        elif subcommand == "cp":
            counts.transfers[next(arg for arg in args if ":" in arg).split(":", 1)[0]] += 1
        else:
            counts.other += 1
    return counts


def parse_sshd_log(container: str, log: str, into: Counts) -> None:
    """Add one host's sshd messages (``journalctl -o cat``, LogLevel VERBOSE) to ``into``."""
    for line in log.splitlines():
        if line.startswith("Starting session: subsystem "):
            into.transfers[container] += 1
        elif line.startswith("Starting session: "):
            into.commands[container] += 1
        elif line.startswith("Accepted publickey for "):
            into.other += 1


def count_over_docker(nodes: Sequence[bed.Node], workdir: Path, run: Run) -> Counts:
    """Do ``run`` with a logging ``docker`` shim first on ``PATH``; count its calls."""
    real_docker = shutil.which("docker")
    if real_docker is None:
        raise CountError("no docker client on PATH")
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
    run({**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    return parse_docker_calls(calls.read_text())


def _root_sh(node: bed.Node, command: str) -> str:
    result = bed.exec(node, ["sh", "-c", command])
    if result.returncode != 0:
        raise CountError(f"{node.container}: {command}: {result.stderr.strip()}")
    return result.stdout


@contextmanager
def _sshd_verbose(nodes: Sequence[bed.Node]) -> Iterator[None]:
    """sshd at ``LogLevel VERBOSE`` inside the block only: the timed runs log as usual."""
    for node in nodes:
        _root_sh(node, f"echo 'LogLevel VERBOSE' > {SSHD_VERBOSE} && systemctl reload ssh")
    try:
        yield
    finally:
        for node in nodes:
            _root_sh(node, f"rm -f {SSHD_VERBOSE} && systemctl reload ssh")


def count_over_ssh(nodes: Sequence[bed.Node], workdir: Path, run: Run) -> Counts:
    """Do ``run`` with every host's sshd at ``LogLevel VERBOSE``; count its sessions."""
    with _sshd_verbose(nodes):
        cursors = {}
        for node in nodes:
            shown = _root_sh(node, "journalctl -u ssh -n 0 --show-cursor --no-pager")
            cursors[node.container] = shown.rsplit("-- cursor: ", 1)[1].strip()
        run(None)
    counts = Counts()
    for node in nodes:
        log = _root_sh(
            node,
            "journalctl -u ssh -o cat --no-pager "
            f"--after-cursor={shlex.quote(cursors[node.container])}",
        )
        parse_sshd_log(node.container, log, counts)
    return counts


COUNTERS: dict[str, Callable[[Sequence[bed.Node], Path, Run], Counts]] = {
    "docker": count_over_docker,
    "ssh": count_over_ssh,
}
"""How to count a run's remote commands, by connector."""
