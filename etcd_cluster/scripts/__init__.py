"""Remote shell scripts, each a named file beside this module, run as ``sh -c SCRIPT NAME ARGS``.

Keeping every script that carries logic in its own file gives it a name in command
lines and logs, lets tests run it under a real ``sh`` with stand-in tools, and keeps
quoting in one place: arguments are passed positionally, never spliced into the text.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def text(name: str) -> str:
    """The script ``<name>.sh``."""
    return (_HERE / f"{name}.sh").read_text()


REMEMBER_VARIABLE = "ETCD_REMEMBER"
"""Scripts that keep digests in a memo run ``remember.sh`` from this variable (``command``
sets it), in the directory the survey names in ``MEMO_DIR_VARIABLE`` (none elsewhere)."""
MEMO_DIR_VARIABLE = "ETCD_MEMO_DIR"


def command(name: str, *args: str | int | float) -> str:
    """A shell command running script ``name`` with positional ``args``."""
    quoted = " ".join(shlex.quote(str(arg)) for arg in args)
    uses = remember_prefix() if f'"${REMEMBER_VARIABLE}"' in text(name) else ""
    return f"{uses}sh -c {shlex.quote(text(name))} {name} {quoted}".rstrip()


def remembered(name: str, command_: str, *files: str) -> str:
    """``command_`` (``sh -c`` text given the ``files`` as ``$@``) through ``remember.sh``:
    its output kept while the files do not change, where ``MEMO_DIR_VARIABLE`` says."""
    quoted = " ".join(shlex.quote(arg) for arg in (name, command_, *files))
    return f'{remember_prefix()}sh -c "${REMEMBER_VARIABLE}" remember {quoted}'


@cache
def remember_prefix() -> str:
    """What gives a command ``remember.sh`` in its environment."""
    return f"{REMEMBER_VARIABLE}={shlex.quote(text('remember'))} "


def environment() -> dict[str, str]:
    """The variables ``command`` sets, for running a script file directly (tests)."""
    return {REMEMBER_VARIABLE: text("remember")}


def sharing_remember(commands: Sequence[str]) -> tuple[str, list[str]]:
    """``commands`` run inside one command (``sections``): ``remember.sh`` given once, as the
    returned prefix for the outer command, rather than once in each (a command line holds
    at most 128 KiB in one argument)."""
    return remember_prefix(), [c.replace(remember_prefix(), "") for c in commands]


def _requoted(quoted: str) -> str:
    """How ``quoted`` reads inside a command that is itself quoted (``sections`` runs
    commands given as arguments, and those may run scripts in turn)."""
    return quoted.replace("'", "'\"'\"'")


@cache
def _shown_as() -> list[tuple[str, str]]:
    """(text as it appears in a command line, the script's file name): scripts nested two
    commands deep first, so their longer quoted forms are replaced before the plain one."""
    plain = {shlex.quote(text(p.stem)): f"<{p.name}>" for p in sorted(_HERE.glob("*.sh"))}
    nested = {_requoted(quoted): name for quoted, name in plain.items()}
    twice = {_requoted(quoted): name for quoted, name in nested.items()}
    return [*twice.items(), *nested.items(), *plain.items()]


def readable(command: str) -> str:
    """``command`` for a log line: each script's text shown as its file name."""
    for quoted, name in _shown_as():
        command = command.replace(quoted, name)
    return command


def path(name: str) -> Path:
    """The script's file (for tests that run it directly)."""
    return _HERE / f"{name}.sh"
