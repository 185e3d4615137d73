"""The quiet channel for key material: ``remote.read_files`` and ``remote.write_files``.

``FakeHost`` is a test double for a pyinfra ``Host``: it has the attributes
``remote`` uses (``state``, ``data``, ``name``) and a ``run_shell_command`` that
runs the command locally with ``sh -c`` in a temporary directory, feeding ``_stdin``
the way pyinfra's connectors do, and records every call so the tests can check that
no content ever reaches a command line or a printing flag.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.host import Host
from pyinfra.connectors.util import CommandOutput, OutputLine, write_stdin

from etcd_cluster import scripts
from etcd_cluster.certs import pki
from etcd_cluster.engine import pyinfra_compat, remote
from etcd_cluster.engine.remote import RemoteFile, Wanted, read_files, write_files
from etcd_cluster.engine.survey import survey_command
from etcd_cluster.errors import RemoteReadError
from tests.unit.conftest import stand_in_tools

SECRET = b"-----BEGIN EC PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END EC PRIVATE KEY-----\n"
BINARY = bytes(range(256)) + b"\r\n\x00 trailing"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="write_files chowns files to root")


@dataclass(frozen=True)
class Call:
    command: str
    print_output: bool
    print_input: bool
    kwargs: dict[str, Any]


class _StdinBuffer(io.BytesIO):
    """Keeps what pyinfra's ``write_stdin`` wrote after it closes the buffer."""

    written = b""

    def close(self) -> None:
        self.written = self.getvalue()
        super().close()


class FakeHost:
    """Test double for a pyinfra Host (see the module docstring)."""

    def __init__(self, workdir: Path, name: str = "fake-host") -> None:
        self.state = SimpleNamespace(print_input=False)  # pyinfra's -vv sets it
        self.data: dict[str, Any] = {}
        self.name = name
        self.print_prefix = f"[{name}] "
        self.workdir = workdir
        self.calls: list[Call] = []

    def run_shell_command(
        self, command: Any, print_output: bool, print_input: bool, **kwargs: Any
    ) -> tuple[bool, CommandOutput]:
        raw = command.get_raw_value()
        self.calls.append(Call(raw, print_output, print_input, kwargs))
        stdin = _StdinBuffer()
        if kwargs.get("_stdin") is not None:
            write_stdin(kwargs["_stdin"], stdin)
        done = subprocess.run(
            ["sh", "-c", raw],
            input=stdin.written,
            cwd=self.workdir,
            capture_output=True,
            timeout=20,
            check=False,
        )
        lines = [OutputLine("stdout", line) for line in done.stdout.decode().splitlines()]
        lines += [OutputLine("stderr", line) for line in done.stderr.decode().splitlines()]
        return done.returncode == 0, CommandOutput(lines)


class BrokenHost(FakeHost):
    """A host whose every command fails, as when sudo is refused."""

    def run_shell_command(self, command, print_output, print_input, **kwargs):
        self.calls.append(Call(command.get_raw_value(), print_output, print_input, kwargs))
        return False, CommandOutput([OutputLine("stderr", "sudo: a password is required")])


@pytest.fixture
def global_arguments(monkeypatch) -> dict[str, Any]:
    """What pyinfra's ``pop_global_arguments`` returns for the fake host (editable per test)."""
    arguments: dict[str, Any] = {}

    def fake(state: Any, host: Any, kwargs: Any) -> tuple[dict[str, Any], list[str]]:
        return arguments, []

    monkeypatch.setattr(pyinfra_compat, "pop_global_arguments", fake)
    return arguments


@pytest.fixture
def host(tmp_path: Path, global_arguments) -> FakeHost:
    return FakeHost(tmp_path)


def wanted_files(root: Path) -> dict[str, Wanted]:
    return {
        f"{root}/pki/etcd/ca.key": Wanted(SECRET, "600"),
        f"{root}/pki/empty": Wanted(b"", "600"),
        f"{root}/odd dir/it's binary.bin": Wanted(BINARY, "640"),
        f"{root}/pki/etcd/ca.crt": Wanted(b"-----BEGIN CERTIFICATE-----\nMII\n", "644"),
    }


@needs_root
def test_written_files_read_back_identical_with_mode_and_owner(host, tmp_path):
    wanted = wanted_files(tmp_path)
    assert write_files(host, wanted) == (True, "")
    absent = f"{tmp_path}/pki/absent.key"
    assert read_files(host, [*wanted, absent]) == {
        path: RemoteFile(want.content, want.mode, "root", "root") for path, want in wanted.items()
    }


@needs_root
def test_modes_are_applied_and_no_temporary_file_is_left(host, tmp_path):
    wanted = wanted_files(tmp_path)
    Path(tmp_path, "pki/etcd").mkdir(parents=True)
    Path(tmp_path, "pki/etcd/ca.key").write_bytes(b"old")
    Path(tmp_path, "pki/etcd/ca.key").chmod(0o644)
    assert write_files(host, wanted) == (True, "")
    for path, want in wanted.items():
        assert Path(path).read_bytes() == want.content
        assert oct(Path(path).stat().st_mode & 0o7777) == f"0o{want.mode}"
    assert list(tmp_path.rglob("*.tmp-etcd-deploy")) == []


@needs_root
def test_content_never_reaches_a_command_line_or_output(host, tmp_path):
    wanted = wanted_files(tmp_path)
    write_files(host, wanted)
    read_files(host, wanted)
    encoded = base64.b64encode(SECRET).decode()
    assert len(host.calls) == 2  # one write for all files, one read for all
    for call in host.calls:
        assert call.print_output is False and call.print_input is False
        assert "TOP-SECRET" not in call.command and encoded[:40] not in call.command
        assert set(call.kwargs) <= set(CONNECTOR_ARGUMENT_KEYS)
    write, read = host.calls
    payload = base64.b64decode("".join(write.kwargs["_stdin"])).decode().splitlines()
    for want in wanted.values():  # the content only on stdin, as printf escapes
        assert ":" + remote.printf_escapes(want.content or b"") in payload
    # the read's script goes on stdin (it is long); it is the command, and holds no content
    assert read.command == remote.READ_COMMAND
    assert "TOP-SECRET" not in read.kwargs["_stdin"] and encoded[:40] not in read.kwargs["_stdin"]


def test_private_keys_are_read_as_the_hash_of_their_public_half(host, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    Path(tmp_path, "server.key").write_bytes(pem)
    Path(tmp_path, "broken.key").write_bytes(SECRET)
    paths = [f"{tmp_path}/server.key", f"{tmp_path}/broken.key"]
    files = read_files(host, paths, private_keys=paths)
    good, broken = files[paths[0]], files[paths[1]]
    assert good.content is None and good.public_key_sha256 == pki.public_key_sha256(
        key.public_key()
    )
    assert broken.content is None and broken.public_key_sha256 == ""
    output = "".join(str(line) for call in host.calls for line in [call.command])
    assert "TOP-SECRET" not in output


def test_a_read_cut_short_fails_loudly(tmp_path, global_arguments):
    class CutShort(FakeHost):
        def run_shell_command(self, command, print_output, print_input, **kwargs):
            ok, output = super().run_shell_command(command, print_output, print_input, **kwargs)
            return ok, CommandOutput([line for line in output if "@@end@@" not in line.line])

    Path(tmp_path, "a.crt").write_bytes(b"cert")
    with pytest.raises(RemoteReadError, match="etcd-c: could not read files: output cut short"):
        read_files(cast(Host, CutShort(tmp_path, name="etcd-c")), [f"{tmp_path}/a.crt"])


@needs_root
def test_a_wanted_key_without_content_only_fixes_mode_and_owner(host, tmp_path):
    path = Path(tmp_path, "kept.key")
    path.write_bytes(SECRET)
    path.chmod(0o644)
    assert write_files(host, {str(path): Wanted(None, "600", public_key_sha256="ab")}) == (True, "")
    assert path.read_bytes() == SECRET
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@needs_root
def test_an_empty_file_read_last_is_present(host, tmp_path):
    path = f"{tmp_path}/empty.key"
    write_files(host, {path: Wanted(b"", "600")})
    assert read_files(host, [path]) == {path: RemoteFile(b"", "600", "root", "root")}


def test_only_connector_arguments_are_passed_on(host, global_arguments, tmp_path):
    global_arguments.update({"_sudo": True, "_timeout": 30, "name": "op", "_if": [], "_serial": 1})
    read_files(host, [f"{tmp_path}/nothing"])
    (call,) = host.calls
    assert call.kwargs == {"_sudo": True, "_timeout": 30, "_stdin": call.kwargs["_stdin"]}


def test_commands_are_shown_at_vv_by_script_name_but_never_output_or_secrets(
    host, tmp_path, capsys
):
    Path(tmp_path, "a.crt").write_bytes(b"cert")
    read_files(host, [f"{tmp_path}/a.crt"])
    assert capsys.readouterr().err == ""  # below -vv nothing
    host.state.print_input = True
    read_files(host, [f"{tmp_path}/a.crt"])
    remote.run_quietly(host, "echo the-token", secret=True)
    shown = capsys.readouterr().err
    assert shown == (
        f"[fake-host] >>> ETCD_REMEMBER=<remember.sh> sh -c <read_files.sh> read_files "
        f"content:{tmp_path}/a.crt\n"
    )
    assert all(not call.print_output and not call.print_input for call in host.calls)


def test_a_long_command_is_sent_on_stdin_and_runs_as_given(host):
    """sudo logs its command line (960 characters a line): a survey's script would fill the
    host's auth log on every run, so a command longer than that reaches the host on stdin."""
    script = "".join(f"echo line-{i}; " for i in range(200)) + 'printf "%s\\n" "$0" "$#"; exit 3'
    ok, stdout, _ = remote.run_quietly(host, script)
    assert (ok, stdout.split()) == (False, [*(f"line-{i}" for i in range(200)), "sh", "0"])
    short = "echo short; exit 0"
    assert remote.run_quietly(host, short) == (True, "short", "")
    long_call, short_call = host.calls
    assert long_call.command == remote.READ_COMMAND
    assert long_call.kwargs["_stdin"] == script
    assert short_call.command == short and "_stdin" not in short_call.kwargs


def test_a_secret_command_is_never_on_a_command_line(host, capsys):
    """pyinfra's --debug prints the command line it runs, and sudo logs it on the host."""
    host.state.print_input = True
    assert remote.run_quietly(host, "echo the-token", secret=True) == (True, "the-token", "")
    (call,) = host.calls
    assert "the-token" not in call.command and call.kwargs["_stdin"] == "echo the-token"
    assert capsys.readouterr().err == ""


def test_a_command_sent_on_stdin_leaves_stdin_empty_for_its_own_commands(host):
    ok, stdout, _ = remote.run_quietly(host, "cat; echo read-nothing" + " " * 1000)
    assert (ok, stdout) == (True, "read-nothing")


def test_absent_files_are_left_out(host, tmp_path):
    assert read_files(host, [f"{tmp_path}/a.crt", f"{tmp_path}/b.key"]) == {}


def test_a_failed_read_names_the_host(tmp_path, global_arguments):
    broken = BrokenHost(tmp_path, name="etcd-b")
    with pytest.raises(RemoteReadError, match="etcd-b: could not read files: sudo: a password"):
        read_files(cast(Host, broken), [f"{tmp_path}/x"])


@needs_root
def test_a_failed_write_names_the_file_and_stops(host, tmp_path):
    Path(tmp_path, "blocker").write_text("a file where a directory should be")
    wanted = {
        f"{tmp_path}/blocker/server.key": Wanted(SECRET, "600"),
        f"{tmp_path}/later.key": Wanted(SECRET, "600"),
    }
    ok, message = write_files(host, wanted)
    assert not ok
    assert message.startswith(f"writing {tmp_path}/blocker/server.key, ")
    assert f"{tmp_path}/blocker" in message.split("failed: ", 1)[1]
    # nothing lands unless everything could be staged: no half-written pair
    assert not Path(tmp_path, "later.key").exists()
    assert list(tmp_path.rglob("*.tmp-etcd-deploy")) == []
    assert "TOP-SECRET" not in message


@needs_root
def test_an_owner_that_does_not_exist_fails_the_write_before_any_file_lands(host, tmp_path):
    """Modes and owners are set on the staged files together, after every content is
    staged: a failing chown still leaves every target as it was and no staged file."""
    Path(tmp_path, "kept.crt").write_text("old")
    wanted = {
        f"{tmp_path}/kept.crt": Wanted(b"new", "644"),
        f"{tmp_path}/new.key": Wanted(SECRET, "600", user="no-such-user-here"),
    }
    ok, message = write_files(host, wanted)
    assert not ok and "no-such-user-here" in message
    assert Path(tmp_path, "kept.crt").read_text() == "old"
    assert not Path(tmp_path, "new.key").exists()
    assert list(tmp_path.rglob("*.tmp-etcd-deploy")) == []


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_printf_escapes_come_back_byte_for_byte_from_the_shells_printf(shell):
    """install_files.sh writes each content with the shell's builtin ``printf %b``: every
    byte, and text that means something to printf (``\\c`` stops %b, ``%`` is a format),
    comes back as it was, under Debian's sh (dash) and RHEL's (bash)."""
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    content = BINARY + b"\\c stop? %s %b \\0 \\n \\\\ -\n:" + SECRET
    line = ":" + remote.printf_escapes(content)
    assert "\n" not in line and "TOP-SECRET" in line  # one line; the text as it is
    done = subprocess.run(
        [shell, "-c", 'IFS= read -r body && printf %b "${body#:}"'],
        input=(line + "\n").encode(),
        capture_output=True,
        check=True,
    )
    assert done.stdout == content


@needs_root
def test_a_content_line_of_neither_kind_stops_the_write(host, tmp_path):
    """A body line that is neither ":..." nor "-" (a payload from another version) writes
    nothing."""
    target = tmp_path / "server.crt"
    payload = f"644 root root {target}\nTUlJ\n".encode()
    ok, _, stderr = remote.run_quietly(host, scripts.command("install_files"), stdin=payload)
    assert not ok and f"no content line for {target}" in stderr
    assert not target.exists() and list(tmp_path.rglob("*.tmp-etcd-deploy")) == []


def test_reprs_show_sizes_not_content():
    file = RemoteFile(SECRET, "600", "root", "root")
    want = Wanted(SECRET, "600")
    for text in (repr(file), repr(want), str(file), str(want)):
        assert "TOP-SECRET" not in text and "PRIVATE" not in text
        assert f"{len(SECRET)} bytes" in text


@pytest.mark.parametrize(
    ("current", "satisfied"),
    [
        (RemoteFile(SECRET, "600", "root", "root"), True),
        (RemoteFile(SECRET, "644", "root", "root"), False),
        (RemoteFile(SECRET, "600", "etcd", "root"), False),
        (RemoteFile(SECRET + b"\n", "600", "root", "root"), False),
        (None, False),
    ],
    ids=["same", "mode", "owner", "content", "absent"],
)
def test_wanted_is_satisfied_only_by_identical_content_mode_and_owner(current, satisfied):
    assert Wanted(SECRET, "600").satisfied_by(current) is satisfied


@needs_root
def test_directories_made_for_new_files_are_0755_like_kubeadms(host, tmp_path):
    assert write_files(host, {f"{tmp_path}/new/etcd/ca.key": Wanted(SECRET, "600")}) == (True, "")
    for directory in (tmp_path / "new", tmp_path / "new/etcd"):
        assert oct(directory.stat().st_mode & 0o777) == "0o755"


@needs_root
def test_a_link_is_read_as_a_link_and_replaced_by_a_regular_file(host, tmp_path):
    """Never chmod or chown through a link: the link gives way to a regular file holding
    what it pointed to (with its time: etcd need not think its CA changed)."""
    real = Path(tmp_path, "elsewhere.key")
    real.write_bytes(SECRET)
    real.chmod(0o640)
    os.utime(real, (1_000_000_000, 1_000_000_000))
    link = Path(tmp_path, "server.key")
    link.symlink_to(real)
    found = read_files(host, [str(link)])[str(link)]
    assert found.link and found.content == SECRET
    assert not Wanted(SECRET, found.mode, found.user, found.group).satisfied_by(found)

    assert write_files(host, {str(link): Wanted(None, "600")}) == (True, "")
    assert not link.is_symlink() and link.read_bytes() == SECRET
    assert oct(link.stat().st_mode & 0o777) == "0o600"
    assert link.stat().st_mtime == 1_000_000_000
    assert oct(real.stat().st_mode & 0o777) == "0o640"  # the target untouched
    assert read_files(host, [str(link)]) == {str(link): RemoteFile(SECRET, "600", "root", "root")}


@needs_root
def test_a_mode_change_is_a_chmod_not_a_rewrite(host, tmp_path):
    path = Path(tmp_path, "ca.crt")
    path.write_bytes(b"cert")
    path.chmod(0o600)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino
    assert write_files(host, {str(path): Wanted(None, "644")}) == (True, "")
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert (path.stat().st_ino, path.stat().st_mtime) == (inode, 1_000_000_000)


def test_the_pki_write_sends_only_what_the_host_lacks():
    from etcd_cluster.engine.operations import _with_content

    state = cast(Any, None)  # read only to copy a key from the first member
    held = RemoteFile(b"cert", "600", "root", "root")
    assert _with_content(state, Wanted(b"cert", "644"), held) == Wanted(None, "644")
    linked = RemoteFile(b"cert", "777", "root", "root", link=True)
    assert _with_content(state, Wanted(b"cert", "644"), linked).content is None
    assert _with_content(state, Wanted(b"new", "644"), held).content == b"new"


def test_a_logged_survey_names_each_script_instead_of_its_text(make_cluster):
    cluster = make_cluster()
    command = survey_command(cluster, cluster.first, with_probe=True)
    shown = scripts.readable(command)
    assert shown.startswith(
        "ETCD_MEMO_DIR=/var/cache/etcd-deploy ETCD_REMEMBER=<remember.sh> sh -c <sections.sh> "
        "sections files 'sh -c <read_files.sh> read_files "
    )
    assert "<observe_etcd.sh> observe_etcd" in shown and "<host_state.sh> host_state" in shown
    first_lines = {
        p.name: scripts.text(p.stem).splitlines()[0] for p in scripts.path("x").parent.glob("*.sh")
    }
    assert [name for name, line in first_lines.items() if line in shown] == []
    assert len(shown) < len(command) / 3


def run_read_files(tmp_path: Path, items: list[str], **tools: str) -> subprocess.CompletedProcess:
    """``read_files.sh`` under ``sh`` with stand-in tools (no memo directory)."""
    env = {**stand_in_tools(tmp_path, **tools), **scripts.environment()}
    env.pop(scripts.MEMO_DIR_VARIABLE, None)
    return subprocess.run(
        ["sh", "-c", scripts.text("read_files"), "read_files", *items],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
        check=False,
    )


def test_one_od_reads_every_file_and_keys_stay_on_the_host(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    contents = {"a.crt": b"cert a\n", "empty": b"", "odd name's.bin": BINARY, "z.yaml": b"z"}
    for name, content in contents.items():
        Path(tmp_path, name).write_bytes(content)
    Path(tmp_path, "server.key").write_bytes(pem)
    items = [f"content:{tmp_path}/{name}" for name in contents]
    items.insert(1, f"key:{tmp_path}/server.key")
    count_od = f'#!/bin/sh\necho >>"$STATE/od"\nexec {shutil.which("od")} "$@"\n'

    result = run_read_files(tmp_path, items, od=count_od)

    assert result.returncode == 0, result.stderr
    assert Path(tmp_path, "state/od").read_text() == "\n"  # one od for all four
    files = remote.parse_read_files("h", result.stdout.splitlines())
    assert {path.rsplit("/", 1)[1]: file.content for path, file in files.items()} == {
        **contents,
        "server.key": None,
    }
    assert files[f"{tmp_path}/server.key"].public_key_sha256 == pki.public_key_sha256(
        key.public_key()
    )
    secret = serialization.load_pem_private_key(pem, None)
    der = secret.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    out = result.stdout.replace(" ", "")
    for form in (pem.hex(), der.hex(), base64.b64encode(pem).decode(), "PRIVATE"):
        assert form[:40] not in out


@pytest.mark.parametrize("change", ["grows", "shrinks"])
def test_a_file_whose_size_changes_during_the_read_fails_it(tmp_path, change):
    """The stand-in stat changes a file right after stating it: od then reads more or
    fewer bytes than the sizes say, and the read is refused rather than split wrongly."""
    Path(tmp_path, "a.crt").write_bytes(b"first\n")
    Path(tmp_path, "b.crt").write_bytes(b"second\n")
    edit = "printf more >>" if change == "grows" else ": >"
    stat = f"""#!/bin/sh
{shutil.which("stat")} "$@" || exit
case "$*" in *'%s %n'*) {edit}"{tmp_path}/a.crt" ;; esac
"""
    result = run_read_files(
        tmp_path, [f"content:{tmp_path}/a.crt", f"content:{tmp_path}/b.crt"], stat=stat
    )

    assert result.returncode == 0, result.stderr
    with pytest.raises(RemoteReadError, match="h: could not read files: a file changed while"):
        remote.parse_read_files("h", result.stdout.splitlines())


def test_a_file_gone_before_od_reads_it_fails_the_read(tmp_path):
    Path(tmp_path, "a.crt").write_bytes(b"first\n")
    stat = f"""#!/bin/sh
{shutil.which("stat")} "$@" || exit
case "$*" in *'%s %n'*) rm "{tmp_path}/a.crt" ;; esac
"""
    result = run_read_files(tmp_path, [f"content:{tmp_path}/a.crt"], stat=stat)

    assert result.returncode != 0 and "@@end@@" not in result.stdout
    with pytest.raises(RemoteReadError, match="could not read files"):
        remote.parse_read_files("h", [], result.stderr)  # as read_files passes a failure


@pytest.mark.parametrize(
    "lines",
    [
        ["@@file@@ 644 root root /a", "s:2", "c: 61", "@@end@@"],  # a byte short
        ["@@file@@ 644 root root /a", "s:1", "c: 61 62", "@@end@@"],  # a byte over
        ["@@file@@ 644 root root /a", "s:1", "c: 61", " 62", "@@end@@"],  # od's line spilled
        ["@@file@@ 644 root root /a", "s:1", "@@end@@"],  # sizes without the bytes
        ["@@file@@ 644 root root /a", "s:1", "c: 6z", "@@end@@"],
        ["@@file@@ 644 root root /a", "x:1", "c: 61", "@@end@@"],
        ["@@file@@ 644 root root", "s:1", "c: 61", "@@end@@"],
        ["@@file@@ 644 root root /a", "c: 61", "@@end@@"],
    ],
)
def test_output_that_does_not_add_up_is_refused(lines):
    with pytest.raises(RemoteReadError, match="h: could not read files: "):
        remote.parse_read_files("h", lines)
    good = ["@@file@@ 644 root root /a", "s:1", "@@file@@ 600 a b /b c", "s:2", "c: 61 62 63"]
    assert remote.parse_read_files("h", [*good, "@@end@@"]) == {
        "/a": RemoteFile(b"a", "644", "root", "root"),
        "/b c": RemoteFile(b"bc", "600", "a", "b"),
    }
