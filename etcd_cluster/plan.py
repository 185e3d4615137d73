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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import gevent
from pyinfra import logger
from pyinfra.api.exceptions import NoGroupError
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.api.state import State

from etcd_cluster.certlist import ALL_CERTS, ETCD_CA
from etcd_cluster.cluster import Cluster, MemberInput, build_cluster, require_members
from etcd_cluster.errors import DeployInputError
from etcd_cluster.facts import HostSurvey
from etcd_cluster.kubeadm_config import manifest_path
from etcd_cluster.observe import Observation, observe_command
from etcd_cluster.pki_plan import MemberPlan, choose_ca, control_plane_files, plan_member
from etcd_cluster.preflight import Survey, survey_script
from etcd_cluster.quorum import parse_view, unstarted_peer_urls
from etcd_cluster.remote import RemoteFile, Wanted, read_files, read_secret, run_quietly
from etcd_cluster.runtime import SYSTEMD_UNIT
from etcd_cluster.safety import data_dir_refusals
from etcd_cluster.settings import settings_from_data
from etcd_cluster.status import probe_script

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
    cluster_healthy: bool = field(default=False)  # set once step 8 passed, at execution
    restarted: set[str] = field(default_factory=set)  # hosts restarted in this run
    # What each member's etcd ran once this run's files were written (at execution).
    executed_observations: dict[str, Observation] = field(default_factory=dict)

    def for_host(self, host: Host) -> MemberPlan:
        return self.members[host.name]

    def expiries(self) -> dict[str, datetime.datetime]:
        return {name: plan.earliest_expiry() for name, plan in self.members.items()}


_plans: dict[int, Plan] = {}
_lock = threading.Lock()
T = TypeVar("T")


_operations: dict[tuple[int, str, str], OperationMeta] = {}


def remember(host: Host, key: str, meta: OperationMeta) -> OperationMeta:
    """Keep an operation's result for a later task file (they share no globals)."""
    _operations[(id(host.state), host.name, key)] = meta
    return meta


def recall(host: Host, key: str) -> OperationMeta:
    return _operations[(id(host.state), host.name, key)]


def etcd_hosts(state: State) -> list[Host]:
    try:
        return list(state.inventory.get_group(ETCD_GROUP))
    except NoGroupError:  # pyinfra drops empty groups
        return []


def is_member(host: Host) -> bool:
    return ETCD_GROUP in host.groups


def is_control_plane(host: Host) -> bool:
    return CONTROL_PLANE_GROUP in host.groups and not is_member(host)


def once_per_run(cache: dict[int, T], state: State, build: Callable[[State], T]) -> T:
    """``build(state)``, once per run: later calls get the same object.

    Deploy code sees pyinfra's ``state`` context proxy, operations see the real
    ``State``: both must find the same object, so the proxy is unwrapped first.
    """
    unwrap = getattr(type(state), "_get_module", None)
    real = unwrap(state) if unwrap else state
    with _lock:
        if id(real) not in cache:
            cache[id(real)] = build(real)
        return cache[id(real)]


def get_plan(state: State) -> Plan:
    """The plan for this run (built on first use)."""
    return once_per_run(_plans, state, _build)


def cluster_of(state: State) -> Cluster:
    """Inventory and data checks only, without touching any host."""
    hosts = etcd_hosts(state)
    require_members(hosts)  # before settings, which come from the first member
    settings = settings_from_data(lambda key: hosts[0].data.get(key))
    inputs = [
        MemberInput(
            host=h.name,
            name=h.data.get("etcd_name"),
            address=h.data.get("etcd_address"),
            server_sans=h.data.get("etcd_server_cert_sans"),
            peer_sans=h.data.get("etcd_peer_cert_sans"),
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
    key_paths = {spec.key_path(s.pki_dir) for spec in ALL_CERTS}
    pki_paths = [
        p for spec in ALL_CERTS for p in (spec.cert_path(s.pki_dir), spec.key_path(s.pki_dir))
    ]
    for member in cluster.members:
        if not hosts[member.host].connected:
            raise DeployInputError(
                f"host {member.host} (etcd member {member.name}) is unreachable or left out "
                "by --limit: the deploy reads every member before changing any"
            )

    def read_member(host: Host) -> tuple[dict[str, RemoteFile], tuple[Survey, Observation]]:
        member = cluster.member(host.name)
        script = survey_script(s, manifest_path(cluster), SYSTEMD_UNIT)
        script += "; " + observe_command(cluster, member)
        files = read_files(host, [*pki_paths, s.kubeadm_config_path], private_keys=key_paths)
        return files, host.get_fact(HostSurvey, script=script)

    # All members at once (pyinfra runs on gevent): reads cost one round trip, not n.
    jobs = {m.host: gevent.spawn(read_member, hosts[m.host]) for m in cluster.members}
    gevent.joinall(list(jobs.values()), raise_error=True)
    current = {name: job.value[0] for name, job in jobs.items()}
    surveys = {name: job.value[1][0] for name, job in jobs.items()}
    observations = {name: job.value[1][1] for name, job in jobs.items()}
    configs: dict[str, bytes | None] = {}
    for name, files in current.items():
        config = files.pop(s.kubeadm_config_path, None)
        configs[name] = config.content if config else None
    had_data = {name: survey.has_data for name, survey in surveys.items()}
    unstarted = _unstarted_members(cluster, hosts, had_data)
    refusals = data_dir_refusals(cluster, had_data, configs, unstarted)
    if refusals:
        raise DeployInputError("; ".join(refusals))
    for member in cluster.members:
        if member.peer_url(s.peer_port) in unstarted and not had_data[member.host]:
            logger.info(
                f"--> etcd: {member.host}: {member.name} is listed by the cluster but never "
                "started: it starts with the bootstrap's flags and joins"
            )

    now = signing_time(datetime.datetime.now(datetime.UTC), observations.values())
    first_host = hosts[cluster.first.host]
    ca_key_path = ETCD_CA.key_path(s.pki_dir)
    ca, ca_created = choose_ca(
        cluster, current, _operator_ca(cluster), now, lambda: read_secret(first_host, ca_key_path)
    )
    ca_expiry = ca.cert.not_valid_after_utc
    if ca_expiry <= now + datetime.timedelta(hours=s.cert_validity_hours):
        logger.warning(
            f"--> etcd: the etcd CA expires {ca_expiry:%Y-%m-%d} UTC, before certificates issued "
            "now would: plan a CA rotation (not automated by this deploy)"
        )
    members = {m.host: plan_member(cluster, m, ca, current[m.host], now) for m in cluster.members}
    for plan in members.values():
        for name, reasons in plan.reissued.items():
            if plan.current:  # only worth saying when the member had certificates before
                logger.info(f"--> etcd: {plan.member.host}: reissue {name}: {'; '.join(reasons)}")
    return Plan(
        cluster=cluster,
        members=members,
        control_plane_files=control_plane_files(cluster, members[cluster.first.host]),
        ca_created=ca_created,
        surveys=surveys,
        observations=observations,
    )


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


def _unstarted_members(
    cluster: Cluster, hosts: dict[str, Host], had_data: dict[str, bool]
) -> set[str]:
    """Peer URLs the live cluster lists as never started, asked of a member with data.

    Only looked up when some member has no data next to members with data: that is
    either a first bootstrap one member did not finish, or a member that needs
    ``member add`` (refused by the data-safety rules).
    """
    holders = [m for m in cluster.members if had_data.get(m.host)]
    if not holders or len(holders) == len(cluster.members):
        return set()
    for member in holders:
        ok, stdout, _ = run_quietly(hosts[member.host], probe_script(cluster, with_members=True))
        view = parse_view(cluster, stdout.splitlines())
        if ok and view.members:
            return unstarted_peer_urls(view)
    return set()


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
