"""restore.py's pyinfra glue: the run's restore plan, and one operation per phase.

The plan is built once while pyinfra prepares (like ``plan.get_plan``, but without the
deploy's data-safety rules, which a restore deliberately overrides): every member is
surveyed and the snapshot verified on the first member before anything changes. The
phases run as separate operations, each on every member before the next begins, and
a failure on any member stops every later phase everywhere.
The snapshot travels from the first member to the others through the quiet channel
(``remote.run_quietly``: held in memory, never printed, never on the controller's disk).
A remote copy or an encrypted archive is fetched onto the first member first, while
preparing (``backup/restore_source.py``); its staged files go once the restore is over or the
first member fails. On new hosts the deploy's own steps run first (``NEW_HOST_STEPS``).
"""

from __future__ import annotations

import base64
import datetime
import posixpath
import shlex
from dataclasses import dataclass, field

import gevent
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import BaseStateCallback, State

from etcd_cluster import scripts
from etcd_cluster.backup import restore, restore_source
from etcd_cluster.backup.schedule import etcdctl, etcdutl_path
from etcd_cluster.defaults import setting
from etcd_cluster.engine.operations import probe_until
from etcd_cluster.engine.plan import cluster_of, etcd_hosts, once_per_run, use_archive_ca
from etcd_cluster.engine.polling import on, progress_while
from etcd_cluster.engine.remote import read_secret, run_quietly
from etcd_cluster.engine.run_lock import LockStatus, parse_status, status_command
from etcd_cluster.engine.run_lock_ops import check_run_lock, is_dry_run
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import health as status
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.kubeadm_config import manifest_path
from etcd_cluster.etcd.runtime import PARKING_DIR, SYSTEMD_UNIT, runtime_commands

PHASES = ("copy", "stop", "restore", "start")
# The deploy's own steps that make new hosts members of an (empty) cluster first, as
# deploy.py includes them (its run lock is the restore's; its snapshot gate, membership
# changes and ca.key strays have nothing to do on new hosts).
NEW_HOST_STEPS = (
    "preflight",
    "packages",
    "install_etcd",
    "kubelet",
    "kubeadm_config",
    "certificates",
    "expected_files",
    "start_etcd",
    "health",
    "control_plane",
)


@dataclass
class RestorePlan:
    cluster: Cluster
    snapshot: str  # on the first member (in the staging dir when fetched)
    token: str
    aside: str
    inner_aside: str  # used instead of ``aside`` where the data dir is a mount point
    bump: int
    surveys: dict[str, restore.MemberSurvey]
    failed: list[str] = field(default_factory=list)  # hosts whose phase failed
    new_hosts: bool = False  # no member held etcd data: the deploy's steps come first
    stage: str = ""  # the first member's staging dir of a fetched snapshot ("" none)

    def source(self, host_name: str) -> str:
        """The snapshot file this member restores from."""
        if host_name == self.cluster.first.host:
            return self.snapshot
        return restore.staged_path(self.cluster.settings.backup_dir, self.token)


_plans: dict[int, RestorePlan] = {}
_refused: dict[int, DeployInputError] = {}


def get_restore_plan(state: State) -> RestorePlan:
    """The restore plan for this run (built on first use, while pyinfra prepares)."""
    return once_per_run(_plans, state, _build_once)


def _build_once(state: State) -> RestorePlan:
    """pyinfra prepares every host at once: a refusal is remembered, so the other hosts
    repeat it instead of fetching (and decrypting) the archive again."""
    if id(state) in _refused:
        raise _refused[id(state)]
    try:
        return _build(state)
    except DeployInputError as error:
        _refused[id(state)] = error
        raise


def _fetch(first: Host, source: restore_source.Source, stage: str) -> restore_source.Fetched:
    """Fetch (and decrypt) the snapshot onto the first member; the secrets it needs travel
    through the quiet channel and are gone from the host when this returns."""
    rclone = identity = None
    if source.remote:
        rclone = restore_source.operator_file(
            "etcd_backup_rclone_config",
            setting(first, "etcd_backup_rclone_config"),
            f"etcd_restore_snapshot={source.location} (an rclone remote)",
        )
    if source.archive:
        identity = restore_source.operator_file(
            "etcd_restore_age_identity",
            setting(first, "etcd_restore_age_identity"),
            f"etcd_restore_snapshot={source.location} (an age-encrypted archive)",
        )
    command = scripts.command(
        "restore_fetch", "fetch", source.location, stage, restore_source.SECRETS_PARENT
    )
    with progress_while(f"fetching {source.location}", say=on(first)):
        ok, stdout, stderr = run_quietly(
            first, command, stdin=restore_source.secrets_payload(rclone, identity)
        )
    if not ok:
        raise DeployInputError(f"host {first.name}: {stderr.strip()}")
    return restore_source.parse_fetched(stdout.splitlines())


def _discard(target: Host, stage: str) -> None:
    """Remove the fetched snapshot and PKI from the first member (the restore is over)."""
    ok, _, stderr = run_quietly(target, scripts.command("restore_fetch", "discard", stage))
    if not ok:
        target.log_styled(f"could not remove {stage}: {stderr.strip()}", fg="red")


class _DiscardOnFailure(BaseStateCallback):
    """The first member failed (no later operation runs there): remove the staged files."""

    def __init__(self, first: str, stage: str) -> None:
        self.first, self.stage = first, stage

    def operation_host_error(  # type: ignore[override]
        self, state: State, host: Host, op_hash, retry_count: int = 0, max_retries: int = 0
    ) -> None:
        if host.name == self.first:
            _discard(host, self.stage)


def _build(state: State) -> RestorePlan:
    cluster = cluster_of(state)
    hosts = {h.name: h for h in etcd_hosts(state)}
    first = hosts[cluster.first.host]
    source = restore_source.parse_source(setting(first, "etcd_restore_snapshot"))
    for member in cluster.members:
        if not hosts[member.host].connected:
            raise DeployInputError(
                f"host {member.host} (etcd member {member.name}) is unreachable or left out by "
                "--limit: a restore rebuilds every member"
            )
    s = cluster.settings
    if not source.staged:
        return _plan(state, cluster, hosts, source.location)
    stage = restore_source.stage_dir(s.backup_dir)
    fetched = _fetch(first, source, stage)
    try:
        plan = _plan(state, cluster, hosts, fetched.snapshot, source, fetched)
    except BaseException:
        _discard(first, stage)
        raise
    if is_dry_run():
        _discard(first, stage)
    else:
        plan.stage = stage
        state.add_callback_handler(_DiscardOnFailure(first.name, stage))
    return plan


def _plan(
    state: State,
    cluster: Cluster,
    hosts: dict[str, Host],
    snapshot: str,
    source: restore_source.Source | None = None,
    fetched: restore_source.Fetched | None = None,
) -> RestorePlan:
    """Survey every member and the snapshot, print the plan, refuse what cannot work."""
    s = cluster.settings
    first = hosts[cluster.first.host]

    def survey(target: Host) -> tuple[restore.MemberSurvey, LockStatus]:
        path = snapshot if target is first else ""
        command = scripts.command(
            "restore_member", "survey", path, etcdctl(s), etcdutl_path(s), s.data_dir
        )
        ok, stdout, stderr = run_quietly(target, f"{command} && {status_command()}")
        if not ok:
            raise DeployInputError(f"host {target.name}: restore survey failed: {stderr.strip()}")
        lines = stdout.splitlines()
        return restore.parse_member_survey(lines), parse_status(lines)

    def live() -> list[status.MemberStatus]:
        _, stdout, _ = run_quietly(first, status.probe_script(cluster))
        return status.parse_probe(cluster, stdout.splitlines())

    jobs = {m.host: gevent.spawn(survey, hosts[m.host]) for m in cluster.members}
    probe = gevent.spawn(live)
    gevent.joinall([*jobs.values(), probe], raise_error=True)
    found = {name: job.value[0] for name, job in jobs.items()}
    locks = {name: job.value[1] for name, job in jobs.items()}
    check_run_lock(state, "restore.py", [m.host for m in cluster.members], locks, s)
    new_hosts = restore_source.new_hosts([f.member_data for f in found.values()])
    surveys = {n: restore.with_release_tool(f, s, new_hosts) for n, f in found.items()}
    refusals = restore.refusals(cluster, snapshot, surveys, new_hosts)
    if refusals:
        raise DeployInputError("; ".join(refusals))
    notes = []
    if source and fetched:
        notes.append(restore_source.describe(source, fetched))
        notes += restore_source.pki_lines(source, fetched, new_hosts, first.name)
        if new_hosts and fetched.ca_key:  # into memory for the deploy's certificate step
            pki = posixpath.join(posixpath.dirname(snapshot), "pki/etcd")
            use_archive_ca(
                state,
                read_secret(first, f"{pki}/ca.crt"),
                read_secret(first, f"{pki}/ca.key"),
            )
    now = datetime.datetime.now(datetime.UTC)
    plan = RestorePlan(
        cluster=cluster,
        snapshot=snapshot,
        token=restore.new_token(now),
        aside=restore.aside_path(s.data_dir, now),
        inner_aside=restore.inner_aside_path(s.data_dir, now),
        bump=restore.bump_revision(surveys),
        surveys=surveys,
        new_hosts=new_hosts,
    )
    lines = restore.plan_lines(
        cluster, snapshot, surveys, plan.token, plan.aside, plan.inner_aside, new_hosts
    )
    lines[1:1] = restore.live_lines(probe.value, surveys[first.name].status, new_hosts)
    lines[1:1] = notes
    for line in lines:
        logger.warning(f"--> etcd restore: {line}")
    refusal = restore.confirm_refusal(setting(first, "etcd_restore_confirm"))
    if refusal:
        raise DeployInputError(refusal)
    return plan


def _copy(state: State, target: Host) -> tuple[bool, str]:
    plan = get_restore_plan(state)
    first = state.inventory.get_host(plan.cluster.first.host)
    ok, stdout, stderr = run_quietly(first, f"base64 -w0 {shlex.quote(plan.snapshot)}")
    if not ok:
        return False, f"reading {plan.snapshot} on {first.name} failed: {stderr.strip()}"
    data = base64.b64decode(stdout.strip())
    want = plan.surveys[first.name].snapshot_sha256
    command = scripts.command("restore_member", "receive", plan.source(target.name), want)
    ok, _, stderr = run_quietly(target, command, stdin=data)
    return ok, stderr.strip()


def _phase_command(plan: RestorePlan, target: Host, phase: str) -> str:
    s = plan.cluster.settings
    member = plan.cluster.member(target.name)
    survey = plan.surveys[target.name]
    if phase == "stop":
        return scripts.command(
            "restore_member",
            "stop",
            s.runtime,
            SYSTEMD_UNIT,
            manifest_path(plan.cluster),
            PARKING_DIR,
            s.kubelet_container_runtime_endpoint,
            s.health_timeout,
        )
    if phase == "restore":
        return scripts.command(
            "restore_member",
            "restore",
            plan.source(target.name),
            s.data_dir,
            plan.aside,
            survey.kind,
            survey.tool,
            member.name,
            member.peer_url(s.peer_port),
            plan.cluster.initial_cluster,
            plan.token,
            plan.bump,
            plan.inner_aside,
        )
    return scripts.command(
        "restore_member", "start", s.runtime, SYSTEMD_UNIT, manifest_path(plan.cluster), PARKING_DIR
    )


def _stopped(host: Host, plan: RestorePlan, step: str) -> bool:
    """A step after a failed one does nothing, anywhere."""
    message = f"restore stopped before {step}: it failed on {', '.join(plan.failed)}"
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


def _failed_elsewhere(state: State, plan: RestorePlan) -> list[str]:
    """Hosts whose phase failed, or that failed an earlier step (new hosts: the deploy's)."""
    for member in plan.cluster.members:
        gone = state.inventory.get_host(member.host) in state.failed_hosts
        if gone and member.host not in plan.failed:
            plan.failed.append(member.host)
    return plan.failed


def _run_phase(state: State, host: Host, phase: str) -> bool:
    plan = get_restore_plan(state)
    if _failed_elsewhere(state, plan):
        return _stopped(host, plan, phase)
    try:
        if phase == "copy":
            ok, error = _copy(state, host)
        else:
            with progress_while(f"the restore's {phase} step", say=on(host)):
                ok, stdout, error = run_quietly(host, _phase_command(plan, host, phase))
            for line in stdout.splitlines():
                host.log_styled(line, log_func=logger.info)
    except Exception as exception:  # any failure here must stop the later phases everywhere
        ok, error = False, f"{type(exception).__name__}: {exception}"
    if ok and phase == "restore" and host.name != plan.cluster.first.host:
        run_quietly(host, f"rm -f -- {shlex.quote(plan.source(host.name))}")
    if not ok:
        plan.failed.append(host.name)
        host.log_styled(f"restore {phase} failed: {error.strip()}", fg="red", log_func=logger.error)
    return ok


@operation(is_idempotent=False)
def restore_phase(phase: str):
    """One phase of the restore on this member (see ``PHASES``).

    + phase: ``copy`` (the snapshot to the other members), ``stop``, ``restore`` (data dir
      aside, snapshot restored), ``start``
    """
    plan = get_restore_plan(host.state)
    if phase == "copy" and host.name == plan.cluster.first.host:
        host.noop("the snapshot is here")
        return
    yield FunctionCommand(_run_phase, (phase,), {})


def _gate(state: State, host: Host) -> bool:
    plan = get_restore_plan(state)
    settings = plan.cluster.settings
    if _failed_elsewhere(state, plan):
        return _stopped(host, plan, "the health gate")
    found, statuses = probe_until(
        host,
        plan.cluster,
        status.problems,
        settings.health_timeout,
        "the restored cluster to report healthy",
    )
    logger.info(f"--> etcd cluster status:\n{status.format_table(statuses, {})}")
    if found:
        _, stdout, _ = run_quietly(host, runtime_commands(plan.cluster).logs)
        host.log_styled(
            f"restored cluster not healthy after {settings.health_timeout}s: "
            + "; ".join(found)
            + "\nlast log lines of etcd here:\n    "
            + "\n    ".join(stdout.splitlines()[-settings.log_lines :]),
            fg="red",
            log_func=logger.error,
        )
        return False
    host.log_styled(
        f"restored from {plan.snapshot}: every member healthy, one leader", log_func=logger.info
    )
    if plan.stage:
        _discard(host, plan.stage)
    if not plan.bump:
        logger.warning(
            "--> etcd restore: revisions were not bumped: restart every kube-apiserver now"
        )
    return True


@operation(is_idempotent=False)
def restored_cluster_healthy():
    """Wait (bounded) until the restored cluster is healthy with one leader (first member)."""
    plan = get_restore_plan(host.state)
    if host.name != plan.cluster.first.host:
        host.noop("checked from the first member")
        return
    yield FunctionCommand(_gate, (), {})
