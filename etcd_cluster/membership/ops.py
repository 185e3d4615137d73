"""pyinfra operations that carry out the membership plan (``membership.plan_membership``).

Every call to etcd goes through a member that had data before this run (the
*executor*), over etcd's gRPC gateway with the healthcheck client certificate.
Removals run once, before anything joins; then each joining host in the plan's order,
one at a time: ``member add --learner``, start its etcd with the live member list,
promote it once it has caught up (retried, bounded, while etcd says it is not in
sync), and wait for a healthy cluster before the next one. Both run as one operation
on the executor, which reaches the other hosts itself, so the order is the plan's.
"""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster import scripts
from etcd_cluster.certs.ca_key import retired_key_paths
from etcd_cluster.engine.operations import cluster_view, gateway, wait_for
from etcd_cluster.engine.plan import Plan, etcd_hosts, get_plan
from etcd_cluster.engine.polling import on, poll, progress_while
from etcd_cluster.engine.remote import run_quietly
from etcd_cluster.errors import fail
from etcd_cluster.etcd import health as status
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.kubeadm_config import manifest_path
from etcd_cluster.etcd.quorum import ClusterView
from etcd_cluster.etcd.runtime import RETIRED_DIR, SYSTEMD_UNIT, kubeadm_etcd_local
from etcd_cluster.membership.changes import ADD, PROMOTE, REMOVE, Change

# etcd's answers worth waiting out (bounded): a learner still catching up, and the
# leader not yet connected to every voter for 5 s (--strict-reconfig-check)
NOT_IN_SYNC = "in sync with leader"
UNHEALTHY = "unhealthy cluster"


def executor(plan: Plan) -> str:
    """The member that talks to etcd for the plan: the first that had data and stays
    (among those this run surveyed: inside --limit)."""
    joining = set(plan.membership.joining)
    for member in plan.cluster.members:
        survey = plan.surveys.get(member.host)
        if survey and survey.has_data and member.host not in joining:
            return member.host
    return plan.reporter or plan.cluster.first.host


def _api(state: State, path: str, body: dict, endpoint: str = "") -> tuple[bool, dict]:
    """Call etcd's gateway from the executor, at ``endpoint`` (default: its own)."""
    plan = get_plan(state)
    cluster = plan.cluster
    target = state.inventory.get_host(executor(plan))
    endpoint = endpoint or cluster.member(target.name).client_url(cluster.settings.client_port)
    return gateway(target, endpoint, path, body)


def _api_patiently(
    state: State, path: str, body: dict, transient: str, what: str
) -> tuple[bool, dict]:
    """``_api``, retried every interval until ``health_timeout`` while etcd answers with
    the ``transient`` error (e.g. a learner that is still catching up); ``what`` names
    the wait in its progress lines."""
    settings = get_plan(state).cluster.settings

    def settled(result: tuple[bool, dict]) -> bool:
        ok, answer = result
        return ok or transient not in str(answer.get("error", ""))

    return poll(
        lambda: _api(state, path, body),
        settled,
        settings.health_timeout,
        settings.health_interval,
        what,
        say=on(state.inventory.get_host(executor(get_plan(state)))),
    )


def _view(state: State) -> ClusterView:
    """Health, member list and alarms as the executor sees them."""
    return cluster_view(state.inventory.get_host(executor(get_plan(state))))


def _hand_over_leadership(state: State, host: Host, leaving: Change) -> bool:
    """When the member to remove leads, move leadership to the executor first (etcd's
    MoveLeader, asked of the leader): removing a leader would fail requests in flight."""
    plan = get_plan(state)
    view = _view(state)
    leader = next((s.leader_id for s in view.statuses if s.healthy and s.leader_id), "")
    if leader != leaving.member_id:
        return True
    staying = plan.cluster.member(executor(plan))
    target = next((s.member_id for s in view.statuses if s.member == staying), "")
    leader_urls = next((m.client_urls for m in view.members if m.member_id == leader), ())
    if not target or not leader_urls:
        return fail(host, f"cannot move leadership away from {leaving.name} before removing it")
    path = "/v3/maintenance/transfer-leadership"
    ok, answer = _api(state, path, {"targetID": target}, endpoint=leader_urls[0])
    if not ok:
        return fail(host, f"moving leadership from {leaving.name} failed: {answer.get('error')}")
    host.log_styled(f"leadership moved from {leaving.name} to {staying.name}", log_func=logger.info)
    return True


def _remove(state: State, host: Host, changes: list[Change]) -> bool:
    live = {m.member_id for m in _view(state).members}
    for change in changes:
        if change.member_id not in live:
            host.log_styled(f"{change.name} is no longer a member", log_func=logger.info)
            continue
        if not _hand_over_leadership(state, host, change):
            return False
        body = {"ID": change.member_id}
        ok, answer = _api_patiently(
            state,
            "/v3/cluster/member/remove",
            body,
            UNHEALTHY,
            f"etcd to accept removing {change.name} (the cluster is not healthy yet)",
        )
        if not ok:
            host.log_styled(
                f"removing member {change.name} failed: {answer.get('error')}",
                fg="red",
                log_func=logger.error,
            )
            return False
        host.log_styled(f"removed member {change.name}", log_func=logger.info)
    get_plan(state).removals_done = True
    return True


def _update_peer_urls(state: State, host: Host, updates: list[Change]) -> bool:
    """Set each member's peer URLs to exactly the wanted one (etcd's member update)."""
    for change in updates:
        body = {"ID": change.member_id, "peerURLs": [change.peer_url]}
        ok, answer = _api_patiently(
            state,
            "/v3/cluster/member/update",
            body,
            UNHEALTHY,
            f"etcd to accept new peer URLs for {change.name} (the cluster is not healthy yet)",
        )
        if not ok:
            return fail(host, f"updating the peer URLs of {change.name} failed: {answer}")
        host.log_styled(
            f"peer URLs of {change.name} set to {change.peer_url} (were "
            f"{', '.join(change.listed)})",
            log_func=logger.info,
        )
    return True


@operation(is_idempotent=True)
def update_peer_urls():
    """Members listed with peer URLs besides the wanted one get exactly the wanted one
    (runs on the executor only; no member restarts)."""
    plan = get_plan(host.state)
    updates = plan.membership.url_updates
    if not updates or host.name != executor(plan):
        host.noop("every member's peer URLs are the wanted ones")
        return
    yield FunctionCommand(_update_peer_urls, (updates,), {})


@operation(is_idempotent=True)
def remove_members():
    """Remove the live members the plan removes (runs on the executor only)."""
    plan = get_plan(host.state)
    removals = [c for c in plan.membership.changes if c.kind == REMOVE]
    if not removals:
        plan.removals_done = True
    if not removals or host.name != executor(plan):
        host.noop("no member to remove from here")
        return
    yield FunctionCommand(_remove, (removals,), {})


def start_command(cluster: Cluster) -> str:
    """Start a joining member's etcd. systemd: enabled first, and a failed enable fails
    (a member that is not enabled would be gone after the host's next reboot)."""
    if cluster.settings.runtime == "systemd":
        return f"systemctl enable --quiet {SYSTEMD_UNIT} && systemctl start {SYSTEMD_UNIT}"
    return kubeadm_etcd_local(cluster)


def _join(state: State, target: Host, change: Change) -> bool:
    """Add (unless an earlier run did), start, promote; then wait for a healthy cluster."""
    plan = get_plan(state)
    settings = plan.cluster.settings
    member_id = change.member_id
    if change.kind == ADD:
        prepare = scripts.command("prepare_join", settings.runtime, SYSTEMD_UNIT, settings.data_dir)
        ok, _, stderr = run_quietly(target, prepare)
        if not ok:
            return fail(target, f"preparing {change.name} to join failed: {stderr.strip()}")
        if not member_id:
            body = {"peerURLs": [change.peer_url], "isLearner": True}
            ok, answer = _api_patiently(
                state,
                "/v3/cluster/member/add",
                body,
                UNHEALTHY,
                f"etcd to accept adding {change.name} (the cluster is not healthy yet)",
            )
            if not ok:
                return fail(target, f"member add {change.name} failed: {answer.get('error')}")
            member_id = str((answer.get("member") or {}).get("ID", ""))
            target.log_styled(f"added {change.name} as a learner", log_func=logger.info)
        with progress_while(f"etcd on {change.name} to start and catch up", say=on(target)):
            ok, _, stderr = run_quietly(target, start_command(plan.cluster))
        if not ok:
            return fail(target, f"starting etcd for {change.name} failed: {stderr.strip()}")
    body = {"ID": member_id}
    ok, answer = _api_patiently(
        state,
        "/v3/cluster/member/promote",
        body,
        NOT_IN_SYNC,
        f"the learner {change.name} to catch up with the leader",
    )
    if not ok:
        error = answer.get("error")
        return fail(target, f"promoting the learner {change.name} failed: {error}")
    target.log_styled(f"promoted {change.name} to a voting member", log_func=logger.info)
    return True


def _healthy_but(later: list[Change]) -> Callable[[list[status.MemberStatus]], list[str]]:
    """The health check while joining: hosts that join later are not members yet."""
    hosts = {c.host for c in later}

    def check(statuses: list[status.MemberStatus]) -> list[str]:
        return status.problems([s for s in statuses if s.member.host not in hosts])

    return check


def _join_all(state: State, host: Host, changes: list[Change]) -> bool:
    """Each joining host in the plan's order (its --initial-cluster was computed for that
    order), the next only once the cluster is healthy again."""
    plan = get_plan(state)
    for index, change in enumerate(changes):
        target = state.inventory.get_host(change.host)
        if not _join(state, target, change):
            return False
        found, _ = wait_for(
            host,
            _healthy_but(changes[index + 1 :]),
            plan.cluster.settings.health_timeout,
            f"the cluster to report healthy with {change.name}",
        )
        if found:
            return fail(target, f"after {change.name} joined, the cluster is not healthy: {found}")
    return True


@operation(is_idempotent=True)
def join_members():
    """Join the plan's new members one at a time, driven from the executor member."""
    plan = get_plan(host.state)
    joins = [c for c in plan.membership.changes if c.kind in (ADD, PROMOTE)]
    if not joins or host.name != executor(plan):
        host.noop("no member to join from here")
        return
    yield FunctionCommand(_join_all, (joins,), {})


RETIRE_CHECK = "retire_member"


def retire_commands(cluster: Cluster, data_dir: str, key_paths: list[str]) -> tuple[str, str]:
    """The check (prints what is left, nothing when retired) and the retirement itself.
    static-pod: the pod goes first (manifest moved away, container gone), so kubelet
    stops restarting the removed member and its data is never moved from under it."""
    member = (SYSTEMD_UNIT, data_dir, *key_paths)
    check = scripts.command(RETIRE_CHECK, "check", *member)
    retire = scripts.command(RETIRE_CHECK, "retire", *member)
    s = cluster.settings
    if s.runtime == "systemd":
        return check, retire
    pod = (manifest_path(cluster), s.kubelet_container_runtime_endpoint, RETIRED_DIR)
    pod_check = scripts.command("retire_static_pod", "check", *pod, s.health_timeout)
    pod_retire = scripts.command("retire_static_pod", "retire", *pod, s.health_timeout)
    return f"{pod_check}; {check}", f"{pod_retire} && {retire}"


@operation(is_idempotent=True)
def retire(data_dir: str, key_paths: list[str]):
    """On a host removed from the cluster: stop and disable etcd (static-pod: its manifest
    moved away, its container gone), move its data dir aside, remove its private keys but
    ca.key; nothing when that is done already.

    + data_dir: etcd's data dir on the host
    + key_paths: the private keys to remove
    """
    check, command = retire_commands(get_plan(host.state).cluster, data_dir, key_paths)
    _, stdout, _ = run_quietly(host, check) if host.state.is_executing else (True, "left", "")
    if not stdout.strip():
        host.noop("etcd retired already")
        return
    yield command


def member_key_paths(plan: Plan) -> list[str]:
    """What retire removes: every private key but ca.key (it goes last, ``certs/ca_key.py``)."""
    return retired_key_paths(plan.cluster.settings.pki_dir)


def is_retiring(target: Host) -> bool:
    return "etcd_removed" in target.groups and target not in etcd_hosts(target.state)
