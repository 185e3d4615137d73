"""Stand-ins for kubeadm, kubelet, crictl and containerd, for the static-pod runtime.

kubeadm, kubelet, crictl and the etcd image cannot be installed on our machines, so
tests that drive ``etcd_runtime=static-pod`` install these stand-ins into a bed
container with :func:`install`. They run the container's real etcd (/usr/bin/etcd)
as the "container", so the cluster under test is a real etcd cluster over mutual
TLS; what each stand-in models, and what it does not, is in its module docstring
(``kubeadm.py``, ``kubelet.py``, ``crictl.py``, ``containerd_standin.py``). Tests
using them must say so in their docstring.

Helpers for tests: :func:`events` (the kubelet's event log, for ordering checks
across members: timestamps are the shared kernel clock), :func:`set_kubeadm_failure`,
:func:`stop_runtime` / :func:`start_runtime`, :func:`set_start_delay` /
:func:`set_stop_delay`, :func:`set_version`, :func:`running_containers`, :func:`timeline`.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import bed

HERE = Path(__file__).resolve().parent
SETTINGS_DIR = "/etc/standins"
EVENTS_LOG = "/run/standins/events.log"
RUNTIME_SOCKET = "/var/run/containerd/containerd.sock"

# (file here, path in the container, mode)
FILES = [
    ("kubeadm.py", "/usr/bin/kubeadm", 0o755),
    ("kubelet.py", "/usr/bin/kubelet", 0o755),
    ("crictl.py", "/usr/bin/crictl", 0o755),
    ("containerd_standin.py", "/usr/local/bin/containerd-standin", 0o755),
    ("containerd.service", "/lib/systemd/system/containerd.service", 0o644),
    ("kubelet.service", "/lib/systemd/system/kubelet.service", 0o644),
]


@dataclass(frozen=True)
class Event:
    """One line of the stand-in kubelet's event log."""

    ns: int  # time.time_ns() inside the container (same kernel clock for all beds)
    kind: str  # start, stop, exit, restart
    container: str  # 64-hex container id
    pod_uid: str
    manifest: str  # the manifest file the pod came from


def _sh(node: bed.Node, command: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(
        ["docker", "exec", "-i", node.container, "sh", "-c", command],
        input=stdin,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{node.container}: {command!r} failed ({result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result.stdout.decode()


def _tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, dest, mode in FILES:
            data = (HERE / name).read_bytes()
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def install(node: bed.Node, timeout: float = 30) -> None:
    """Put the stand-ins into ``node`` and start the runtime.

    kubelet.service is enabled but left stopped: without the deploy's drop-in it has no
    config (the packaged unit would crash-loop until then; starting it is the deploy's job).
    """
    _sh(node, "tar -x -C / --no-same-owner", stdin=_tarball())
    _sh(node, f"mkdir -p {SETTINGS_DIR} && systemctl daemon-reload")
    _sh(node, "systemctl enable --now containerd.service && systemctl enable kubelet.service")
    _wait_socket(node, True, timeout)


def _wait_socket(node: bed.Node, present: bool, timeout: float) -> None:
    test = f"test {'-S' if present else '! -e'} {RUNTIME_SOCKET}"
    deadline = time.monotonic() + timeout
    while subprocess.run(["docker", "exec", node.container, "sh", "-c", test]).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{node.container}: {test} still false after {timeout}s")
        time.sleep(0.2)


def _setting(node: bed.Node, name: str, value: str | None) -> None:
    path = shlex.quote(f"{SETTINGS_DIR}/{name}")
    if value is None:
        _sh(node, f"rm -f {path}")
    else:
        _sh(node, f"mkdir -p {SETTINGS_DIR} && cat > {path}", stdin=value.encode())


def set_kubeadm_failure(node: bed.Node, message: str | None) -> None:
    """``kubeadm init phase etcd local`` prints ``message`` and exits 1 (None: works again)."""
    _setting(node, "kubeadm-fail", None if message is None else message + "\n")


def set_start_delay(node: bed.Node, seconds: float) -> None:
    """Seconds kubelet waits before starting a new pod's container (default 2)."""
    _setting(node, "kubelet-start-delay", str(seconds))


def set_stop_delay(node: bed.Node, seconds: float) -> None:
    """Seconds kubelet waits before stopping a pod that is no longer wanted (default 1)."""
    _setting(node, "kubelet-stop-delay", str(seconds))


def set_version(node: bed.Node, version: str | None) -> None:
    """What ``kubeadm version -o short`` and ``kubelet --version`` report (None: v1.34.1)."""
    _setting(node, "kubeadm-version", version)


def stop_runtime(node: bed.Node) -> None:
    """Stop containerd.service: its socket goes, crictl fails, containers keep running."""
    _sh(node, "systemctl stop containerd.service")
    _wait_socket(node, False, 10)


def start_runtime(node: bed.Node) -> None:
    _sh(node, "systemctl start containerd.service")
    _wait_socket(node, True, 10)


def events(node: bed.Node) -> list[Event]:
    """The kubelet's events on ``node``, oldest first ([] before any)."""
    text = _sh(node, f"cat {EVENTS_LOG} 2>/dev/null || true")
    found = []
    for line in text.splitlines():
        ns, kind, container, pod_uid, manifest = line.split(" ", 4)
        found.append(Event(int(ns), kind, container, pod_uid, manifest))
    return found


def timeline(nodes: list[bed.Node]) -> list[tuple[str, Event]]:
    """Every node's events as ``(container name, event)``, oldest first: restart order."""
    merged = [(node.container, e) for node in nodes for e in events(node)]
    return sorted(merged, key=lambda item: item[1].ns)


def running_containers(node: bed.Node, name: str = "etcd") -> list[dict[str, Any]]:
    """``crictl inspect`` of every running container named ``name`` (newest first)."""
    ids = _sh(node, f"crictl ps -q --name '^{name}$' 2>/dev/null").split()
    if not ids:
        return []
    found = json.loads(_sh(node, f"crictl inspect {' '.join(ids)} 2>/dev/null"))
    return found if isinstance(found, list) else [found]
