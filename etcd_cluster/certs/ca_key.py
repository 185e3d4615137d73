"""Where ca.key may be removed, decided from what hosts hold: pure, no hosts.

The CA key is the one file nothing can recreate. When the first member changes, the
new first member gets a copy in step 5, and the other copies go only as the last act
of a run in which the new first member is complete and its copy verified against
ca.crt; every earlier step (retire included) leaves ca.key alone. A run that fails
anywhere therefore leaves at least one copy, and the next run (whose plan reads the
key from any host that still holds it) finishes the move.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography import x509

from etcd_cluster.certs.certlist import ETCD_CA, key_paths
from etcd_cluster.certs.plan import same_certificate
from etcd_cluster.engine.remote import RemoteFile


def strays(files: Mapping[str, Mapping[str, RemoteFile]], first: str, pki_dir: str) -> list[str]:
    """Hosts other than the first member that hold a ca.key (members and retired hosts),
    in the order given: the copies the run's last step removes."""
    path = ETCD_CA.key_path(pki_dir)
    return [host for host, held in files.items() if host != first and path in held]


def retired_key_paths(pki_dir: str) -> list[str]:
    """The private keys a retired host loses at once: all but ca.key, which may be the only
    copy until the first member holds a verified one."""
    return [p for p in key_paths(pki_dir) if p != ETCD_CA.key_path(pki_dir)]


def release_blocker(
    first: str,
    first_failed: bool,
    cluster_healthy: bool,
    first_files: Mapping[str, RemoteFile] | None,
    ca_cert_pem: bytes,
    ca_key_sha256: str,
    pki_dir: str,
) -> str:
    """Why the other copies of ca.key must stay ("" when they may go): the first member
    failed in this run, the cluster is not healthy, or the first member's ca.key, as read
    now (``first_files``, None: unreadable), is missing or does not match ca.crt."""
    if first_failed:
        return f"the first member {first} failed in this run"
    if not cluster_healthy:
        return "the cluster was not found healthy in this run"
    if first_files is None:
        return f"cannot read the CA files on {first}"
    cert_path, key_path = ETCD_CA.cert_path(pki_dir), ETCD_CA.key_path(pki_dir)
    cert, key = first_files.get(cert_path), first_files.get(key_path)
    if key is None or not key.public_key_sha256:
        return f"{first} has no readable {key_path}"
    if cert is None or not same_certificate(
        cert.content, x509.load_pem_x509_certificate(ca_cert_pem)
    ):
        return f"{cert_path} on {first} is not the cluster's CA certificate"
    if key.public_key_sha256 != ca_key_sha256:
        return f"{key_path} on {first} does not match {cert_path}"
    return ""
