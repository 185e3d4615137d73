"""The Kubernetes CAs every control-plane host shares, declared as data (after ``certlist.go``).

The HA guide copies these from the first control-plane host to the others by scp;
kubeadm then issues each host's leaf certificates from them on init and join. The
same table drives generation (``kubernetes_pki``), the check of what hosts hold and
the end-to-end tests. The etcd CA is shared only with stacked etcd (external etcd
keeps its CA key on the first etcd member).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from etcd_cluster.certs.certlist import CERT_MODE, ETCD_CA, KEY_MODE, CertSpec, SanRule

KUBERNETES_CA = CertSpec("ca", "ca", "kubernetes", (), SanRule.CA, is_ca=True, read_by_etcd=False)
FRONT_PROXY_CA = CertSpec(
    "front-proxy-ca",
    "front-proxy-ca",
    "front-proxy-ca",
    (),
    SanRule.CA,
    is_ca=True,
    read_by_etcd=False,
)
SA_BASE_NAME = "sa"  # the service-account signing key pair: sa.key and sa.pub
SA_PUB_MODE = "600"  # kubeadm writes sa.pub with keyutil.WriteKey, as a key


@dataclass(frozen=True)
class SharedPair:
    """Two files that belong together: a CA (crt + key) or the service-account keys."""

    name: str
    ca: CertSpec | None  # None: the service-account key pair
    public_path: str
    private_path: str
    public_mode: str

    @property
    def paths(self) -> tuple[str, str]:
        return self.public_path, self.private_path


def _ca(spec: CertSpec, pki_dir: str) -> SharedPair:
    return SharedPair(spec.name, spec, spec.cert_path(pki_dir), spec.key_path(pki_dir), CERT_MODE)


def shared_pairs(pki_dir: str, *, stacked: bool) -> tuple[SharedPair, ...]:
    """What every control-plane host holds before kubeadm runs, in kubeadm's order."""
    sa = SharedPair(
        "sa",
        None,
        posixpath.join(pki_dir, f"{SA_BASE_NAME}.pub"),
        posixpath.join(pki_dir, f"{SA_BASE_NAME}.key"),
        SA_PUB_MODE,
    )
    pairs = [_ca(KUBERNETES_CA, pki_dir), sa, _ca(FRONT_PROXY_CA, pki_dir)]
    if stacked:
        pairs.append(_ca(ETCD_CA, pki_dir))
    return tuple(pairs)


def file_modes(pairs: tuple[SharedPair, ...]) -> dict[str, str]:
    """``{path: mode}``: certificates 644, keys 600 (sa.pub too, as kubeadm)."""
    modes = {}
    for pair in pairs:
        modes[pair.public_path] = pair.public_mode
        modes[pair.private_path] = KEY_MODE
    return modes
