"""How each runtime restarts etcd and shows its log: shell commands, built in one place."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from etcd_cluster.cluster import Cluster
from etcd_cluster.kubeadm_config import manifest_path

SYSTEMD_UNIT = "etcd"
BOUNCE_WAIT_SECONDS = 60


@dataclass(frozen=True)
class RuntimeCommands:
    """Shell commands the rolling restart and the health report run on a member."""

    restart: str
    logs: str


def kubeadm_etcd_local(cluster: Cluster) -> str:
    """Step 7 of the guide: write the static pod manifest from this member's config."""
    config = shlex.quote(cluster.settings.kubeadm_config_path)
    return f"kubeadm init phase etcd local --config={config}"


def runtime_commands(cluster: Cluster) -> RuntimeCommands:
    lines = max(cluster.settings.log_lines, 1)
    if cluster.settings.runtime == "systemd":
        return RuntimeCommands(
            restart=f"systemctl restart {SYSTEMD_UNIT}",
            logs=f"journalctl -u {SYSTEMD_UNIT} -n {lines} --no-pager -o cat",
        )
    manifest = shlex.quote(manifest_path(cluster))
    parked = shlex.quote(f"{manifest_path(cluster)}.restarting")
    # kubeadm rewrites the manifest; kubelet restarts the pod only if it changed, so a
    # certificate-only change parks the manifest until the old container is gone.
    restart = (
        f"cp -p {manifest} {parked}.before && {kubeadm_etcd_local(cluster)} && "
        f"if cmp -s {manifest} {parked}.before; then "
        f"mv {manifest} {parked} && "
        f"for i in $(seq {BOUNCE_WAIT_SECONDS}); do "
        "[ -z \"$(crictl ps -q --name '^etcd$')\" ] && break; sleep 1; done; "
        f"mv {parked} {manifest}; fi; rm -f {parked}.before"
    )
    logs = f"crictl logs --tail {lines} \"$(crictl ps -a -q --name '^etcd$' | head -n 1)\" 2>&1"
    return RuntimeCommands(restart=restart, logs=logs)
