"""Custom pyinfra facts: one remote command each, no secrets in their output."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from etcd_cluster.observe import Observation, parse_observation
from etcd_cluster.preflight import Survey, parse_survey


class HostSurvey(FactBase[tuple[Survey, Observation]]):
    """Commands present, etcd version, unit state, manifest, data dir, and what etcd runs
    now (``observe``): one command."""

    @staticmethod
    def default() -> tuple[Survey, Observation]:
        return Survey(), Observation()

    def command(self, script: str) -> str:  # type: ignore[override]
        return script

    def process(self, output: list[str]) -> tuple[Survey, Observation]:  # type: ignore[override]
        return parse_survey(output), parse_observation(output)


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
