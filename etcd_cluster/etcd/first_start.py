"""A new cluster's first start, in turn: each member once the ones before it serve their
peer port.

On ``initial-cluster-state=new`` etcd first asks each peer whether it already belongs
to a cluster (``/members`` on the peer port, 1 s timeout each). A peer started in the
same moment has bound its port but answers nothing until its own check is done, so
members started at once often wait out that timeout, once per such peer, and the wait
cascades: on the test bed a first start of 3 members took 0.4 s or 2.4 s at random (the
benchmark's cold deploys: 4.6 s and 6.6 s), and 7 members up to 7 s. Started in turn,
the peers a member asks are either not started (refused at once) or serving; each member
waits for the one before it (about 0.1 s). The wait is bounded (``WAIT_SECONDS``): a
member before it that never comes up only delays the start, as at once.
"""

from __future__ import annotations

from etcd_cluster.certs.certlist import ETCD_CA, ETCD_PEER
from etcd_cluster.etcd.cluster import Cluster

WAIT_SECONDS = 10


def start_after(cluster: Cluster, host: str) -> list[str]:
    """The peer URLs ``host``'s etcd waits for before it starts, when this run starts the
    whole cluster for the first time (``Plan.starts_new_cluster``): the members before it
    in the inventory."""
    hosts = [m.host for m in cluster.members]
    if host not in hosts:
        return []
    port = cluster.settings.peer_port
    return [m.peer_url(port) for m in cluster.members[: hosts.index(host)]]


def await_directive(cluster: Cluster, peer_urls: list[str]) -> tuple[str, ...]:
    """``apply_state.sh``'s ``await-peers`` for ``peer_urls`` (none: no directive), asked
    with this member's peer certificate (the peer port wants a client certificate)."""
    if not peer_urls:
        return ()
    pki = cluster.settings.pki_dir
    return (
        "await-peers",
        str(WAIT_SECONDS),
        ETCD_CA.cert_path(pki),
        ETCD_PEER.cert_path(pki),
        ETCD_PEER.key_path(pki),
        ",".join(peer_urls),
    )
