"""Facts of the HA control-plane guide: one remote command each, no secrets in their output."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from etcd_cluster.controlplane.preflight import KubeadmSurvey, parse_survey


class FileDigests(FactBase[dict[str, str]]):
    """``{path: "mode user group sha256"}`` for those of ``paths`` that are regular files.

    A digest says whether a host holds the same key as another without the key
    itself ever leaving the host.
    """

    default = dict

    def command(self, paths: list[str]) -> str:  # type: ignore[override]
        quoted = " ".join(shlex.quote(p) for p in paths)
        return (
            f'for f in {quoted}; do [ -f "$f" ] && '
            f'echo "$(stat -c \'%a %U %G\' "$f") $(sha256sum < "$f" | cut -d\' \' -f1) $f"; '
            "done; true"
        )

    def process(self, output: list[str]) -> dict[str, str]:  # type: ignore[override]
        result = {}
        for line in output:
            mode, user, group, sha, path = line.split(" ", 4)
            result[path] = f"{mode.zfill(3)} {user} {group} {sha}"
        return result


class KubeadmHostSurvey(FactBase[KubeadmSurvey]):
    """kubeadm/kubelet versions, runtime, swap, ports, joined, endpoint: one command."""

    default = KubeadmSurvey

    def command(self, script: str) -> str:  # type: ignore[override]
        return script

    def process(self, output: list[str]) -> KubeadmSurvey:  # type: ignore[override]
        return parse_survey(output)
