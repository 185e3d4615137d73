"""ca.key is never lost (``ca_key``) and snapshot first as a gate (``snapshot_gate``):
the pure decisions, without hosts.

A first-member move copies ca.key to the new first member (step 5) and removes the other
copies only as the run's last act, once the new copy is verified; retire keeps ca.key.
"""

from __future__ import annotations

import pytest

from etcd_cluster.backup.snapshot_gate import snapshot_reasons
from etcd_cluster.certs import ca_key, pki
from etcd_cluster.certs.certlist import ETCD_CA, key_paths
from etcd_cluster.engine.remote import RemoteFile
from tests.unit.guide import GUIDE_HOSTS

PKI = "/etc/kubernetes/pki"
CA_CRT, CA_KEY = ETCD_CA.cert_path(PKI), ETCD_CA.key_path(PKI)
H0, H1, H2 = GUIDE_HOSTS
RETIRED = "old-first.example.net"


def ca_files(pair: pki.KeyPair, *, with_key: bool = True) -> dict[str, RemoteFile]:
    files = {CA_CRT: RemoteFile(pair.cert_pem, "644", "root", "root")}
    if with_key:
        digest = pki.public_key_sha256(pair.key.public_key())
        files[CA_KEY] = RemoteFile(None, "600", "root", "root", digest)
    return files


def test_strays_are_every_other_host_holding_ca_key_members_and_retired(ca):
    files = {
        RETIRED: ca_files(ca),  # a retired old first member (read from group etcd_removed)
        H0: ca_files(ca),
        H1: ca_files(ca),  # the old first member, still a member (a swap)
        H2: ca_files(ca, with_key=False),
    }
    assert ca_key.strays(files, H0, PKI) == [RETIRED, H1]
    assert ca_key.strays({H0: ca_files(ca), H1: ca_files(ca, with_key=False)}, H0, PKI) == []


def test_retire_removes_every_private_key_but_ca_key():
    kept = ca_key.retired_key_paths(PKI)
    assert CA_KEY not in kept
    assert set(kept) == set(key_paths(PKI)) - {CA_KEY}


def blocker(ca, **changes) -> str:
    args = {
        "first": H0,
        "first_failed": False,
        "cluster_healthy": True,
        "first_files": ca_files(ca),
        "ca_cert_pem": ca.cert_pem,
        "ca_key_sha256": pki.public_key_sha256(ca.key.public_key()),
        "pki_dir": PKI,
    }
    return ca_key.release_blocker(**{**args, **changes})


def test_the_other_copies_go_once_the_first_members_key_matches_ca_crt(ca):
    assert blocker(ca) == ""


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("first failed", f"the first member {H0} failed in this run"),
        ("unhealthy", "the cluster was not found healthy"),
        ("unreadable", f"cannot read the CA files on {H0}"),
        ("no key", f"{H0} has no readable {CA_KEY}"),
        ("unreadable key", f"{H0} has no readable {CA_KEY}"),
        ("other key", f"{CA_KEY} on {H0} does not match {CA_CRT}"),
        ("other ca.crt", f"{CA_CRT} on {H0} is not the cluster's CA certificate"),
        ("no ca.crt", f"{CA_CRT} on {H0} is not the cluster's CA certificate"),
    ],
)
def test_every_copy_stays_unless_the_first_member_holds_a_verified_one(
    ca, other_ca, case, expected
):
    files = ca_files(ca)
    cases: dict[str, dict[str, object]] = {
        "first failed": {"first_failed": True},
        "unhealthy": {"cluster_healthy": False},
        "unreadable": {"first_files": None},
        "no key": {"first_files": ca_files(ca, with_key=False)},
        "unreadable key": {
            "first_files": {**files, CA_KEY: RemoteFile(None, "600", "root", "root", "")}
        },
        "other key": {"first_files": {**files, CA_KEY: ca_files(other_ca)[CA_KEY]}},
        "other ca.crt": {"first_files": {**files, CA_CRT: ca_files(other_ca)[CA_CRT]}},
        "no ca.crt": {"first_files": {CA_KEY: files[CA_KEY]}},
    }
    assert expected in blocker(ca, **cases[case])


def test_a_snapshot_is_needed_before_upgrades_membership_changes_and_a_first_member_move():
    assert snapshot_reasons([], [], []) == []
    assert snapshot_reasons([H1], [], []) == [f"the upgrade of {H1}"]
    assert snapshot_reasons([], ["remove infra0"], []) == ["remove infra0"]
    assert snapshot_reasons([], [], [H1]) == [f"the first member's move (ca.key on {H1})"]
    assert len(snapshot_reasons([H1], ["add infra3", "remove infra0"], [RETIRED])) == 4
