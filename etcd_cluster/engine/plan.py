"""The run's shared picture of the cluster, computed once while pyinfra prepares.

pyinfra executes deploy files once per host with fresh globals; this imported
module is what they share. The first host to ask builds the plan: it validates the
inventory and data, reads every member's certificates, key fingerprints and kubeadm
config over the quiet channel, observes what each member's etcd runs, applies the
data-safety rules and decides each member's certificates, all before any operation
runs. So bad input stops the run before a
host changes, and ``--dry`` shows the real plan.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import gevent
from pyinfra import logger
from pyinfra.api.exceptions import NoGroupError
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State

from etcd_cluster.certs import ca_key, keys_ahead, pki
from etcd_cluster.certs.certlist import ETCD_CA
from etcd_cluster.certs.plan import (
    MemberPlan,
    choose_ca,
    control_plane_files,
    member_missing_keys,
    missing_keys,
    plan_member,
    trusted_ca,
)
from etcd_cluster.defaults import getter, setting
from etcd_cluster.engine.host_state import HostState
from etcd_cluster.engine.limit import limit_refusals, members_inside, outside
from etcd_cluster.engine.managed import (
    MemberItems,
    etcd_release,
    member_items,
    override_warnings,
    survey_holds,
)
from etcd_cluster.engine.observe import Observation
from etcd_cluster.engine.preflight import Survey
from etcd_cluster.engine.pyinfra_compat import real_state
from etcd_cluster.engine.remote import RemoteFile, Wanted, read_files, read_secret, run_quietly
from etcd_cluster.engine.survey import MemberReport, read_member
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import release
from etcd_cluster.etcd.cluster import Cluster, MemberInput, build_cluster, require_members
from etcd_cluster.etcd.defrag import Maintenance, maintenance, nospace_refusals
from etcd_cluster.etcd.flags import version_text
from etcd_cluster.etcd.health import parse_probe, probe_script
from etcd_cluster.etcd.health import problems as status_problems
from etcd_cluster.etcd.quorum import ClusterView, parse_view, unstarted_peer_urls
from etcd_cluster.etcd.safety import data_dir_refusals, recorded_bootstrap
from etcd_cluster.membership.changes import MembershipPlan, plan_membership
from etcd_cluster.setting_checks import check_data
from etcd_cluster.settings import refuse_unsupported_flags, settings_from_data

ETCD_GROUP = "etcd"
CONTROL_PLANE_GROUP = "control_plane"


@dataclass
class Plan:
    """Everything the tasks need to know about the cluster for this run."""

    cluster: Cluster
    members: dict[str, MemberPlan]  # by host name
    control_plane_files: dict[str, Wanted]
    ca_created: bool
    surveys: dict[str, Survey]  # by host name, read before any change
    observations: dict[str, Observation]  # by host name: what etcd ran before any change
    # by host name: the deploy's files, directories and units before any change
    host_states: dict[str, HostState] = field(default_factory=dict)
    # the cluster probe the survey's live view came from (status.probe_script lines)
    survey_probe: tuple[str, ...] = ()
    items: dict[str, MemberItems] = field(default_factory=dict)  # by host: managed.py
    change_reasons: list[str] | None = None  # why this run may change something (quiet.py)
    cluster_healthy: bool = field(default=False)  # set once step 8 passed, at execution
    restarted: set[str] = field(default_factory=set)  # hosts restarted in this run
    # What each member's etcd ran once this run's files were written (at execution).
    executed_observations: dict[str, Observation] = field(default_factory=dict)
    upgrading: list[str] = field(default_factory=list)  # hosts running an older etcd
    membership: MembershipPlan = field(default_factory=MembershipPlan)
    live_names: set[str] = field(default_factory=set)  # member names etcd lists now
    removals_done: bool = False  # set at execution once the plan's removals went through
    # hosts but the first member that hold a ca.key: removed as the run's last act (ca_key.py)
    ca_key_strays: tuple[str, ...] = ()
    snapshot_taken: bool = False  # set at execution once this run's verified snapshot exists
    snapshot_error: str = ""  # set at execution when it could not be made: "host: reason"
    # defragmentation by rule and NOSPACE recovery, from the survey's probe (defrag.py)
    maintenance: Maintenance = field(default_factory=Maintenance)
    defragmented: set[str] = field(default_factory=set)  # hosts defragmented in this run
    # the member that prints the status table: the first member, else the first inside --limit
    reporter: str = ""
    # by host: the expected files' modes, read back by the write of its certificates
    # (paths asked, {path: "mode user group"}), for step 6 (at execution)
    modes_seen: dict[str, tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=dict)
    # by host, at execution: what this run's own writes (converge, certificates) put in
    # place, and how many of the host's changed operations they were (converge.py)
    written: dict[str, set[str]] = field(default_factory=dict)
    known_changes: dict[str, int] = field(default_factory=dict)
    # by host: the operation that started its etcd (step 7); at execution, the cluster
    # probe one member took in that same command, once its etcd had started (the last to
    # start): step 8's answer while no later operation changed any host (start_health)
    start_ops: dict[str, OperationMeta] = field(default_factory=dict)
    start_probe: tuple[str, ...] = ()

    def note_written(self, host_name: str, targets: Iterable[str]) -> None:
        """One operation of this run wrote ``targets`` on the host, and nothing else."""
        self.written.setdefault(host_name, set()).update(targets)
        self.known_changes[host_name] = self.known_changes.get(host_name, 0) + 1

    def etcd_release(self, host: Host) -> tuple[str, str]:
        """The etcd binary the unit runs on ``host`` and its version (systemd runtime)."""
        return etcd_release(self.cluster.settings, self.surveys[host.name])

    def survey_holds(self, host_name: str) -> bool:
        """Whether the survey of ``host_name`` still says how its managed items are."""
        return survey_holds(self.cluster.settings, self.surveys[host_name])

    def starts_new_cluster(self) -> bool:
        """Whether this run starts the whole cluster for the first time: every member in
        the run (one outside ``--limit`` is taken to hold data), none holding data, none
        joining an existing cluster."""
        return (
            set(self.surveys) == {member.host for member in self.cluster.members}
            and not any(survey.has_data for survey in self.surveys.values())
            and not self.membership.joining
        )

    def one_upload(self, host_name: str) -> bool:
        """Whether this member's certificates, keys and kubeadm config go in the command
        that first starts its etcd (steps 2 to 7 in one round trip, step 6 checked in it
        before the start): a new cluster on the systemd runtime, the survey still
        holding, files to write, and etcd not running here."""
        items = self.items.get(host_name)
        surveyed = self.host_states.get(host_name)
        service = items.etcd_service if items else None
        return (
            self.cluster.settings.runtime == "systemd"
            and service is not None
            and surveyed is not None
            and not service.in_place(surveyed)
            and self.survey_holds(host_name)
            and self.starts_new_cluster()
            and bool(self.members[host_name].pending())
        )

    def for_host(self, host: Host) -> MemberPlan:
        return self.members[host.name]

    def expiries(self) -> dict[str, datetime.datetime]:
        return {name: plan.earliest_expiry() for name, plan in self.members.items()}


_plans: dict[int, Plan] = {}
_lock = threading.RLock()  # a plan's build may ask for another plan
T = TypeVar("T")


def group_hosts(state: State, group: str) -> list[Host]:
    try:
        return list(state.inventory.get_group(group))
    except NoGroupError:  # pyinfra drops empty groups
        return []


def etcd_hosts(state: State) -> list[Host]:
    return group_hosts(state, ETCD_GROUP)


def is_member(host: Host) -> bool:
    return ETCD_GROUP in host.groups


def is_control_plane(host: Host) -> bool:
    return CONTROL_PLANE_GROUP in host.groups and not is_member(host)


def once_per_run(cache: dict[int, T], state: State, build: Callable[[State], T]) -> T:
    """``build(state)``, once per run: later calls get the same object.

    Deploy code sees pyinfra's ``state`` context proxy, operations see the real
    ``State``: both must find the same object, so the proxy is looked through first.
    """
    real = real_state(state)
    with _lock:
        if id(real) not in cache:
            cache[id(real)] = build(real)
        return cache[id(real)]


_archive_cas: dict[int, tuple[bytes, bytes]] = {}


def use_archive_ca(state: State, cert_pem: bytes, key_pem: bytes) -> None:
    """restore.py onto new hosts: the backup archive's etcd CA (held in memory only) is the
    CA this run puts on the first member and signs with, as an operator's CA would be."""
    _archive_cas[id(real_state(state))] = (cert_pem, key_pem)


def get_plan(state: State) -> Plan:
    """The plan for this run (built on first use)."""
    return once_per_run(_plans, state, _build)


def cluster_of(state: State) -> Cluster:
    """Inventory and data checks only, without touching any host."""
    hosts = etcd_hosts(state)
    require_members(hosts)  # before settings, which come from the first member
    for h in hosts:  # on any host: the flags the deploy cannot honour, named where they are set
        refuse_unsupported_flags(h.name, setting(h, "etcd_extra_args"))
    check_data(state)
    settings = settings_from_data(getter(hosts[0]))
    inputs = [
        MemberInput(
            host=h.name,
            name=setting(h, "etcd_name"),
            address=setting(h, "etcd_address"),
            server_sans=setting(h, "etcd_server_cert_sans"),
            peer_sans=setting(h, "etcd_peer_cert_sans"),
        )
        for h in hosts
    ]
    return build_cluster(inputs, settings)


def _build(state: State) -> Plan:
    cluster = cluster_of(state)
    for warning in cluster.warnings:
        logger.warning(f"--> etcd: {warning}")
    hosts = {h.name: h for h in etcd_hosts(state)}
    s = cluster.settings
    # --limit: the members left out are read only through the cluster's API (limit.py).
    inside = [m.host for m in members_inside(cluster, lambda h: state.is_host_in_limit(hosts[h]))]
    for member in cluster.members:
        if member.host in inside and not hosts[member.host].connected:
            raise DeployInputError(
                f"host {member.host} (etcd member {member.name}) is unreachable: the deploy "
                "reads every member it changes before changing any"
            )

    with keys_ahead.made_ahead(pki.new_key, s.key_algorithm) as ahead:
        return _plan_from_surveys(state, cluster, hosts, inside, ahead)


def _plan_from_surveys(
    state: State,
    cluster: Cluster,
    hosts: dict[str, Host],
    inside: list[str],
    ahead: keys_ahead.KeysAhead,
) -> Plan:
    """The plan from every member's survey (one command each, all at once); the keys it
    needs made in ``ahead``'s threads as soon as a survey shows them missing."""
    s = cluster.settings
    # All members at once (pyinfra runs on gevent): one command each, one round trip in
    # all; the first member (else the first inside --limit) also probes the cluster, which
    # a later step may reuse.
    prober = inside[0] if inside else ""

    def survey(name: str) -> MemberReport:
        report = read_member(hosts[name], cluster, name == prober)
        # its missing keys made while the other members answer
        ahead.more(member_missing_keys(cluster, report.files))
        return report

    jobs = {h: gevent.spawn(survey, h) for h in inside}
    gevent.joinall(list(jobs.values()), raise_error=True)
    reports: dict[str, MemberReport] = {name: job.value for name, job in jobs.items()}
    # Another run going on: refuse before anything else is judged from what it left midway.
    from etcd_cluster.engine.run_lock_ops import check_run_lock  # it needs once_per_run from here

    locks = {name: r.lock for name, r in reports.items()}
    check_run_lock(state, "deploy.py", inside, locks, s)
    current = {name: dict(r.files) for name, r in reports.items()}
    surveys = {name: r.survey for name, r in reports.items()}
    observations = {name: r.observation for name, r in reports.items()}
    configs: dict[str, bytes | None] = {}
    for name, files in current.items():
        config = files.pop(s.kubeadm_config_path, None)
        configs[name] = config.content if config else None
    # a member left out is started (limit_refusals checks it against the live list)
    had_data = {m.host: True for m in outside(cluster, inside)}
    had_data.update({name: survey.has_data for name, survey in surveys.items()})
    probe = reports[prober].probe if prober else ()
    view, probe = _live_view(cluster, [hosts[h] for h in inside], had_data, prober, probe)
    known = view is not None and bool(view.members)
    membership = MembershipPlan()
    if view is not None and known:
        membership = plan_membership(cluster, view, had_data, s.remove_members, s.replace_members)
    unstarted = unstarted_peer_urls(view) if view is not None else set()
    surveyed = replace(cluster, members=members_inside(cluster, lambda h: h in inside))
    refusals = limit_refusals(cluster, inside, view, membership)
    refusals += data_dir_refusals(surveyed, had_data, configs, unstarted, membership_known=known)
    refusals += membership.refusals
    refusals += nospace_refusals(view, s.nospace_recover) if view is not None else []
    if refusals:
        raise DeployInputError("; ".join(refusals))
    for member in cluster.members:
        if member.peer_url(s.peer_port) in unstarted and not had_data[member.host]:
            logger.info(
                f"--> etcd: {member.host}: {member.name} is listed by the cluster but never "
                "started: it starts with the bootstrap's flags and joins"
            )
    for change in [*membership.changes, *membership.url_updates]:
        logger.info(f"--> etcd: membership: {change.describe()}")
    upkeep = maintenance(view, s)
    for reason in upkeep.reasons:
        logger.info(f"--> etcd: {reason}")
    cluster = with_bootstrap_flags(cluster, configs, had_data, membership)

    upgrade = _upgrade_plan(cluster, hosts, observations, surveys)

    now = signing_time(datetime.datetime.now(datetime.UTC), observations.values())
    ca_key_path = ETCD_CA.key_path(s.pki_dir)
    everywhere = {**_retiring_ca_files(state, cluster), **current}
    first = cluster.first.host
    operator_ca = _archive_cas.get(id(state)) or _operator_ca(cluster)
    ca_paths = {ETCD_CA.cert_path(s.pki_dir), ca_key_path}
    new_ca = first in inside and operator_ca is None
    new_ca = new_ca and not any(ca_paths & set(files) for files in everywhere.values())
    # the rest of the keys a cold deploy needs (the CA's), made while the others are planned
    ahead.more(missing_keys(cluster, current, new_ca) - ahead.asked)
    if first in inside or operator_ca is not None:
        ca, ca_created = choose_ca(
            cluster,
            everywhere,
            operator_ca,
            now,
            lambda holder: read_secret(state.inventory.get_host(holder), ca_key_path),
        )
    else:
        ca, ca_created = trusted_ca(cluster, current), False
    members = {h: plan_member(cluster, cluster.member(h), ca, current[h], now) for h in inside}
    ca_expiry = ca.cert.not_valid_after_utc
    if ca_expiry <= now + datetime.timedelta(hours=s.cert_validity_hours):
        logger.warning(
            f"--> etcd: the etcd CA expires {ca_expiry:%Y-%m-%d} UTC, before certificates issued "
            "now would: plan a CA rotation (not automated by this deploy)"
        )
    for plan in members.values():
        for name, reasons in plan.reissued.items():
            if plan.current:  # only worth saying when the member had certificates before
                logger.info(f"--> etcd: {plan.member.host}: reissue {name}: {'; '.join(reasons)}")
    items = {h: member_items(cluster, cluster.member(h), surveys[h]) for h in inside}
    for name, member_items_ in items.items():
        for warning in override_warnings(name, member_items_, reports[name].state):
            logger.warning(f"--> etcd: {warning}")
    return Plan(
        cluster=cluster,
        members=members,
        # the control plane's files come from the first member's plan (none without it)
        control_plane_files=control_plane_files(cluster, members[first]) if first in inside else {},
        ca_created=ca_created,
        surveys=surveys,
        observations=observations,
        host_states={name: r.state for name, r in reports.items()},
        items=items,
        survey_probe=probe,
        upgrading=upgrade,
        membership=membership,
        live_names={m.name for m in view.members if m.name} if view is not None else set(),
        # strays go only once the first member's copy is verified: never with it left out
        ca_key_strays=tuple(ca_key.strays(everywhere, first, s.pki_dir)) if first in inside else (),
        maintenance=upkeep,
        reporter=prober,
    )


def target_version(cluster: Cluster) -> str:
    """The etcd version the operator chose ("" none): etcd_version, or the image tag's."""
    s = cluster.settings
    if s.runtime == "systemd":
        return s.etcd_version
    return version_text(s.image_tag)


def _upgrade_plan(
    cluster: Cluster,
    hosts: dict[str, Host],
    observations: dict[str, Observation],
    surveys: dict[str, Survey],
) -> list[str]:
    """Hosts to upgrade to the chosen version; refuses a downgrade, a skipped minor
    version, and an upgrade of a cluster that is not healthy now."""
    target = target_version(cluster)
    running = {h: o.version() for h, o in observations.items() if o.running}
    if not target:
        _refuse_binary_downgrades(cluster, running, surveys)
        return []
    setting = "etcd_version" if cluster.settings.runtime == "systemd" else "etcd_image_tag"
    refusals = release.version_change_refusals(running, target, setting)
    if refusals:
        raise DeployInputError("; ".join(refusals))
    older = release.upgrading(running, target)
    if not older:
        return []
    _, stdout, _ = run_quietly(hosts[older[0]], probe_script(cluster))
    problems = status_problems(parse_probe(cluster, stdout.splitlines()))
    if problems:
        raise DeployInputError(
            f"refusing to upgrade etcd to {target}: the cluster is not healthy now: "
            + "; ".join(problems)
        )
    versions = ", ".join(sorted({running[h] for h in older}))
    logger.info(
        f"--> etcd: upgrading etcd {versions} -> {target} on {', '.join(older)}: a verified "
        "snapshot first, then one member at a time, followers first, the leader last"
    )
    return older


def _refuse_binary_downgrades(
    cluster: Cluster, running: dict[str, str], surveys: dict[str, Survey]
) -> None:
    """``etcd_version=distro`` (the package's etcd or ``etcd_binary``): the binary the unit
    would run must not be older than the etcd a member runs now (say, a release installed
    by an earlier run): etcd refuses to start below the cluster's version, so the deploy
    would take that member down."""
    s = cluster.settings
    if s.runtime != "systemd":
        return
    refusals = [
        f"{refusal} ({s.etcd_binary} says it is etcd {surveys[host].etcd_version}, and "
        "etcd_version='distro' runs it; set etcd_version to the release the members run)"
        for host, version in running.items()
        if host in surveys and surveys[host].etcd_version
        for refusal in release.version_change_refusals({host: version}, surveys[host].etcd_version)
    ]
    if refusals:
        raise DeployInputError("; ".join(refusals))


CLOCK_SKEW_WARNING = datetime.timedelta(minutes=1)


def signing_time(
    controller_now: datetime.datetime, observations: Iterable[Observation]
) -> datetime.datetime:
    """The time certificates are issued at: the earliest clock among controller and members.

    A member whose clock is behind would otherwise see a new certificate as not yet
    valid (kubeadm backdates only 5 minutes); a warning names a skew worth fixing.
    """
    clocks = [
        datetime.datetime.fromtimestamp(o.clock, datetime.UTC)
        for o in observations
        if o.clock is not None
    ]
    earliest = min([controller_now, *clocks])
    latest = max([controller_now, *clocks])
    if latest - earliest > CLOCK_SKEW_WARNING:
        logger.warning(
            f"--> etcd: clocks differ by {(latest - earliest).total_seconds():.0f}s between this "
            "machine and the members: certificates are issued at the earliest; fix time sync"
        )
    return earliest


def _live_view(
    cluster: Cluster,
    reachable: list[Host],
    had_data: dict[str, bool],
    prober: str,
    surveyed: tuple[str, ...],
) -> tuple[ClusterView | None, tuple[str, ...]]:
    """The live member list, and the probe lines it came from: the survey's probe from
    ``prober`` (the first member, or the first inside --limit) when it holds data and etcd
    answered it, else asked of the reachable members with data in turn (None: no cluster
    yet; a view without members: none of them answered)."""
    if not any(had_data.get(m.host) for m in cluster.members):
        return None, ()
    if had_data.get(prober) and surveyed:
        view = parse_view(cluster, surveyed)
        if view.members:
            return view, surveyed
    view = ClusterView((), (), ())
    for target in reachable:
        if not had_data.get(target.name):
            continue
        ok, stdout, _ = run_quietly(target, probe_script(cluster, with_members=True))
        lines = tuple(stdout.splitlines())
        view = parse_view(cluster, lines)
        if ok and view.members:
            return view, lines
    return view, ()


RETIRING_GROUP = "etcd_removed"


def retiring_hosts(state: State) -> list[Host]:
    """Hosts of group ``etcd_removed``: members being (or already) removed, still reachable."""
    try:
        group = list(state.inventory.get_group(RETIRING_GROUP))
    except NoGroupError:
        return []
    members = set(etcd_hosts(state))
    return [h for h in group if h not in members and h.connected]


def _retiring_ca_files(state: State, cluster: Cluster) -> dict[str, dict[str, RemoteFile]]:
    """The CA files removed hosts still hold: a removed first member's ca.key moves on."""
    s = cluster.settings
    paths = [ETCD_CA.cert_path(s.pki_dir), ETCD_CA.key_path(s.pki_dir)]
    return {h.name: read_files(h, paths, private_keys=paths[1:]) for h in retiring_hosts(state)}


def with_bootstrap_flags(
    cluster: Cluster,
    configs: dict[str, bytes | None],
    had_data: dict[str, bool],
    membership: MembershipPlan,
) -> Cluster:
    """Each member's bootstrap-only flags: as recorded for a member with data (etcd ignores
    them then, and rewriting them would only churn files), the live list for one that joins."""
    members = []
    for member in cluster.members:
        recorded = recorded_bootstrap(configs.get(member.host))
        if member.host in membership.join_initial_cluster:
            joined = membership.join_initial_cluster[member.host]
            member = replace(member, initial_cluster=joined, initial_cluster_state="existing")
        elif had_data.get(member.host) and recorded:
            member = replace(member, initial_cluster=recorded[0], initial_cluster_state=recorded[1])
        members.append(member)
    return replace(cluster, members=tuple(members))


def ca_files(plan: Plan) -> set[str]:
    """Files etcd reads only when it starts: a change needs a restart."""
    return {ETCD_CA.cert_path(plan.cluster.settings.pki_dir)}


def _operator_ca(cluster: Cluster) -> tuple[bytes, bytes] | None:
    """The operator's CA files on the controller (the guide's "if you already have a CA")."""
    s = cluster.settings
    if not s.ca_cert_file and not s.ca_key_file:
        return None
    if not (s.ca_cert_file and s.ca_key_file):
        raise DeployInputError(
            f"etcd_ca_cert_file={s.ca_cert_file!r} and etcd_ca_key_file={s.ca_key_file!r}: "
            "set both or neither"
        )
    try:
        return Path(s.ca_cert_file).read_bytes(), Path(s.ca_key_file).read_bytes()
    except OSError as error:
        raise DeployInputError(f"cannot read the operator CA: {error}") from None
