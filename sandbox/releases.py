"""etcd release archives in upstream's layout, built from Debian's packages (test bed only).

No registry or GitHub is reachable here, but Debian's trixie and sid suites carry
etcd 3.5.x (etcd-server, etcd-client) that installs on bookworm. Their binaries packed
as ``etcd-v<version>-linux-amd64/{etcd,etcdctl,etcdutl}`` in a .tar.gz have the layout
of etcd's release archives, which is what ``etcd_version`` installs. Built once and
cached; apt runs with its own sources and state so the machine's apt is untouched.

``relabelled`` makes a stand-in for a release Debian does not carry (the deploy's
default): a built archive's binaries with their version string set to another patch
release of the same minor, so that the install's check that etcd says it is the named
version holds. It is not etcd's published archive, so the shipped checksum refuses it.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sandbox.image import apt_mirror

CACHE = Path("/var/cache/etcd-testbed-releases")
# etcd version -> Debian package version (trixie: 3.5.16, sid: 3.5.30)
DEBIAN_VERSIONS = {"3.5.16": "3.5.16-4", "3.5.30": "3.5.30-2"}
SUITES = ("trixie", "sid")


def _apt(state: Path, *args: str) -> None:
    options = [
        "-o", f"Dir::Etc::sourcelist={state}/sources.list",
        "-o", f"Dir::Etc::sourceparts={state}/parts",
        "-o", f"Dir::State::lists={state}/lists",
        "-o", f"Dir::Cache={state}/cache",
        "-o", f"Dir::State::status={state}/status",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    subprocess.run(["apt-get", "-qq", *options, *args], check=True, cwd=state)


def archive(version: str, arch: str = "amd64") -> tuple[Path, str]:
    """The archive for ``version`` (building it on first use) and its sha256."""
    path = CACHE / f"etcd-v{version}-linux-{arch}.tar.gz"
    if not path.exists():
        _build(version, arch, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def release_data(version: str, sha256: str) -> dict[str, object]:
    """Host data that installs etcd ``version`` from this cache (a URL template on disk, the
    deploy's ``etcd_archive_url``) with ``sha256`` as its checksum."""
    return {
        "etcd_version": version,
        "etcd_archive_url": f"{CACHE}/etcd-v{{version}}-linux-{{arch}}.tar.gz",
        "etcd_archive_sha256": {version: sha256},
    }


def relabelled(source: str, version: str, arch: str = "amd64") -> tuple[Path, str]:
    """A stand-in archive named etcd ``version``: ``source``'s binaries saying ``version``."""
    path = CACHE / f"etcd-v{version}-linux-{arch}.standin-{source}.tar.gz"
    if path.exists():
        return path, hashlib.sha256(path.read_bytes()).hexdigest()
    if len(source) != len(version) or source.rpartition(".")[0] != version.rpartition(".")[0]:
        raise ValueError(f"{source} -> {version}: only a patch release of the same length")
    original, _ = archive(source, arch)
    top, partial = f"etcd-v{version}-linux-{arch}", path.with_suffix(f".partial-{os.getpid()}")
    with tarfile.open(original) as old, tarfile.open(partial, "w:gz") as new:
        for member in old.getmembers():
            data = old.extractfile(member)
            assert data is not None, member.name
            content = data.read()
            if content.count(source.encode()) != 1:
                raise ValueError(f"{member.name}: its version string is not there once")
            member.name = f"{top}/{posixpath.basename(member.name)}"
            new.addfile(member, io.BytesIO(content.replace(source.encode(), version.encode())))
    partial.rename(path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _build(version: str, arch: str, path: Path) -> None:
    debian = DEBIAN_VERSIONS[version]
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(prefix="etcd-release-") as scratch:
        state = Path(scratch)
        for sub in ("parts", "lists/partial", "cache/archives/partial"):
            (state / sub).mkdir(parents=True)
        (state / "status").write_text("")
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        signed = f"[signed-by={keyring}] " if Path(keyring).exists() else ""
        (state / "sources.list").write_text(
            "".join(f"deb {signed}{mirror} {suite} main\n" for suite in SUITES)
        )
        _apt(state, "update")
        _apt(state, "download", f"etcd-server={debian}", f"etcd-client={debian}")
        root = state / "root"
        for deb in state.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        top = f"etcd-v{version}-linux-{arch}"
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".partial-{os.getpid()}")  # test workers may build at once
        with tarfile.open(partial, "w:gz") as tar:
            for binary in ("etcd", "etcdctl", "etcdutl"):
                source = root / "usr/bin" / binary
                if source.exists():
                    tar.add(source, arcname=f"{top}/{binary}")
        partial.rename(path)
