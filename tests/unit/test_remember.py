"""``remember.sh`` under a real shell: a digest is kept only while its files cannot have changed.

The memo is what lets a converged survey skip hashing etcd's binaries and deriving each
key's public key; a stale entry would hide a tampered binary or a swapped key, so these
tests change files the ways that keep size and mtime (``touch -d`` back) and expect the
command to run again.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from etcd_cluster import scripts

COUNT = 'echo run >>"$COUNTER"; sha256sum "$@"'


def remember(memo: Path | None, counter: Path, *files: Path, command: str = COUNT) -> str:
    env = {**os.environ, **scripts.environment(), "COUNTER": str(counter)}
    env[scripts.MEMO_DIR_VARIABLE] = str(memo) if memo else ""
    argv = ["sh", str(scripts.path("remember")), "digests", command, *map(str, files)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stdout}"


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


@pytest.fixture
def settled(tmp_path):
    """Two files last changed more than 2 s ago (ctime cannot be set back: we wait)."""
    files = [tmp_path / "etcd", tmp_path / "etcdctl"]
    for f in files:
        f.write_bytes(b"binary " + f.name.encode())
    time.sleep(2.1)
    return files


def test_without_a_directory_the_command_just_runs(tmp_path, settled):
    counter = tmp_path / "count"
    first = remember(None, counter, *settled)
    assert first == remember(None, counter, *settled) and runs(counter) == 2
    assert f"  {settled[0]}" in first


def test_an_unchanged_file_is_answered_from_the_memo_and_any_write_is_seen(tmp_path, settled):
    memo, counter = tmp_path / "memo", tmp_path / "count"
    first = remember(memo, counter, *settled)
    assert remember(memo, counter, *settled) == first and runs(counter) == 1
    assert stat.S_IMODE(memo.stat().st_mode) == 0o700
    # same size, mtime put back: only the ctime tells, and it does
    mtime = settled[0].stat().st_mtime
    settled[0].write_bytes(b"binary ETCD")
    os.utime(settled[0], (mtime, mtime))
    changed = remember(memo, counter, *settled)
    assert changed != first and runs(counter) == 2
    assert changed.splitlines()[1] == first.splitlines()[1]
    # changed less than 2 s ago: answered, not remembered
    assert remember(memo, counter, *settled) == changed and runs(counter) == 3
    # a file replaced by rename, a chmod, a file gone: all run the command again
    new = tmp_path / "new"
    new.write_bytes(b"binary ETCD")
    new.replace(settled[0])
    remember(memo, counter, *settled)
    settled[1].chmod(0o600)
    remember(memo, counter, *settled)
    settled[1].unlink()
    remember(memo, counter, *settled)
    assert runs(counter) == 6


def test_a_failed_command_is_not_remembered(tmp_path, settled):
    memo, counter = tmp_path / "memo", tmp_path / "count"
    failing = 'echo run >>"$COUNTER"; echo partial; exit 3'
    assert remember(memo, counter, *settled, command=failing) == "exit 3: partial\n"
    assert remember(memo, counter, *settled, command=failing) == "exit 3: partial\n"
    assert runs(counter) == 2


def test_one_entry_per_name_whatever_the_files(tmp_path, settled):
    memo, counter = tmp_path / "memo", tmp_path / "count"
    remember(memo, counter, settled[0])
    remember(memo, counter, settled[1])
    assert remember(memo, counter, settled[0]) and runs(counter) == 3
    assert [p.name for p in memo.iterdir()] == ["digests"]


def test_a_different_command_under_the_same_name_runs_again(tmp_path, settled):
    """The command's text is part of the key: a changed command never reuses an output."""
    memo, counter = tmp_path / "memo", tmp_path / "count"
    first = remember(memo, counter, *settled)
    other = 'echo run >>"$COUNTER"; echo other'
    assert remember(memo, counter, *settled, command=other) == "other\n" and runs(counter) == 2
    assert remember(memo, counter, *settled, command=other) == "other\n" and runs(counter) == 2
    assert remember(memo, counter, *settled) == first and runs(counter) == 3


def test_the_output_comes_back_byte_for_byte(tmp_path, settled):
    memo, counter = tmp_path / "memo", tmp_path / "count"
    odd = """echo run >>"$COUNTER"; printf '%s\\n' "it's \\\\ \\$x \\"q\\"" '' '  ' ''"""
    odd += "; printf end"
    first = remember(memo, counter, *settled, command=odd)
    assert first == 'it\'s \\ $x "q"\n\n  \n\nend'
    assert remember(memo, counter, *settled, command=odd) == first and runs(counter) == 1


def old_format_key(name: str, command: str, files: list[Path]) -> str:
    """The key the previous remember.sh put on an entry's first line (the sha256 of the
    name, the command and the files' stamps)."""
    lines = []
    for f in files:
        s = f.stat()
        mtime, ctime = divmod(s.st_mtime_ns, 10**9), divmod(s.st_ctime_ns, 10**9)
        lines.append(
            f"{s.st_dev}:{s.st_ino}:{s.st_size}:{mtime[0]}.{mtime[1]:09d}:"
            f"{ctime[0]}.{ctime[1]:09d} {ctime[0]}"
        )
    return hashlib.sha256(f"{name}\n{command}\n{chr(10).join(lines)}\n".encode()).hexdigest()


def test_an_entry_of_the_old_format_or_cut_short_is_a_miss_and_written_again(tmp_path, settled):
    """An entry the previous remember.sh wrote for exactly these files is not read, nor one
    cut short or not ours: the command runs, the entry is replaced."""
    memo, counter = tmp_path / "memo", tmp_path / "count"
    memo.mkdir(mode=0o700)
    entry = memo / "digests"
    entry.write_text(f"{old_format_key('digests', COUNT, settled)}\nforged  {settled[0]}\n")
    first = remember(memo, counter, *settled)
    assert "forged" not in first and f"  {settled[0]}" in first and runs(counter) == 1
    written = entry.read_text()
    assert "\n@@remember.sh memo entry, format 3: " in written
    assert remember(memo, counter, *settled) == first and runs(counter) == 1
    # the same entry without its last line (a write cut short): not used
    entry.write_text(written.removesuffix("\n@@end of memo entry"))
    assert remember(memo, counter, *settled) == first and runs(counter) == 2
    assert entry.read_text() == written
    if os.geteuid() == 0:
        os.chown(entry, 65534, 65534)  # not ours: not trusted
        assert remember(memo, counter, *settled) == first and runs(counter) == 3
        assert entry.stat().st_uid == 0
