"""A quiet channel to hosts for anything that carries key material.

pyinfra prints fact output at ``-vvv``, command output of failed operations,
``--diff`` of ``files.put``, and the Docker connector stages uploads and downloads
in temporary files on the controller. Keys therefore never go through facts or
``files.put``: they are written through a command's stdin, with printing switched
off, so they exist on the controller only in memory. Existing private keys are not
read at all: a host reports the sha256 of each key's public half, which is enough to
tell whether the key matches its certificate (``read_files``); the one exception,
read only when something must be signed or copied, is ``read_secret``.
Only command lines (which hold paths, never contents) are logged: at ``-vv``, as pyinfra
logs its own commands, each script shown by its file name; never output, and never a
command line that holds a secret (``secret=True``).

A command that carries a script, or a secret, reaches the host on stdin
(``READ_COMMAND``): on the host, sudo logs its command line to the auth log in pieces of
at most 960 characters, so a survey sent as an argument wrote some 45 lines of script
there on every run (and cost journald their work), and pyinfra's ``--debug`` prints the
command line it runs.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import click
from pyinfra.api.command import StringCommand
from pyinfra.api.host import Host

from etcd_cluster import scripts
from etcd_cluster.engine.pyinfra_compat import connector_arguments
from etcd_cluster.errors import RemoteReadError

_FILE = "@@file@@"
_LINK = "@@link@@"
_END = "@@end@@"
_JOINED = "c:"  # the bytes of every file read whole, in order (hex)


@dataclass(frozen=True)
class RemoteFile:
    """A file as read from a host: content, or for a private key only its public key's hash."""

    content: bytes | None  # None for a private key: never read (see public_key_sha256)
    mode: str
    user: str
    group: str
    public_key_sha256: str = ""  # private keys: sha256 of the DER public key; "" unreadable
    link: bool = False  # a symbolic link (mode and owner are the link's): never in place

    def __repr__(self) -> str:  # content may be a key: never show it
        owner = f"{self.user}:{self.group}"
        size = "key" if self.content is None else f"{len(self.content)} bytes"
        return f"RemoteFile(mode={self.mode}, owner={owner}, {size}{', link' * self.link})"


@dataclass(frozen=True)
class Wanted:
    """A file as it should be on a host.

    For a private key, ``public_key_sha256`` says which key it must be, and
    ``content`` is None when the host's key is kept (only mode and owner are fixed)
    or must be copied from another host (``source``, read when needed).
    """

    content: bytes | None
    mode: str
    user: str = "root"
    group: str = "root"
    public_key_sha256: str = ""
    source: str = ""  # where to read the content when it is None and must be written

    def __repr__(self) -> str:
        size = "kept" if self.content is None else f"{len(self.content)} bytes"
        return f"Wanted(mode={self.mode}, {size})"

    def same_content(self, current: RemoteFile | None) -> bool:
        if current is None:
            return False
        if self.public_key_sha256:
            return current.public_key_sha256 == self.public_key_sha256
        return current.content == self.content

    def satisfied_by(self, current: RemoteFile | None) -> bool:
        return (
            current is not None
            and not current.link
            and self.same_content(current)
            and current.mode == self.mode
            and (current.user, current.group) == (self.user, self.group)
        )


READ_COMMAND = 'etcd_deploy_command=$(cat) && eval "$etcd_deploy_command"'
"""What the host runs for a command sent on stdin: read it whole, then run it as ``sh -c``
would. Its own commands find stdin at its end, as pyinfra leaves it for any command."""
LONGEST_ARGUMENT = 960
"""Longer commands go on stdin: sudo logs a command line in pieces of this size."""


def run_quietly(
    host: Host, command: str, stdin: bytes | None = None, *, secret: bool = False
) -> tuple[bool, str, str]:
    """Run ``command`` with the host's global arguments (sudo etc.), printing no output;
    the command line is logged at ``-vv`` unless it holds a ``secret``. A ``stdin``
    payload goes base64-encoded to the command's stdin; else a command longer than
    ``LONGEST_ARGUMENT``, or holding a ``secret``, is itself sent on stdin."""
    arguments = connector_arguments(host)
    if stdin is not None:
        # pyinfra writes stdin line by line as text; base64 keeps bytes intact.
        arguments["_stdin"] = base64.encodebytes(stdin).decode().splitlines()
        command = f"base64 -d | {command}"
    if host.state.print_input and not secret:
        click.echo(f"{host.print_prefix}>>> {scripts.readable(command)}", err=True)
    if stdin is None and (secret or len(command) > LONGEST_ARGUMENT):
        arguments["_stdin"] = command
        command = READ_COMMAND
    ok, output = host.run_shell_command(
        StringCommand(command),
        print_output=False,
        print_input=False,
        **arguments,
    )
    return ok, output.stdout, output.stderr


def read_files(
    host: Host, paths: Iterable[str], private_keys: Collection[str] = ()
) -> dict[str, RemoteFile]:
    """Read several files in one command; absent files are left out of the result.

    ``private_keys`` (a subset of ``paths``) are not read: the host reports the hash
    of each one's public key. A read that does not finish raises ``RemoteReadError``.
    """
    ok, stdout, stderr = run_quietly(host, read_files_command(paths, private_keys))
    return parse_read_files(host.name, stdout.splitlines() if ok else [], stderr)


def read_files_command(paths: Iterable[str], private_keys: Collection[str] = ()) -> str:
    """The command behind ``read_files``, for a survey that reads more in the same command."""
    items = [f"{'key' if p in private_keys else 'content'}:{p}" for p in paths]
    return scripts.command("read_files", *items)


def parse_read_files(host_name: str, lines: list[str], stderr: str = "") -> dict[str, RemoteFile]:
    """``read_files_command``'s output; raises ``RemoteReadError`` unless it ran to its end
    and the files' bytes (one ``c:`` line for all) add up to the sizes the host stated."""

    def failed(detail: str) -> RemoteReadError:
        return RemoteReadError(f"{host_name}: could not read files: {detail}")

    if not lines or lines[-1] != _END:
        raise failed(stderr.strip() or "output cut short")
    entries = lines[:-1]
    joined: bytes | None = None
    at = next((i for i, line in enumerate(entries) if line.startswith(_JOINED)), None)
    if at is not None:
        if at != len(entries) - 1:  # od's one line overflowed: more bytes than stated
            raise failed("a file changed while it was read")
        try:
            joined = bytes.fromhex(entries.pop().removeprefix(_JOINED))
        except ValueError:
            raise failed("unexpected output in the file contents") from None
    if len(entries) % 2:
        raise failed("unexpected output")
    files: dict[str, RemoteFile] = {}
    offset = 0
    for header, body in zip(entries[::2], entries[1::2], strict=True):
        mark, *fields = header.split(" ", 4)
        if mark not in (_FILE, _LINK) or len(fields) != 4:
            raise failed(f"unexpected output {mark!r}")
        mode, user, group, path = fields
        link = mark == _LINK
        kind, _, value = body.partition(":")
        if kind == "k":
            files[path] = RemoteFile(None, mode.zfill(3), user, group, value, link)
            continue
        if kind == "s" and joined is not None and value.isdecimal():
            content = joined[offset : offset + int(value)]
            offset += int(value)
        elif kind == "b":
            content = base64.b64decode(value)
        else:
            raise failed(f"unexpected output for {path}")
        files[path] = RemoteFile(content, mode.zfill(3), user, group, link=link)
    if joined is not None and offset != len(joined):
        raise failed("a file changed while it was read")
    return files


def read_secret(host: Host, path: str) -> bytes:
    """Read one private key into memory (only to sign with it or copy it), printing nothing."""
    ok, stdout, stderr = run_quietly(host, f"base64 -w0 {shlex.quote(path)}")
    if not ok:
        raise RemoteReadError(f"{host.name}: could not read {path}: {stderr.strip()}")
    return base64.b64decode(stdout.strip())


def write_files(host: Host, wanted: Mapping[str, Wanted], then: str = "") -> tuple[bool, str]:
    """Install the files in one command: all staged, then renamed together (``install_files``).

    A ``Wanted`` without content keeps the file's content and fixes mode and owner (a
    link is replaced by a regular file holding what it points to).
    ``then``: a command run in the same round trip once the files are in place.
    """
    ok, _, error = write_files_output(host, wanted, then)
    return ok, error


def _printf_escape(byte: int) -> str:
    if byte == 0x5C:
        return "\\\\"
    if byte == 0x0A:
        return "\\n"
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    return f"\\0{byte:03o}"


_PRINTF_ESCAPES = {byte: _printf_escape(byte) for byte in range(256)}


def printf_escapes(content: bytes) -> str:
    """``content`` on one line as ``printf %b`` writes it back: printable ASCII as is, a
    backslash doubled, a newline ``\\n``, any other byte ``\\0`` and three octal digits
    (``install_files.sh``: PEM files and configs are mostly printable, so a line is about
    as long as the file)."""
    return content.decode("latin-1").translate(_PRINTF_ESCAPES)


def write_files_output(
    host: Host, wanted: Mapping[str, Wanted], then: str = ""
) -> tuple[bool, str, str]:
    """``write_files``, and the standard output of ``then``: (ok, stdout, error)."""
    lines = []
    for path, want in wanted.items():
        lines.append(f"{want.mode} {want.user} {want.group} {path}")
        lines.append("-" if want.content is None else ":" + printf_escapes(want.content))
    payload = ("\n".join(lines) + "\n").encode()
    command = scripts.command("install_files") + (f" && {then}" if then else "")
    ok, stdout, stderr = run_quietly(host, command, stdin=payload)
    if not ok:
        return False, stdout, f"writing {', '.join(wanted)} failed: {stderr.strip()}"
    return True, stdout, ""
