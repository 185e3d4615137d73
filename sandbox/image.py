"""The Docker daemon and the host image that every test-bed container runs.

No container registry is reachable from our machines, so the image is built
locally: ``debootstrap`` makes a Debian bookworm root file system from the
machine's own apt mirror and ``docker import`` turns it into an image.  The
machines come with a Docker client only, so :func:`ensure_dockerd` starts the
daemon when nothing answers.

Both functions are idempotent and cheap when there is nothing to do, so test
fixtures and the demo can call them unconditionally.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SUITE = "bookworm"

PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "etcd-server",
    "etcd-client",
    "iproute2",
    "procps",
    "ca-certificates",
    "curl",
    "openssl",
    "sudo",
    "haproxy",
    "keepalived",
    "python3-yaml",
    "iptables",
    "rclone",
    "age",
)
"""What a host needs: systemd as PID 1 (the systemd runtime is tested end to
end), the etcd 3.4 binaries the deploy configures, tools to look around, sudo
for the ssh tests, haproxy and keepalived for the load balancer, and Python with
PyYAML for the static-pod stand-ins (tests/standins), iptables to cut one port
off from one peer in the fault tests, rclone and age for off-host (encrypted)
backups and restores from them (offline: no apt mirror needed in a test)."""

IMAGE = f"etcd-testbed-host:{SUITE}-{hashlib.sha256(' '.join(PACKAGES).encode()).hexdigest()[:10]}"
"""Tag of the locally built host image: named after its package list, so a
changed list builds a new image instead of reusing a stale one."""

DOCKERD_LOG = Path("/tmp/etcd-testbed-dockerd.log")

APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
APT_SOURCES_LIST = Path("/etc/apt/sources.list")

_started_dockerd = False


def _log(message: str) -> None:
    print(f"[sandbox] {message}", flush=True)


def _quiet(cmd: list[str]) -> bool:
    """Run ``cmd`` without output and tell whether it succeeded."""
    return (
        subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        ).returncode
        == 0
    )


def docker_running() -> bool:
    """Whether a Docker daemon answers the client."""
    return _quiet(["docker", "info"])


def started_dockerd() -> bool:
    """Whether :func:`ensure_dockerd` started the daemon in this process."""
    return _started_dockerd


def ensure_dockerd(timeout: float = 60.0) -> None:
    """Make sure a Docker daemon answers, starting ``dockerd`` if needed.

    The daemon is started in its own session so that it outlives this process
    (the demo's ``up`` exits right after), with its log in :data:`DOCKERD_LOG`.
    """
    global _started_dockerd
    if docker_running():
        return
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed: run scripts/bootstrap.sh first")
    if os.geteuid() != 0:
        raise RuntimeError("docker does not answer and only root can start dockerd")
    _log(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        daemon = subprocess.Popen(
            ["dockerd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _started_dockerd = True
    deadline = time.monotonic() + timeout
    while not docker_running():
        if daemon.poll() is not None:
            raise RuntimeError(f"dockerd exited with {daemon.returncode}; see {DOCKERD_LOG}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s; see {DOCKERD_LOG}")
        time.sleep(0.5)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses for the main suite.

    Read from the machine's own configuration because only its mirror is
    reachable; the security archive is skipped as it carries no full suite.
    """
    candidates: list[str] = []
    if APT_SOURCES.exists():
        for stanza in re.split(r"\n\s*\n", APT_SOURCES.read_text()):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if re.match(r"^[A-Za-z-]+:", line)
            )
            if SUITE in fields.get("Suites", "").split():
                candidates += fields.get("URIs", "").split()
    if APT_SOURCES_LIST.exists():
        for line in APT_SOURCES_LIST.read_text().splitlines():
            # deb [options] URI suite components...
            match = re.match(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and match.group(2) == SUITE:
                candidates.append(match.group(1))
    if not candidates:
        raise RuntimeError(f"no apt source for {SUITE} in {APT_SOURCES} or {APT_SOURCES_LIST}")
    return candidates[0]


def image_exists(image: str = IMAGE) -> bool:
    """Whether the Docker daemon has ``image``."""
    return _quiet(["docker", "image", "inspect", image])


def ensure_image(force: bool = False) -> None:
    """Build :data:`IMAGE` unless it already exists (or ``force`` is set)."""
    ensure_dockerd()
    if force or not image_exists():
        build_image()


def _prepare_rootfs(rootfs: Path) -> None:
    """Adapt a fresh bookworm root file system to life in a container.

    The packaged ``etcd.service`` is enabled by its postinst; left so, it would
    hold port 2379 before the deploy runs.  It is disabled, not masked: a mask
    is a symlink to /dev/null at the path a deploy may write its own unit to.
    An empty machine-id makes systemd generate one per container.  Nothing
    else needs masking: getty and udev units skip themselves in a container.
    """
    subprocess.run(["chroot", str(rootfs), "systemctl", "disable", "etcd.service"], check=True)
    leftovers = list((rootfs / "etc/systemd/system").glob("*.wants/etcd.service"))
    if leftovers:
        raise RuntimeError(f"etcd.service still enabled in the image: {leftovers}")
    (rootfs / "etc/machine-id").write_text("")
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / cache).glob("*"):
            if entry.is_file():
                entry.unlink()


def build_image(image: str = IMAGE) -> None:
    """Bootstrap a root file system, import it as ``image`` and delete it."""
    ensure_dockerd()
    mirror = apt_mirror()
    old = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    old_id = old.stdout.strip() if old.returncode == 0 else ""
    started = time.monotonic()
    rootfs = Path(tempfile.mkdtemp(prefix="etcd-testbed-rootfs-", dir="/var/tmp"))
    try:
        _log(f"debootstrap {SUITE} from {mirror} into {rootfs} (about a minute)")
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _log("preparing the root file system for containers")
        _prepare_rootfs(rootfs)
        _log(f"importing as {image}")
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                ["docker", "import", "-", image],
                stdin=tar.stdout,
                stdout=subprocess.DEVNULL,
                check=False,
            )
        if tar.returncode != 0 or imported.returncode != 0:
            raise RuntimeError(
                f"tar | docker import failed ({tar.returncode}, {imported.returncode})"
            )
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    if old_id:  # a rebuild left the previous image untagged; fails harmlessly while in use
        _quiet(["docker", "image", "rm", old_id])
    _log(f"built {image} in {time.monotonic() - started:.0f} s")
