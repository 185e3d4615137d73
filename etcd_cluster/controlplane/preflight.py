"""Before kubeadm may run: what each control-plane and worker host must have, as rules.

One survey command per host (``survey_script``) reports the kubeadm and kubelet
versions, container runtime sockets, swap, listening ports, whether the host already
joined (kubelet.conf present and its node registered), and whether the control plane
endpoint answers (a refused connection is fine before the first apiserver runs); ``refusals``
turns that into messages naming the fix. Nothing here changes a host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

RUNTIME_SOCKETS = (
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
)
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"  # present once a host joined
CONTROL_PLANE_PORTS = (10250, 10257, 10259)  # kubelet, controller-manager, scheduler
STACKED_ETCD_PORTS = (2379, 2380)
WORKER_PORTS = (10250,)


@dataclass(frozen=True)
class KubeadmSurvey:
    """What one host has for kubeadm, read in one command."""

    kubeadm: str = ""  # "v1.33.2", "" when absent
    kubelet: str = ""
    runtime_sockets: tuple[str, ...] = ()
    swap_devices: int = 0
    listening: frozenset[int] = field(default_factory=frozenset)
    joined: bool = False  # kubelet.conf present
    registered: bool = False  # and its node is known to the cluster
    endpoint_answers: bool = False


def survey_script(endpoint_host: str, endpoint_port: int) -> str:
    """One shell command printing ``key=value`` lines for ``parse_survey``."""
    sockets = " ".join(shlex.quote(s) for s in RUNTIME_SOCKETS)
    probe = shlex.quote(f"exec 3<>/dev/tcp/{endpoint_host}/{endpoint_port}")
    return "; ".join(
        [
            'echo "kubeadm=$(kubeadm version -o short 2>/dev/null)"',
            'echo "kubelet=$(kubelet --version 2>/dev/null)"',
            f'for s in {sockets}; do [ -S "$s" ] && echo "socket=$s"; done',
            'echo "swap=$(tail -n +2 /proc/swaps 2>/dev/null | wc -l)"',
            "ss -ltnH 2>/dev/null | awk '{print \"listen=\" $4}'",
            f"[ -f {KUBELET_KUBECONFIG} ] && echo joined=yes",
            # The guide: "connection refused" is fine before the apiserver runs; a
            # time-out or an unreachable address is not.
            f"if probe=$(timeout 3 bash -c {probe} 2>&1); then echo endpoint=open; "
            'else case "$probe" in *refused*) echo endpoint=refused;; '
            "*) echo endpoint=unreachable;; esac; fi",
            f"[ -f {KUBELET_KUBECONFIG} ] && kubectl --kubeconfig {KUBELET_KUBECONFIG} "
            'get node "$(hostname)" -o name >/dev/null 2>&1 && echo registered=yes',
            "true",
        ]
    )


def parse_survey(lines: Sequence[str]) -> KubeadmSurvey:
    values: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.partition("=")
        values.setdefault(key.strip(), []).append(value.strip())
    ports = set()
    for address in values.get("listen", []):
        port = address.rsplit(":", 1)[-1]
        if port.isdigit():
            ports.add(int(port))
    kubelet = (values.get("kubelet") or [""])[0]
    return KubeadmSurvey(
        kubeadm=(values.get("kubeadm") or [""])[0],
        kubelet=kubelet.removeprefix("Kubernetes ").strip(),
        runtime_sockets=tuple(values.get("socket", [])),
        swap_devices=int((values.get("swap") or ["0"])[0] or 0),
        listening=frozenset(ports),
        joined="yes" in values.get("joined", []),
        registered="yes" in values.get("registered", []),
        endpoint_answers=bool({"open", "refused"} & set(values.get("endpoint", []))),
    )


def _same_version(found: str, wanted: str) -> bool:
    return re.sub(r"^v", "", found) == wanted


def refusals(
    survey: KubeadmSurvey,
    version: str,
    *,
    control_plane: bool,
    stacked: bool,
    apiserver_port: int,
    endpoint: str,
) -> list[str]:
    """Why kubeadm cannot run on this host, each with its fix (empty when it can)."""
    problems = []
    for tool, found in (("kubeadm", survey.kubeadm), ("kubelet", survey.kubelet)):
        if not found:
            problems.append(f"{tool} is not installed: install {tool} {version} (pkgs.k8s.io)")
        elif not _same_version(found, version):
            problems.append(
                f"{tool} is {found}, k8s_version is {version}: install {tool} {version}"
            )
    if not survey.runtime_sockets:
        problems.append(
            "no container runtime (no containerd, CRI-O or cri-dockerd socket): install one"
        )
    if survey.swap_devices:
        problems.append("swap is on: run swapoff -a and remove swap from /etc/fstab")
    if not survey.joined:
        ports = list(WORKER_PORTS)
        if control_plane:
            ports = [apiserver_port, *CONTROL_PLANE_PORTS]
            ports += list(STACKED_ETCD_PORTS) if stacked else []
        busy = sorted(p for p in set(ports) if p in survey.listening)
        if busy:
            problems.append(
                f"port(s) {', '.join(map(str, busy))} already in use: stop what listens there"
            )
    if survey.joined and not survey.registered:
        problems.append(
            f"{KUBELET_KUBECONFIG} is present but this node is not registered in the cluster: "
            "run `kubeadm reset -f` on it, then run the deploy again"
        )
    if not survey.endpoint_answers:
        problems.append(
            f"the control plane endpoint {endpoint} does not answer (time-out or unreachable): "
            "check the load balancer"
        )
    return problems
