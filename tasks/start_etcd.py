"""Step 7: start etcd, and restart members whose etcd does not run what it should.

static-pod: ``kubeadm init phase etcd local --config=...`` when the manifest is
missing (all members at once, so the new cluster reaches quorum).
systemd: a unit whose flags are exactly kubeadm's for the same config and etcd
version, reloaded when it changed or systemd still holds an older copy; drop-ins that
change what it runs moved aside and etcd's variables unset from systemd's manager
environment first (``dropins.py``), loaded or not. A new cluster's members start in
turn, each once the ones before it serve their peer port (``etcd/first_start.py``).
Scheduled snapshots (``etcd-backup.timer`` starting ``etcd-backup.service`` on every
member: ``etcd_cluster/backup/schedule.py``) go in place in the same command, after etcd
started, under the same systemd reload (each costs 0.15-0.3 s in a container, and a first
deploy's own round trip more), which is skipped when systemd already holds every unit as
its file is (``apply_state.sh daemon-reload-for``: a fresh host's first start). The
timer's first snapshot is at its schedule, not when it starts.
Restarts are decided at execution from what each member's etcd runs then (flags,
binary, a CA file newer than the process, a stale served certificate), so a change an
interrupted run left pending is completed by the next one. They go through
``rolling_restart``: serial, failing members first, the leader last, each gated on
the live member list keeping quorum and followed by a wait for cluster health.
When the survey shows nothing to change on any member (``quiet.py``), joins and
restarts cannot happen and are not called.
"""

from dataclasses import replace

from pyinfra import host, state
from pyinfra.operations import server

from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine import converge
from etcd_cluster.engine.operations import rolling_restart, run_changes
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.etcd import first_start
from etcd_cluster.etcd.restarts import PASSES
from etcd_cluster.etcd.runtime import kubeadm_etcd_local, runtime_commands
from etcd_cluster.membership.ops import join_members


def run() -> None:
    plan = get_plan(state)
    cluster = plan.cluster
    items = plan.items[host.name]
    survey = plan.surveys[host.name]  # read before this run changed anything
    observation = plan.observations[host.name]
    joining = host.name in plan.membership.joining  # started by join_members
    snapshots = backup.describe(cluster.settings)

    # kubeadm's modes: the data dir and the static pod dir are root-only.
    if cluster.settings.runtime == "systemd":
        _, version = plan.etcd_release(host)
        new = plan.starts_new_cluster()  # its members start in turn
        after = first_start.start_after(cluster, host.name) if new else []
        # then the last member's start returns once every member has started
        prober = cluster.members[-1].host if new else plan.reporter
        service = items.etcd_service
        if service is not None and after:
            service = replace(service, before_start=first_start.await_directive(cluster, after))
        # a new cluster: steps 2 to 6 in the same command (tasks/certificates.py)
        upload = plan.one_upload(host.name)
        pki = [*items.pki_dirs, items.kubeadm_config] if upload else []
        written = (
            "Install the etcd CA and this member's certificates and keys "
            f"({', '.join(d.path for d in items.pki_dirs)}) and its kubeadm config; "
            if upload
            else ""
        )
        started = converge.put(
            f"{written}{', '.join(d.path for d in items.private_dirs)}; etcd unit with "
            f"kubeadm's flags for etcd {version or '(unknown version)'}, no drop-in or manager "
            f"environment changing what it runs; etcd running and enabled; {snapshots}",
            # a joining member is started by join_members, with the live member list
            [
                *pki,
                *items.private_dirs,
                items.etcd_unit,
                items.etcd_overrides,
                None if joining else service,
                *items.snapshot_items(),
            ],
            reload=observation.needs_daemon_reload,
            # what the started etcd runs, for the restart passes below: same round trip
            observe=not joining,
            # and the cluster's health from the member that starts last: step 8's answer
            # if nothing changes after this (operations.start_health)
            probe=not joining and host.name == prober,
            pki=upload,
        )
        if started is not None:
            plan.start_ops[host.name] = started
    else:
        converge.put(
            f"Directories {', '.join(d.path for d in items.private_dirs)}; {snapshots}",
            [*items.private_dirs, *items.snapshot_items()],
        )
        if not survey.manifest:
            server.shell(
                name="kubeadm init phase etcd local (first start)",
                commands=[kubeadm_etcd_local(cluster)],
                _if=lambda: not joining,
            )

    if run_changes(state):
        join_members(name="New members join as learners and are promoted, one at a time")
        for pass_name in host.loop(PASSES):
            rolling_restart(
                name=f"Restart etcd if it does not run what it should ({pass_name} pass)",
                pass_name=pass_name,
                logs_command=runtime_commands(cluster).logs,
                _serial=True,
            )
