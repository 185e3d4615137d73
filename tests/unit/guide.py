"""The oracles, copied verbatim: the guide's files and kubeadm's command for infra0.

Sources: "Set up a High Availability etcd cluster with kubeadm" (newest version)
steps 1, 2 and 6, and what kubeadm's ``getEtcdCommand`` (``phases/etcd/local.go``)
gives for infra0. Kept as the guide prints them (long lines included) so that a
reader can diff them against the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etcd_cluster.etcd.cluster import MemberInput

# Step 2: HOST0..2 and NAME0..2.
GUIDE_HOSTS = ("10.0.0.6", "10.0.0.7", "10.0.0.8")
GUIDE_NAMES = ("infra0", "infra1", "infra2")


def guide_inputs(**per_member: Sequence[Any]) -> list[MemberInput]:
    """The guide's three hosts as inventory entries; ``per_member`` sets a field per host,
    e.g. ``guide_inputs(name=["a", "b", "c"])``. Names default to infra0..2."""
    return [
        MemberInput(host, **{field: values[index] for field, values in per_member.items()})
        for index, host in enumerate(GUIDE_HOSTS)
    ]


# Step 2: the heredoc written to /tmp/${HOST}/kubeadmcfg.yaml (dedented).
KUBEADMCFG_HEREDOC = """\
---
apiVersion: "kubeadm.k8s.io/v1beta4"
kind: InitConfiguration
nodeRegistration:
    name: ${NAME}
localAPIEndpoint:
    advertiseAddress: ${HOST}
---
apiVersion: "kubeadm.k8s.io/v1beta4"
kind: ClusterConfiguration
etcd:
    local:
        serverCertSANs:
        - "${HOST}"
        peerCertSANs:
        - "${HOST}"
        extraArgs:
        - name: initial-cluster
          value: ${NAMES[0]}=https://${HOSTS[0]}:2380,${NAMES[1]}=https://${HOSTS[1]}:2380,${NAMES[2]}=https://${HOSTS[2]}:2380
        - name: initial-cluster-state
          value: new
        - name: name
          value: ${NAME}
        - name: listen-peer-urls
          value: https://${HOST}:2380
        - name: listen-client-urls
          value: https://${HOST}:2379
        - name: advertise-client-urls
          value: https://${HOST}:2379
        - name: initial-advertise-peer-urls
          value: https://${HOST}:2380
"""


def guide_kubeadmcfg(index: int) -> str:
    """The guide's loop body for ``i=index``: the heredoc with the shell variables expanded."""
    text = KUBEADMCFG_HEREDOC
    for i, (host, name) in enumerate(zip(GUIDE_HOSTS, GUIDE_NAMES, strict=True)):
        text = text.replace(f"${{HOSTS[{i}]}}", host).replace(f"${{NAMES[{i}]}}", name)
    return text.replace("${HOST}", GUIDE_HOSTS[index]).replace("${NAME}", GUIDE_NAMES[index])


# The guide leaves two fields of its kubeadmcfg.yaml unset, so kubeadm fills them in at
# run time: kubernetesVersion (default "stable-1", looked up over the internet, which
# also picks the etcd image; reference 3.5) and nodeRegistration.criSocket (guessed
# from the sockets found). The deploy pins both; the CRI socket is the one of step 1.
GUIDE_CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"


def pinned(
    documents: list[dict[str, Any]],
    kubernetes_version: str = "",
    cri_socket: str = GUIDE_CRI_SOCKET,
) -> list[dict[str, Any]]:
    """The guide's parsed kubeadmcfg.yaml with the fields the deploy pins (in place)."""
    init, cluster = documents
    if cri_socket:
        init["nodeRegistration"]["criSocket"] = cri_socket
    if kubernetes_version:
        cluster["kubernetesVersion"] = kubernetes_version
    return documents


# Step 1: /etc/systemd/system/kubelet.service.d/kubelet.conf (comments left out).
KUBELET_CONF = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
cgroupDriver: systemd
address: 127.0.0.1
containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock
staticPodPath: /etc/kubernetes/manifests
"""

# Step 1: /etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf.
KUBELET_DROPIN = """\
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --config=/etc/systemd/system/kubelet.service.d/kubelet.conf
Restart=always
"""

# Step 6: the files under /etc/kubernetes/pki on $HOST0 (HOST1/2: the same without ca.key).
PKI_FILES_HOST0 = (
    "apiserver-etcd-client.crt",
    "apiserver-etcd-client.key",
    "etcd/ca.crt",
    "etcd/ca.key",
    "etcd/healthcheck-client.crt",
    "etcd/healthcheck-client.key",
    "etcd/peer.crt",
    "etcd/peer.key",
    "etcd/server.crt",
    "etcd/server.key",
)
PKI_FILES_OTHER_HOSTS = tuple(p for p in PKI_FILES_HOST0 if p != "etcd/ca.key")

# Reference 4.4: kubeadm v1.36's etcd command for HOST=10.0.0.6, NAME=infra0 (etcd 3.6).
ORACLE_INFRA0_COMMAND = [
    "etcd",
    "--advertise-client-urls=https://10.0.0.6:2379",
    "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
    "--client-cert-auth=true",
    "--data-dir=/var/lib/etcd",
    "--feature-gates=InitialCorruptCheck=true",
    "--initial-advertise-peer-urls=https://10.0.0.6:2380",
    "--initial-cluster=infra0=https://10.0.0.6:2380,infra1=https://10.0.0.7:2380,infra2=https://10.0.0.8:2380",
    "--initial-cluster-state=new",
    "--key-file=/etc/kubernetes/pki/etcd/server.key",
    "--listen-client-urls=https://10.0.0.6:2379",
    "--listen-metrics-urls=http://127.0.0.1:2381",
    "--listen-peer-urls=https://10.0.0.6:2380",
    "--name=infra0",
    "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
    "--peer-client-cert-auth=true",
    "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
    "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    "--snapshot-count=10000",
    "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
    "--watch-progress-notify-interval=5s",
]
# Reference 4.4, kubeadm v1.25-v1.33 / etcd < 3.6: these replace the two 3.6 flags.
ORACLE_PRE36_FLAGS = [
    "--experimental-initial-corrupt-check=true",
    "--experimental-watch-progress-notify-interval=5s",
]
