"""Remote shell scripts, each a named file beside this module, run as ``sh -c SCRIPT NAME ARGS``.

Keeping every script that carries logic in its own file gives it a name in command
lines and logs, lets tests run it under a real ``sh`` with stand-in tools, and keeps
quoting in one place: arguments are passed positionally, never spliced into the text.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def text(name: str) -> str:
    """The script ``<name>.sh``."""
    return (_HERE / f"{name}.sh").read_text()


def command(name: str, *args: str | int | float) -> str:
    """A shell command running script ``name`` with positional ``args``."""
    quoted = " ".join(shlex.quote(str(arg)) for arg in args)
    return f"sh -c {shlex.quote(text(name))} {name} {quoted}".rstrip()


@cache
def _shown_as() -> dict[str, str]:
    return {shlex.quote(text(p.stem)): f"<{p.name}>" for p in sorted(_HERE.glob("*.sh"))}


def readable(command: str) -> str:
    """``command`` for a log line: each script's text shown as its file name."""
    for quoted, name in _shown_as().items():
        command = command.replace(quoted, name)
    return command


def path(name: str) -> Path:
    """The script's file (for tests that run it directly)."""
    return _HERE / f"{name}.sh"
