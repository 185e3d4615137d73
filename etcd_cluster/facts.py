"""Custom pyinfra facts: one remote command each, no secrets in their output."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from etcd_cluster.flags import parse_version


class PresentCommands(FactBase[list[str]]):
    """Which of the given commands are on PATH (plus ``@socket`` if ``socket`` exists)."""

    default = list

    def command(self, names: list[str], socket: str = "") -> str:  # type: ignore[override]
        checks = [
            f"command -v {shlex.quote(n)} >/dev/null 2>&1 && echo {shlex.quote(n)}" for n in names
        ]
        if socket:
            checks.append(f"[ -S {shlex.quote(socket)} ] && echo @socket")
        return "; ".join(checks) + "; true"

    def process(self, output: list[str]) -> list[str]:  # type: ignore[override]
        return [line.strip() for line in output if line.strip()]


class EtcdVersion(FactBase[str]):
    """etcd's version: from the binary if present, else the package's candidate version."""

    default = str

    def command(self, binary: str, package: str = "") -> str:  # type: ignore[override]
        show = f"apt-cache show --no-all-versions {shlex.quote(package)} 2>/dev/null"
        fallback = f"{show} | grep '^Version:'" if package else "true"
        return (
            f"if [ -x {shlex.quote(binary)} ]; then {shlex.quote(binary)} --version 2>/dev/null "
            f"| head -n 1; else {fallback}; fi; true"
        )

    def process(self, output: list[str]) -> str:  # type: ignore[override]
        version = parse_version(" ".join(output))
        return ".".join(str(part) for part in version) if version else ""


class FileModes(FactBase[dict[str, str]]):
    """``{path: "mode user group"}`` for those of ``paths`` that are regular files."""

    default = dict

    def command(self, paths: list[str]) -> str:  # type: ignore[override]
        quoted = " ".join(shlex.quote(p) for p in paths)
        return f'for f in {quoted}; do [ -f "$f" ] && stat -c \'%n %a %U %G\' "$f"; done; true'

    def process(self, output: list[str]) -> dict[str, str]:  # type: ignore[override]
        result = {}
        for line in output:
            path, mode, user, group = line.rsplit(" ", 3)
            result[path] = f"{mode.zfill(3)} {user} {group}"
        return result


class UnitActive(FactBase[bool]):
    """Whether a systemd unit is active now."""

    default = bool

    def command(self, unit: str) -> str:  # type: ignore[override]
        return f"systemctl is-active {shlex.quote(unit)} 2>/dev/null || true"

    def process(self, output: list[str]) -> bool:  # type: ignore[override]
        return bool(output) and output[0].strip() == "active"
