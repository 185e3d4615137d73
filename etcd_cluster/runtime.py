"""How each runtime restarts etcd and shows its log: shell commands, built in one place."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from etcd_cluster import scripts
from etcd_cluster.cluster import Cluster
from etcd_cluster.kubeadm_config import manifest_path

SYSTEMD_UNIT = "etcd"
# Where a static pod manifest waits while its pod is recreated: outside the directory
# kubelet watches (kubeadm's own upgrade keeps its backups under /etc/kubernetes/tmp).
PARKING_DIR = "/etc/kubernetes/tmp/etcd-deploy-parked"
# Where a retired member's manifest is kept (timestamped, never put back by a run).
RETIRED_DIR = "/etc/kubernetes/tmp/etcd-deploy-removed"


@dataclass(frozen=True)
class RuntimeCommands:
    """Shell commands the rolling restart and the health report run on a member."""

    logs: str
    restart: str = ""  # systemd
    rewrite: str = ""  # static-pod: kubeadm rewrites the manifest, wait for the new pod
    bounce: str = ""  # static-pod: recreate the pod from its unchanged manifest

    def for_action(self, action: str) -> str:
        return {"restart": self.restart, "rewrite": self.rewrite, "bounce": self.bounce}[action]


def kubeadm_etcd_local(cluster: Cluster) -> str:
    """Step 7 of the guide: write the static pod manifest from this member's config."""
    config = shlex.quote(cluster.settings.kubeadm_config_path)
    return f"kubeadm init phase etcd local --config={config}"


def runtime_commands(cluster: Cluster) -> RuntimeCommands:
    s = cluster.settings
    lines = max(s.log_lines, 1)
    if s.runtime == "systemd":
        return RuntimeCommands(
            logs=f"journalctl -u {SYSTEMD_UNIT} -n {lines} --no-pager -o cat",
            restart=f"systemctl restart {SYSTEMD_UNIT}",
        )
    endpoint = shlex.quote(s.kubelet_container_runtime_endpoint)
    crictl = f"crictl --runtime-endpoint {endpoint}"

    def replace(mode: str) -> str:
        return scripts.command(
            "restart_static_pod",
            mode,
            manifest_path(cluster),
            s.kubeadm_config_path,
            s.kubelet_container_runtime_endpoint,
            PARKING_DIR,
            s.health_timeout,
        )

    latest = f"$({crictl} ps -a -q --name '^etcd$' | head -n 1)"
    return RuntimeCommands(
        logs=f'{crictl} logs --tail {lines} "{latest}" 2>&1',
        rewrite=replace("rewrite"),
        bounce=replace("bounce"),
    )
