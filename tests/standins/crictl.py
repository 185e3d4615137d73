#!/usr/bin/python3
"""Stand-in for ``crictl`` inside test-bed containers (installed as /usr/bin/crictl).

Like real crictl it first connects to the runtime endpoint: ``-r/--runtime-endpoint``,
else ``CONTAINER_RUNTIME_ENDPOINT``, else ``runtime-endpoint`` in /etc/crictl.yaml,
else unix:///var/run/containerd/containerd.sock (with real crictl's deprecation
warning). An endpoint nobody listens on fails like real crictl: exit 1, a fatal
message naming the endpoint and ``connect: no such file or directory`` (or
``connection refused``). The containers themselves are read from the stand-in
kubelet's records in /run/standins/containers.

Subcommands, with real crictl's output shapes: ``ps [-a] [-q] [--name RE] [--state S]
[-o json|table]`` (newest first), ``inspect ID...``, ``logs [--tail N] ID``, ``stop ID``,
``pods [--name RE] [-q] [-o json]``, ``version``. IDs may be unique prefixes.
Not modelled: images, exec, stats, sandboxes beyond a summary.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

STATE_DIR = Path("/run/standins/containers")
CONFIG = Path("/etc/crictl.yaml")
DEFAULT_ENDPOINT = "unix:///var/run/containerd/containerd.sock"
VERSION = "v1.34.0"


def fatal(message: str) -> int:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f'time="{now}" level=fatal msg={json.dumps(message)}', file=sys.stderr)
    return 1


def endpoint(flag: str) -> str:
    if flag:
        return flag
    if os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return os.environ["CONTAINER_RUNTIME_ENDPOINT"]
    try:
        configured = (yaml.safe_load(CONFIG.read_text()) or {}).get("runtime-endpoint")
    except OSError:
        configured = None
    if configured:
        return str(configured)
    print(
        'time="" level=warning msg="runtime connect using default endpoints: '
        f"[{DEFAULT_ENDPOINT}]. As the default settings are now deprecated, "
        'you should set the endpoint instead."',
        file=sys.stderr,
    )
    return DEFAULT_ENDPOINT


def connect_error(url: str) -> str:
    """'' when the runtime answers, else real crictl's error text."""
    path = url.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(path)
        except FileNotFoundError:
            reason = "no such file or directory"
        except OSError:
            reason = "connection refused"
        else:
            return ""
    return (
        f'validate service connection: validate CRI v1 runtime API for endpoint "{url}": '
        "rpc error: code = Unavailable desc = connection error: desc = "
        f'"transport: Error while dialing: dial unix {path}: connect: {reason}"'
    )


def records() -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in STATE_DIR.glob("*.json")]
    return sorted(found, key=lambda r: r["createdAt"], reverse=True)


def find(prefix: str) -> dict[str, Any] | None:
    matches = [r for r in records() if r["id"].startswith(prefix)]
    return matches[0] if len(matches) == 1 else None


def rfc3339(ns: int) -> str:
    """Go's RFC3339Nano: trailing zeros of the fraction dropped; 0 is Go's zero time."""
    if not ns:
        return "0001-01-01T00:00:00Z"
    seconds, fraction = divmod(ns, 10**9)
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def labels(r: dict[str, Any]) -> dict[str, str]:
    return {
        "io.kubernetes.container.name": r["name"],
        "io.kubernetes.pod.name": r["podName"],
        "io.kubernetes.pod.namespace": r["podNamespace"],
        "io.kubernetes.pod.uid": r["podUid"],
    }


def container_annotations(r: dict[str, Any]) -> dict[str, str]:
    return {"io.kubernetes.container.restartCount": str(r["attempt"])}


def ps_entry(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "podSandboxId": r["podSandboxId"],
        "metadata": {"name": r["name"], "attempt": r["attempt"]},
        "image": {"image": r["image"]},
        "imageRef": r["image"],
        "state": r["state"],
        "createdAt": str(r["createdAt"]),
        "labels": labels(r),
        "annotations": container_annotations(r),
    }


def inspect_entry(r: dict[str, Any]) -> dict[str, Any]:
    process_args = r["command"] + r["args"]
    return {
        "status": {
            "id": r["id"],
            "metadata": {"name": r["name"], "attempt": r["attempt"]},
            "state": r["state"],
            "createdAt": rfc3339(r["createdAt"]),
            "startedAt": rfc3339(r["startedAt"]),
            "finishedAt": rfc3339(r["finishedAt"]),
            "exitCode": r["exitCode"],
            "image": {"image": r["image"]},
            "imageRef": r["image"],
            "labels": labels(r),
            "annotations": container_annotations(r),
            "logPath": r["logPath"],
        },
        "info": {
            "pid": r["pid"] if r["state"] == "CONTAINER_RUNNING" else 0,
            "config": {
                "metadata": {"name": r["name"], "attempt": r["attempt"]},
                "image": {"image": r["image"]},
                "command": r["command"],
                "args": r["args"],
            },
            "runtimeSpec": {"process": {"args": process_args}},
        },
    }


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def option(args: list[str], *names: str) -> str | None:
    """Value of ``--name V`` / ``--name=V`` / ``-n V``; removes it from ``args``."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                value = args[index + 1]
                del args[index : index + 2]
                return value
            if arg.startswith(f"{name}="):
                del args[index]
                return arg.split("=", 1)[1]
    return None


def flag(args: list[str], *names: str) -> bool:
    hit = [arg for arg in args if arg in names]
    for arg in hit:
        args.remove(arg)
    return bool(hit)


def ps(args: list[str]) -> int:
    show_all = flag(args, "-a", "--all")
    quiet = flag(args, "-q", "--quiet")
    name = option(args, "--name")
    state = option(args, "--state", "-s")
    output = option(args, "-o", "--output") or "table"
    selected = []
    for r in records():
        if state:
            if r["state"] != f"CONTAINER_{state.upper()}":
                continue
        elif not show_all and r["state"] != "CONTAINER_RUNNING":
            continue
        if name and not re.search(name, r["name"]):
            continue
        selected.append(r)
    if quiet:
        print("\n".join(r["id"] for r in selected))
    elif output == "json":
        print(json.dumps({"containers": [ps_entry(r) for r in selected]}, indent=2))
    else:
        head = ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"]
        rows = [
            [
                r["id"][:13],
                r["image"],
                rfc3339(r["createdAt"]),
                r["state"].removeprefix("CONTAINER_").title(),
                r["name"],
                str(r["attempt"]),
                r["podSandboxId"][:13],
                r["podName"],
            ]
            for r in selected
        ]
        print(table([head, *rows]))
    return 0


def pods(args: list[str]) -> int:
    quiet = flag(args, "-q", "--quiet")
    name = option(args, "--name")
    output = option(args, "-o", "--output") or "table"
    sandboxes: dict[str, dict[str, Any]] = {}
    for r in records():
        entry = sandboxes.setdefault(
            r["podSandboxId"],
            {
                "id": r["podSandboxId"],
                "metadata": {"name": r["podName"], "namespace": r["podNamespace"]},
                "state": "SANDBOX_NOTREADY",
                "createdAt": str(r["createdAt"]),
                "labels": {"io.kubernetes.pod.uid": r["podUid"]},
            },
        )
        if r["state"] == "CONTAINER_RUNNING":
            entry["state"] = "SANDBOX_READY"
    selected = [p for p in sandboxes.values() if not name or re.search(name, p["metadata"]["name"])]
    if quiet:
        print("\n".join(p["id"] for p in selected))
    elif output == "json":
        print(json.dumps({"items": selected}, indent=2))
    else:
        rows = [[p["id"][:13], p["state"], p["metadata"]["name"]] for p in selected]
        print(table([["POD ID", "STATE", "NAME"], *rows]))
    return 0


def main(argv: list[str]) -> int:
    args = list(argv)
    if flag(args, "--version", "-v"):
        print(f"crictl version {VERSION}")
        return 0
    url = endpoint(option(args, "-r", "--runtime-endpoint") or "")
    for ignored in ("-i", "--image-endpoint", "-t", "--timeout", "-c", "--config"):
        option(args, ignored)
    flag(args, "-D", "--debug")
    if not args:
        print("usage: crictl [-r ENDPOINT] ps|inspect|logs|stop|pods|version", file=sys.stderr)
        return 2
    error = connect_error(url)
    if error:
        return fatal(error)
    command, rest = args[0], args[1:]
    if command == "ps":
        return ps(rest)
    if command == "pods":
        return pods(rest)
    if command == "version":
        print(f"Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  {VERSION}")
        print("RuntimeApiVersion:  v1")
        return 0
    if command in ("inspect", "logs", "stop"):
        tail = option(rest, "--tail")
        option(rest, "-t", "--timeout")
        found = [find(cid) for cid in rest]
        if not rest or None in found:
            missing = [cid for cid, r in zip(rest, found, strict=True) if r is None]
            return fatal(f"no such container {' '.join(missing) or '(no ID given)'}")
        chosen = [r for r in found if r is not None]
        if command == "inspect":
            entries = [inspect_entry(r) for r in chosen]
            print(json.dumps(entries[0] if len(entries) == 1 else entries, indent=2))
        elif command == "logs":
            lines = Path(chosen[0]["logPath"]).read_text(errors="replace").splitlines()
            print("\n".join(lines[-int(tail) :] if tail else lines))
        else:
            for r in chosen:
                if r["state"] == "CONTAINER_RUNNING":
                    os.kill(r["pid"], signal.SIGTERM)
                print(r["id"])
        return 0
    print(f"crictl: unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
