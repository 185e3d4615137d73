"""How each runtime restarts etcd and shows its log: shell commands, built in one place."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from etcd_cluster import scripts
from etcd_cluster.etcd import release_check
from etcd_cluster.etcd.cluster import Cluster
from etcd_cluster.etcd.kubeadm_config import manifest_path
from etcd_cluster.etcd.release import etcd_binary

SYSTEMD_UNIT = "etcd"
# Where a static pod manifest waits while its pod is recreated: outside the directory
# kubelet watches (kubeadm's own upgrade keeps its backups under /etc/kubernetes/tmp).
PARKING_DIR = "/etc/kubernetes/tmp/etcd-deploy-parked"
# What kubeadm last rendered for the deploy: "<sha256 of the kubeadm config> <sha256 of
# the manifest>", written by restart_static_pod.sh each time kubeadm renders. Outside the
# manifest directory (kubelet would read it as a pod), and the deploy's own.
RENDERED_RECORD = "/etc/kubernetes/etcd-deploy/etcd.yaml.rendered"
# Where a retired member's manifest is kept (timestamped, never put back by a run).
RETIRED_DIR = "/etc/kubernetes/tmp/etcd-deploy-removed"


@dataclass(frozen=True)
class RuntimeCommands:
    """Shell commands the rolling restart and the health report run on a member."""

    logs: str
    restart: str = ""  # systemd
    rewrite: str = ""  # static-pod: kubeadm rewrites the manifest, wait for the new pod
    render: str = ""  # static-pod: the same, but an unchanged manifest restarts nothing
    bounce: str = ""  # static-pod: recreate the pod from its unchanged manifest

    def for_action(self, action: str) -> str:
        return {
            "restart": self.restart,
            "rewrite": self.rewrite,
            "render": self.render,
            "bounce": self.bounce,
        }[action]


def _static_pod(cluster: Cluster, mode: str) -> str:
    s = cluster.settings
    return scripts.command(
        "restart_static_pod",
        mode,
        manifest_path(cluster),
        s.kubeadm_config_path,
        s.kubelet_container_runtime_endpoint,
        PARKING_DIR,
        s.health_timeout,
        RENDERED_RECORD,
    )


def kubeadm_etcd_local(cluster: Cluster) -> str:
    """Step 7 of the guide: ``kubeadm init phase etcd local --config=...`` writes the
    static pod manifest from this member's config (and the deploy records what it wrote)."""
    return _static_pod(cluster, "start")


def runtime_commands(cluster: Cluster) -> RuntimeCommands:
    s = cluster.settings
    lines = max(s.log_lines, 1)
    if s.runtime == "systemd":
        restart = f"systemctl restart {SYSTEMD_UNIT}"
        verified = release_check.verification(s)
        if verified:  # only into the binary the install verified
            restart = scripts.command("restart_etcd", SYSTEMD_UNIT, etcd_binary(s), verified)
        return RuntimeCommands(
            logs=f"journalctl -u {SYSTEMD_UNIT} -n {lines} --no-pager -o cat",
            restart=restart,
        )
    endpoint = shlex.quote(s.kubelet_container_runtime_endpoint)
    crictl = f"crictl --runtime-endpoint {endpoint}"
    latest = f"$({crictl} ps -a -q --name '^etcd$' | head -n 1)"
    return RuntimeCommands(
        logs=f'{crictl} logs --tail {lines} "{latest}" 2>&1',
        rewrite=_static_pod(cluster, "rewrite"),
        render=_static_pod(cluster, "render"),
        bounce=_static_pod(cluster, "bounce"),
    )
