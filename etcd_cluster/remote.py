"""A quiet channel to hosts for anything that carries key material.

pyinfra prints fact output at ``-vvv``, command output of failed operations,
``--diff`` of ``files.put``, and the Docker connector stages uploads and downloads
in temporary files on the controller. Keys therefore never go through facts or
``files.put``: they are read from a command's captured stdout and written through
its stdin, with printing switched off, so they exist on the controller only in
memory. Only the command line (which holds paths, never contents) can be logged.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.command import StringCommand
from pyinfra.api.host import Host

_MARK = "@@etcd-deploy-file@@"


@dataclass(frozen=True)
class RemoteFile:
    """A file's content and ownership as read from a host."""

    content: bytes
    mode: str
    user: str
    group: str

    def __repr__(self) -> str:  # content may be a key: never show it
        owner = f"{self.user}:{self.group}"
        return f"RemoteFile(mode={self.mode}, owner={owner}, {len(self.content)} bytes)"


@dataclass(frozen=True)
class Wanted:
    """A file as it should be on a host."""

    content: bytes
    mode: str
    user: str = "root"
    group: str = "root"

    def __repr__(self) -> str:
        return f"Wanted(mode={self.mode}, {len(self.content)} bytes)"

    def satisfied_by(self, current: RemoteFile | None) -> bool:
        return (
            current is not None
            and current.content == self.content
            and current.mode == self.mode
            and (current.user, current.group) == (self.user, self.group)
        )


def run_quietly(host: Host, command: str, stdin: bytes | None = None) -> tuple[bool, str, str]:
    """Run ``command`` with the host's global arguments (sudo etc.), printing nothing."""
    arguments, _ = pop_global_arguments(host.state, host, {})
    connector_arguments = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    if stdin is not None:
        # pyinfra writes stdin line by line as text; base64 keeps bytes intact.
        connector_arguments["_stdin"] = base64.encodebytes(stdin).decode().splitlines()
    ok, output = host.run_shell_command(
        StringCommand(command),
        print_output=False,
        print_input=False,
        **connector_arguments,
    )
    return ok, output.stdout, output.stderr


def read_files(host: Host, paths: Iterable[str]) -> dict[str, RemoteFile]:
    """Read several files in one command; absent files are left out of the result."""
    script = "; ".join(
        f"if [ -f {shlex.quote(p)} ]; then stat -c '{_MARK} %a %U %G %n' {shlex.quote(p)} "
        f"&& printf 'b:' && base64 -w0 {shlex.quote(p)} && echo; fi"
        for p in paths
    )
    ok, stdout, stderr = run_quietly(host, script)
    if not ok:
        raise OSError(f"{host.name}: could not read files: {stderr.strip()}")
    files: dict[str, RemoteFile] = {}
    lines = stdout.splitlines()
    for header, body in zip(lines[::2], lines[1::2], strict=False):
        _, mode, user, group, path = header.split(" ", 4)
        files[path] = RemoteFile(
            base64.b64decode(body.removeprefix("b:")), mode.zfill(3), user, group
        )
    return files


def write_files(host: Host, wanted: Mapping[str, Wanted]) -> tuple[bool, str]:
    """Write each file atomically (temp file + rename) with its mode set before content lands."""
    for path, want in wanted.items():
        directory = shlex.quote(path.rsplit("/", 1)[0] or "/")
        target = shlex.quote(path)
        temp = shlex.quote(f"{path}.tmp-etcd-deploy")
        command = (
            f"mkdir -p {directory} && umask 077 && base64 -d > {temp} && "
            f"chown {want.user}:{want.group} {temp} && chmod {want.mode} {temp} && "
            f"mv -f {temp} {target}"
        )
        ok, _, stderr = run_quietly(host, command, stdin=want.content)
        if not ok:
            return False, f"writing {path} failed: {stderr.strip()}"
    return True, ""
