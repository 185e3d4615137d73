"""Everything the run needs to know about one member, read in one remote command.

Over ssh every command is a round trip, so a run that changes nothing should cost
one per host: its certificates and kubeadm config (``read_files``, keys only as
public-key hashes), the tools and versions present (``preflight.Survey``) and whether
the chosen etcd release is still what its archive held (``release_check``), what its
etcd runs (``observe``), the state of every file, directory and unit the deploy
manages (``host_state``), the run lock (``run_lock``) and, on one member, the
cluster's health and live member list (``status.probe_script``). The parts print into
sections of one output, over the quiet channel: none of it is secret, but
certificates need not fill a ``-vvv`` log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pyinfra.api.host import Host

from etcd_cluster import scripts
from etcd_cluster.certs.certlist import ALL_CERTS, key_paths
from etcd_cluster.engine.host_state import HostState, host_state_command, parse_host_state
from etcd_cluster.engine.managed import paths_and_units, survey_overrides
from etcd_cluster.engine.observe import (
    Observation,
    observe_command,
    parse_observation,
    with_certificate_files,
)
from etcd_cluster.engine.preflight import Survey, parse_survey, survey_script
from etcd_cluster.engine.remote import RemoteFile, parse_read_files, read_files_command, run_quietly
from etcd_cluster.engine.run_lock import LockStatus, parse_status, status_command
from etcd_cluster.etcd import kubeadm_config as kc
from etcd_cluster.etcd import release, release_check
from etcd_cluster.etcd.cluster import Cluster, Member
from etcd_cluster.etcd.health import probe_script

SECTION = "@@section@@"
MEMO_DIR = "/var/cache/etcd-deploy"
"""Where the survey keeps digests of files that did not change (``scripts/remember.sh``)."""


@dataclass(frozen=True)
class MemberReport:
    files: dict[str, RemoteFile]  # PKI files and the kubeadm config, as read_files gives them
    survey: Survey
    observation: Observation
    state: HostState
    probe: tuple[str, ...]  # probe_script(with_members=True) lines; () when not asked
    lock: LockStatus = field(default_factory=LockStatus)  # the run lock here (run_lock.py)


def pki_paths(cluster: Cluster) -> tuple[list[str], set[str]]:
    """Every certificate and key path of the table, and which of them are private keys."""
    pki = cluster.settings.pki_dir
    return [p for spec in ALL_CERTS for p in (spec.cert_path(pki), spec.key_path(pki))], set(
        key_paths(pki)
    )


def survey_command(cluster: Cluster, member: Member, with_probe: bool) -> str:
    """The one command: its parts run at once (``scripts/sections.sh``), each part's output
    after a ``SECTION`` line naming it."""
    s = cluster.settings
    files, keys = pki_paths(cluster)
    paths, units = paths_and_units(cluster)
    parts = {
        "files": read_files_command([*files, s.kubeadm_config_path], private_keys=keys),
        "survey": survey_script(s, kc.manifest_path(cluster))
        + "; "
        + observe_command(cluster, member, files_read=True, binary=release.etcd_binary(s)),
        "state": host_state_command(
            paths, units, stat_only=files, overrides=survey_overrides(cluster)
        ),
        "lock": status_command(),
    }
    parts.update(release_check.survey_parts(s))
    if with_probe:
        parts["probe"] = probe_script(cluster, with_members=True)
    remember, commands = scripts.sharing_remember(list(parts.values()))
    pairs = zip(parts, commands, strict=True)
    run = scripts.command("sections", *(arg for pair in pairs for arg in pair))
    return f"{scripts.MEMO_DIR_VARIABLE}={MEMO_DIR} {remember}{run}"


def sections(lines: Sequence[str]) -> dict[str, list[str]]:
    """Split the output at the ``SECTION`` lines (lines before the first are dropped)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith(SECTION):
            current = found.setdefault(line.removeprefix(SECTION), [])
        elif current is not None:
            current.append(line)
    return found


def parse_report(
    host_name: str, cluster: Cluster, lines: Sequence[str], stderr: str = ""
) -> MemberReport:
    """The report from the command's output; raises ``RemoteReadError`` if the file read was cut."""
    parts = sections(lines)
    survey_lines = parts.get("survey", [])
    survey = parse_survey(survey_lines)
    observation = parse_observation(survey_lines)
    if "running_binary:yes" in survey_lines:  # the binary the survey asked for its version
        observation = replace(observation, running_version=survey.etcd_version)
    arch = release.release_arch(survey.machine)
    problems = release_check.survey_problems(cluster.settings, parts, arch)
    survey = replace(survey, binary_problems=tuple(problems))
    paths, units = paths_and_units(cluster)
    files, _ = pki_paths(cluster)
    read = parse_read_files(host_name, parts.get("files", []), stderr)
    return MemberReport(
        files=read,
        survey=survey,
        observation=with_certificate_files(observation, read, cluster.settings.pki_dir),
        state=parse_host_state(
            parts.get("state", []),
            asked=[*paths, *units, *files, *survey_overrides(cluster)],
        ),
        probe=tuple(parts.get("probe", [])),
        lock=parse_status(parts.get("lock", [])),
    )


def read_member(host: Host, cluster: Cluster, with_probe: bool = False) -> MemberReport:
    """Survey ``host`` in one command (see the module's docstring)."""
    member = cluster.member(host.name)
    _, stdout, stderr = run_quietly(host, survey_command(cluster, member, with_probe))
    return parse_report(host.name, cluster, stdout.splitlines(), stderr)
