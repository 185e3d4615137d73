"""The shared Kubernetes CAs: kubeadm's profiles, the share/copy/refuse decision, the fact."""

from __future__ import annotations

import datetime
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from etcd_cluster.controlplane import pki as kp
from etcd_cluster.controlplane.certlist import file_modes, shared_pairs
from etcd_cluster.controlplane.facts import FileDigests
from etcd_cluster.errors import DeployInputError

PKI = "/etc/kubernetes/pki"
NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
TEN_YEARS = datetime.timedelta(hours=87600)
PAIRS = shared_pairs(PKI, stacked=False)
MODES = file_modes(PAIRS)


@pytest.fixture(scope="module")
def made() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for pair in shared_pairs(PKI, stacked=True):
        files.update(kp.new_pair(pair, "ECDSA-P256", TEN_YEARS, NOW))
    return files


def test_the_shared_files_and_their_modes():
    assert {
        f"{PKI}/ca.crt": "644",
        f"{PKI}/ca.key": "600",
        f"{PKI}/sa.pub": "600",
        f"{PKI}/sa.key": "600",
        f"{PKI}/front-proxy-ca.crt": "644",
        f"{PKI}/front-proxy-ca.key": "600",
    } == MODES
    stacked = file_modes(shared_pairs(PKI, stacked=True))
    assert stacked[f"{PKI}/etcd/ca.crt"] == "644" and stacked[f"{PKI}/etcd/ca.key"] == "600"


@pytest.mark.parametrize(
    ("base", "common_name"),
    [("ca", "kubernetes"), ("front-proxy-ca", "front-proxy-ca"), ("etcd/ca", "etcd-ca")],
)
def test_cas_follow_kubeadms_profile(made, base, common_name):
    cert = x509.load_pem_x509_certificate(made[f"{PKI}/{base}.crt"])
    assert cert.subject.rfc4514_string() == f"CN={common_name}"
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.digital_signature and usage.key_encipherment
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [common_name]
    assert cert.not_valid_after_utc == NOW + TEN_YEARS
    assert b"PRIVATE KEY-----" in made[f"{PKI}/{base}.key"]


def test_service_account_pair(made):
    assert made[f"{PKI}/sa.pub"].startswith(b"-----BEGIN PUBLIC KEY-----")
    assert made[f"{PKI}/sa.key"].startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert kp.pair_problems(PAIRS[1], made) == []


def test_rsa_keys_are_pkcs1_as_kubeadm_writes_them():
    files = kp.new_pair(PAIRS[1], "RSA-2048", TEN_YEARS, NOW)
    assert files[f"{PKI}/sa.key"].startswith(b"-----BEGIN RSA PRIVATE KEY-----")


def test_mismatched_pairs_are_found(made):
    other = kp.new_pair(PAIRS[1], "ECDSA-P256", TEN_YEARS, NOW)
    mixed = {**made, f"{PKI}/sa.pub": other[f"{PKI}/sa.pub"]}
    assert "not the public half" in kp.pair_problems(PAIRS[1], mixed)[0]
    ca = PAIRS[0]
    swapped = {**made, ca.private_path: made[f"{PKI}/front-proxy-ca.key"]}
    assert "does not match" in kp.pair_problems(ca, swapped)[0]
    assert "unreadable" in kp.pair_problems(ca, {**made, ca.public_path: b"junk"})[0]


def test_ca_cert_hash_is_sha256_of_the_subject_public_key_info(made):
    cert = x509.load_pem_x509_certificate(made[f"{PKI}/ca.crt"])
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert kp.ca_cert_hash(made[f"{PKI}/ca.crt"]) == "sha256:" + hashlib.sha256(spki).hexdigest()


def _entry(path: str, content: bytes, mode: str | None = None) -> str:
    return f"{mode or MODES[path]} root root {kp.digest(content)}"


def test_fresh_hosts_get_everything_generated():
    decision = kp.decide(PAIRS, MODES, {"cp-0": {}, "cp-1": {}})
    assert [p.name for p in decision.generate] == ["ca", "sa", "front-proxy-ca"]
    assert set(decision.pending) == {"cp-0", "cp-1"}
    assert set(decision.pending["cp-0"]) == set(MODES)


def test_a_held_set_is_copied_to_the_host_that_lacks_it(made):
    full = {path: _entry(path, made[path]) for path in MODES}
    drifted = {**full, f"{PKI}/ca.key": _entry(f"{PKI}/ca.key", made[f"{PKI}/ca.key"], "644")}
    decision = kp.decide(PAIRS, MODES, {"cp-0": full, "cp-1": {}, "cp-2": drifted})
    assert decision.generate == []
    assert decision.source == {"ca": "cp-0", "sa": "cp-0", "front-proxy-ca": "cp-0"}
    assert "cp-0" not in decision.pending
    assert set(decision.pending["cp-1"]) == set(MODES)
    assert decision.pending["cp-2"] == [f"{PKI}/ca.key"]


def test_converged_hosts_need_nothing(made):
    full = {path: _entry(path, made[path]) for path in MODES}
    assert kp.decide(PAIRS, MODES, {"cp-0": full, "cp-1": full}).pending == {}


def test_different_cas_on_two_hosts_are_refused(made):
    full = {path: _entry(path, made[path]) for path in MODES}
    other = {**full, f"{PKI}/ca.crt": _entry(f"{PKI}/ca.crt", b"another")}
    with pytest.raises(DeployInputError, match="cp-0, cp-1 hold different /etc/kubernetes/pki/ca"):
        kp.decide(PAIRS, MODES, {"cp-0": full, "cp-1": other})


def test_half_a_pair_is_refused(made):
    only_cert = {f"{PKI}/ca.crt": _entry(f"{PKI}/ca.crt", made[f"{PKI}/ca.crt"])}
    with pytest.raises(DeployInputError, match=r"ca\.key is on no control-plane host"):
        kp.decide(PAIRS, MODES, {"cp-0": only_cert})


def test_split_pair_across_hosts_is_refused(made):
    cert = {f"{PKI}/sa.pub": _entry(f"{PKI}/sa.pub", made[f"{PKI}/sa.pub"])}
    key = {f"{PKI}/sa.key": _entry(f"{PKI}/sa.key", made[f"{PKI}/sa.key"])}
    with pytest.raises(DeployInputError, match="no control-plane host holds both"):
        kp.decide(PAIRS, MODES, {"cp-0": cert, "cp-1": key})


def test_file_digests_fact_under_a_real_shell(tmp_path: Path):
    present = tmp_path / "ca.key"
    present.write_bytes(b"secret")
    present.chmod(0o600)
    fact = FileDigests()
    command = fact.command([str(present), str(tmp_path / "absent")])
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    parsed = fact.process(result.stdout.splitlines())
    assert list(parsed) == [str(present)]
    mode, _, _, digest = parsed[str(present)].split()
    assert mode == "600" and digest == hashlib.sha256(b"secret").hexdigest()
    assert "secret" not in result.stdout
