#!/usr/bin/python3
"""Stand-in for ``kubelet`` inside test-bed containers (installed as /usr/bin/kubelet).

``kubelet --version`` prints ``Kubernetes <version>`` (/etc/standins/kubeadm-version).
``kubelet --config=PATH`` runs the static pods of ``staticPodPath`` once a second,
modelling the real kubelet (pkg/kubelet/config/file.go, file_linux.go, config.go):

- Every regular file in staticPodPath whose name does not start with "." is a pod
  manifest. Pods are keyed by namespace/name, the name suffixed with the node name
  (``etcd-<hostname>``). So a second file with the SAME pod name is not a second pod:
  like the real file source, the file seen last takes the key (a copy changes the
  pod's UID, so the running container is replaced), and deleting a file deletes its
  key's pod even when another file holds the same name, until the full re-list every
  ``fileCheckFrequency`` (default 20s) reads the directory again (sorted, the later
  file winning). A file with another pod name is a second pod.
- The pod UID is a hash of the parsed pod, the node and the file path (applyDefaults):
  a changed manifest, or the same one under another name, is a new pod; comments and
  formatting are not.
- A pod whose UID is no longer wanted is stopped (SIGTERM, SIGKILL after 10 s) after
  /etc/standins/kubelet-stop-delay seconds (default 1) before a new pod starts after
  /etc/standins/kubelet-start-delay seconds (default 2): one static pod per full name.
- A container that exits is restarted as a new container (attempt + 1) after 1 s,
  doubling up to 30 s while it keeps failing (a short CrashLoopBackOff).
- The "container" runs the pod's first container's command with ``etcd`` replaced by
  /usr/bin/etcd, in the host's namespaces (hostNetwork, hostPath volumes at the same
  paths), in its own systemd scope so that stopping kubelet leaves it running. On
  SIGTERM kubelet exits and leaves containers running; on start it adopts them again.
- The container runtime socket (containerRuntimeEndpoint) must exist at start (exit 1
  otherwise); while it is gone containers keep running but none is started or stopped.

State for crictl: /run/standins/containers/<id>.json; events, one line each, appended
to /run/standins/events.log: ``<epoch ns> <start|stop|exit|restart> <id> <pod uid>
<manifest>``, written once the event has happened (``stop`` when the process is gone).
Not modelled: probes, resources, images, mirror pods, more than one container per pod.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STANDINS = Path("/etc/standins")
STATE_DIR = Path("/run/standins/containers")
EVENTS = Path("/run/standins/events.log")
ETCD = "/usr/bin/etcd"
DEFAULT_VERSION = "v1.34.1"
STOP_GRACE_SECONDS = 10
MAX_BACKOFF_SECONDS = 30


def log(message: str) -> None:
    print(f"kubelet-standin: {message}", flush=True)


def setting(name: str, default: float) -> float:
    try:
        return float((STANDINS / name).read_text().strip())
    except (OSError, ValueError):
        return default


def now_ns() -> int:
    return time.time_ns()


def event(kind: str, record: dict[str, Any]) -> None:
    line = f"{now_ns()} {kind} {record['id']} {record['podUid']} {record['manifest']}\n"
    with EVENTS.open("a") as handle:
        handle.write(line)
    log(line.strip())


def save(record: dict[str, Any]) -> None:
    staged = STATE_DIR / f".{record['id']}.tmp"
    staged.write_text(json.dumps(record, indent=1))
    os.replace(staged, STATE_DIR / f"{record['id']}.json")


def proc_start(pid: int) -> str:
    """Start time of ``pid`` (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return "" if fields[0] == "Z" else fields[19]


def duration_seconds(text: str, default: float) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * units[unit]
    return default


@dataclass
class Pod:
    uid: str
    key: str  # namespace/name
    name: str
    namespace: str
    path: str
    spec: dict[str, Any]


class FileSource:
    """The static pod directory as kubelet's file source sees it (see module docstring)."""

    def __init__(self, directory: Path, node: str, resync: float) -> None:
        self.directory, self.node, self.resync = directory, node, resync
        self.store: dict[str, Pod] = {}
        self.file_keys: dict[str, str] = {}
        self.seen: dict[str, tuple[int, int, int]] = {}
        self.last_relist = -1e9

    def _files(self) -> dict[str, tuple[int, int, int]]:
        found = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
                if not entry.name.startswith(".") and entry.is_file():
                    st = entry.stat()
                    found[entry.path] = (st.st_ino, st.st_mtime_ns, st.st_size)
        return found

    def _read(self, path: str) -> Pod | None:
        try:
            raw = yaml.safe_load(Path(path).read_text())
            name = raw["metadata"]["name"]
            namespace = raw["metadata"].get("namespace") or "default"
            if not raw["spec"]["containers"][0]["command"]:
                raise KeyError("command")
        except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as error:
            log(f"Can't process manifest file {path!r}: {error!r}")
            return None
        canonical = json.dumps(raw, sort_keys=True) + f"host:{self.node}" + f"file:{path}"
        uid = hashlib.md5(canonical.encode()).hexdigest()
        full = f"{name}-{self.node}"
        return Pod(uid, f"{namespace}/{full}", full, namespace, path, raw["spec"])

    def _add(self, path: str) -> None:
        pod = self._read(path)
        if pod:
            self.store[pod.key] = pod
            self.file_keys[path] = pod.key

    def poll(self) -> dict[str, Pod]:
        """Pods wanted now, by UID."""
        files = self._files()
        if time.monotonic() - self.last_relist >= self.resync:
            self.last_relist = time.monotonic()
            self.store, self.file_keys = {}, {}
            for path in files:
                self._add(path)
        else:
            for path in sorted(set(self.seen) - set(files)):
                key = self.file_keys.pop(path, None)
                if key:
                    self.store.pop(key, None)
            for path, signature in files.items():
                if self.seen.get(path) != signature:
                    self._add(path)
        self.seen = files
        return {pod.uid: pod for pod in self.store.values()}


class Kubelet:
    def __init__(self, config: dict[str, Any]) -> None:
        self.node = socket.gethostname().lower()
        self.socket_path = str(config.get("containerRuntimeEndpoint", "")).removeprefix("unix://")
        resync = duration_seconds(str(config.get("fileCheckFrequency", "20s")), 20)
        self.source = FileSource(Path(config.get("staticPodPath", "")), self.node, resync)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.failures: dict[str, int] = {}  # pod uid -> quick exits in a row
        self.running: dict[str, dict[str, Any]] = {}  # pod uid -> running record
        self.exited: dict[str, dict[str, Any]] = {}  # pod uid -> last exited record
        self.runtime_down = False
        self._adopt()

    def _adopt(self) -> None:
        for path in sorted(STATE_DIR.glob("*.json")):
            record = json.loads(path.read_text())
            if record["state"] != "CONTAINER_RUNNING":
                self.exited[record["podUid"]] = record
            elif proc_start(record["pid"]) == record["procStart"]:
                self.running[record["podUid"]] = record
                log(f"adopted running container {record['id']}")
            else:
                self._finish(record, 255)

    def runtime_up(self) -> bool:
        with socket.socket(socket.AF_UNIX) as client:
            try:
                client.connect(self.socket_path)
            except OSError:
                return False
        return True

    def _finish(self, record: dict[str, Any], code: int) -> None:
        code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal, as runc
        record.update(state="CONTAINER_EXITED", exitCode=code, finishedAt=now_ns())
        save(record)
        self.children.pop(record["id"], None)

    def _exit_code(self, record: dict[str, Any]) -> int | None:
        child = self.children.get(record["id"])
        if child is not None:
            return child.poll()
        return None if proc_start(record["pid"]) == record["procStart"] else 255

    def stop(self, record: dict[str, Any]) -> None:
        pid = record["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self._exit_code(record) is None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        self._finish(record, self._exit_code(record) or 0)
        event("stop", record)

    def start(self, pod: Pod, attempt: int) -> dict[str, Any]:
        container = pod.spec["containers"][0]
        command = list(container["command"]) + list(container.get("args") or [])
        argv = [ETCD if command[0] == "etcd" else command[0], *command[1:]]
        for volume in pod.spec.get("volumes") or []:
            host_path = volume.get("hostPath") or {}
            if host_path.get("type") == "DirectoryOrCreate":
                os.makedirs(host_path["path"], mode=0o755, exist_ok=True)
        cid = secrets.token_hex(32)
        log_dir = Path(f"/var/log/pods/{pod.namespace}_{pod.name}_{pod.uid}/{container['name']}")
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{attempt}.log"
        scope = ["systemd-run", "--scope", "--quiet", f"--unit=standin-container-{cid[:12]}"]
        with log_path.open("ab") as output:
            child = subprocess.Popen(
                scope + argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        created = now_ns()
        record = {
            "id": cid,
            "podSandboxId": hashlib.sha256(pod.uid.encode()).hexdigest(),
            "podUid": pod.uid,
            "podName": pod.name,
            "podNamespace": pod.namespace,
            "name": container["name"],
            "attempt": attempt,
            "image": container.get("image", ""),
            "command": list(container["command"]),
            "args": list(container.get("args") or []),
            "argv": argv,
            "pid": child.pid,
            "procStart": "",
            "state": "CONTAINER_RUNNING",
            "createdAt": created,
            "startedAt": created,
            "finishedAt": 0,
            "exitCode": 0,
            "logPath": str(log_path),
            "manifest": pod.path,
        }
        record["procStart"] = proc_start(child.pid)  # unchanged by systemd-run's exec
        self.children[cid] = child
        save(record)
        return record

    def sync(self) -> None:
        wanted = self.source.poll()
        for uid, record in list(self.running.items()):
            code = self._exit_code(record)
            if code is not None:
                self._finish(record, code)
                event("exit", record)
                self.exited[uid] = self.running.pop(uid)
                quick = now_ns() - record["startedAt"] < 10 * 10**9
                self.failures[uid] = self.failures.get(uid, 0) + 1 if quick else 1
        if not self.runtime_up():
            if not self.runtime_down:
                log(f"container runtime is down ({self.socket_path}): not syncing pods")
            self.runtime_down = True
            return
        self.runtime_down = False
        for uid, record in list(self.running.items()):
            if uid not in wanted:
                time.sleep(setting("kubelet-stop-delay", 1))
                self.stop(record)
                del self.running[uid]
        for uid, pod in wanted.items():
            if uid in self.running:
                continue
            if uid in self.exited:
                failures = self.failures.get(uid, 1)
                time.sleep(min(2 ** (failures - 1), MAX_BACKOFF_SECONDS))
                attempt = self.exited.pop(uid)["attempt"] + 1
                self.running[uid] = self.start(pod, attempt)
                event("restart", self.running[uid])
            else:
                time.sleep(setting("kubelet-start-delay", 2))
                self.running[uid] = self.start(pod, 0)
                event("start", self.running[uid])


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        try:
            version = (STANDINS / "kubeadm-version").read_text().strip() or DEFAULT_VERSION
        except OSError:
            version = DEFAULT_VERSION
        print(f"Kubernetes {version}")
        return 0
    config_path = ""
    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
        elif arg == "--config" and index + 1 < len(argv):
            config_path = argv[index + 1]
    if not config_path:
        log("no --config given: nothing to run (kubeadm's packaging restarts kubelet until then)")
        return 1
    config = yaml.safe_load(Path(config_path).read_text()) or {}
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    kubelet = Kubelet(config)
    if not kubelet.runtime_up():
        endpoint = config.get("containerRuntimeEndpoint")
        log(
            f'failed to run Kubelet: validate CRI v1 runtime API for endpoint "{endpoint}": '
            f"dial unix {kubelet.socket_path}: connect: no such file or directory"
        )
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # containers keep running
    log(f"watching {kubelet.source.directory} as node {kubelet.node}")
    while True:
        kubelet.sync()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
