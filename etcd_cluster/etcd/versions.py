"""Version preflight: kubeadm, etcd and the flags rendered for them, before any host changes.

Pure decisions on what the member survey read (``kubeadm version -o short``, the etcd
binary's or package's version) and the settings. Refusals are things that would fail
on the host (kubeadm rejecting its config, etcd rejecting a flag); warnings are things
that work now but bite later (deprecated flags, an etcd the control plane's kubeadm
refuses for ``etcd.external``). Every message names the host, the value and the fix.

Sources: kubeadm's ``phases/etcd/local.go`` (flag names per kubeadm version),
``constants/constants.go`` (SupportedEtcdVersion, MinExternalEtcdVersion) and its config
API reference (API versions);
etcd's renamed flags from the "Difference in flags" list of etcd's v3.6-to-v3.5
downgrade guide (etcd.io/docs/v3.6/downgrades/downgrade_3_6/, a diff of ``etcd -h``
of v3.6.0 against v3.5.18), which matches CHANGELOG-3.6's deprecations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from etcd_cluster.etcd.flags import parse_version
from etcd_cluster.etcd.release_checksums import DEFAULT_VERSION
from etcd_cluster.settings import Settings

Version = tuple[int, int, int]

# kubeadm 1.x minors. Reference 4.2: v1beta4 from kubeadm 1.31 (PR 125029), v1beta3
# removed in 1.36 (PR 136016).
API_MIN_KUBEADM_MINOR: dict[str, int] = {"v1beta4": 31}
API_MAX_KUBEADM_MINOR: dict[str, int] = {"v1beta3": 35}
P384_MIN_KUBEADM_MINOR = 34  # PR 131677
ONLY_36_FLAGS_KUBEADM_MINOR = 36  # PR 135701: kubeadm's etcd < 3.6 branch is gone
ETCD_36: Version = (3, 6, 0)
# Reference 3.5: kubeadm's MinExternalEtcdVersion (master/v1.36 and release-1.32).
MIN_EXTERNAL_ETCD: Version = (3, 5, 24)

# Reference 3.5: kubeadm's SupportedEtcdVersion, the etcd image tag it picks for the
# minor of kubernetesVersion (nearest key outside the map, as kubeadm does). The
# values move with kubeadm patch releases; these are the ones the reference found:
# 29-32 from release-1.32 (late patch), 33 from v1.33.1's output, 34 from v1.34,
# 35-36 from master.
SUPPORTED_ETCD_VERSION: dict[int, str] = {
    29: "3.5.24-0",
    30: "3.5.24-0",
    31: "3.5.24-0",
    32: "3.5.24-0",
    33: "3.5.21-0",
    34: "3.6.5-0",
    35: "3.6.9-0",
    36: "3.6.9-0",
}

# etcd 3.6 renamed these experimental flags (old name -> new name); the old names
# still work in 3.6 (deprecated) and are removed in 3.7 (etcd PR 19959).
RENAMED_IN_ETCD36: dict[str, str] = {
    f"experimental-{name}": name
    for name in (
        "bootstrap-defrag-threshold-megabytes",
        "compaction-batch-limit",
        "compact-hash-check-time",
        "compaction-sleep-interval",
        "corrupt-check-time",
        "enable-distributed-tracing",
        "distributed-tracing-address",
        "distributed-tracing-instance-id",
        "distributed-tracing-sampling-rate",
        "distributed-tracing-service-name",
        "downgrade-check-time",
        "max-learners",
        "memory-mlock",
        "peer-skip-client-san-verification",
        "snapshot-catchup-entries",
        "warning-apply-duration",
        "warning-unary-request-duration",
        "watch-progress-notify-interval",
    )
}
# ... and turned these into feature gates (--feature-gates=Name=true).
GATED_IN_ETCD36: dict[str, str] = {
    "experimental-compact-hash-check-enabled": "CompactHashCheck",
    "experimental-initial-corrupt-check": "InitialCorruptCheck",
    "experimental-enable-lease-checkpoint": "LeaseCheckpoint",
    "experimental-enable-lease-checkpoint-persist": "LeaseCheckpointPersist",
    "experimental-stop-grpc-service-on-defrag": "StopGRPCServiceOnDefrag",
    "experimental-txn-mode-write-with-shared-buffer": "TxnModeWriteWithSharedBuffer",
}
# Flags etcd < 3.6 does not know: the new names, plus --feature-gates and --log-format.
ETCD36_ONLY: dict[str, str] = {
    **{new: f"--{old}" for old, new in RENAMED_IN_ETCD36.items()},
    "feature-gates": ", ".join(f"--{old}" for old in GATED_IN_ETCD36),
    "log-format": "(none)",
}


@dataclass
class Findings:
    """What the version preflight found on one host."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _text(version: Version) -> str:
    return ".".join(str(part) for part in version)


def supported_etcd_version(kubernetes: Version) -> str:
    """The etcd image tag kubeadm picks for this Kubernetes minor (nearest known minor)."""
    minor = min(SUPPORTED_ETCD_VERSION, key=lambda known: (abs(known - kubernetes[1]), -known))
    return SUPPORTED_ETCD_VERSION[minor]


def etcd_version_and_source(
    settings: Settings, etcd_version: str, kubeadm_version: str
) -> tuple[str, str]:
    """The etcd version this host will run, and where that comes from (for messages).

    systemd: etcd_version when set (the release this deploy installs), else what the
    survey read from etcd_binary or the package. static-pod: the image tag, else
    kubeadm's SupportedEtcdVersion for the Kubernetes minor.
    """
    if settings.runtime == "systemd":
        if settings.etcd_version:
            return settings.etcd_version, f"etcd_version={settings.etcd_version!r}"
        return etcd_version, f"etcd_version='distro', etcd_binary={settings.etcd_binary!r}"
    if settings.image_tag:
        return settings.image_tag, f"etcd_image_tag={settings.image_tag!r}"
    kubernetes = parse_version(settings.kubernetes_version or kubeadm_version)
    if kubernetes is None:
        return "", ""
    tag = supported_etcd_version(kubernetes)
    return tag, f"kubeadm's default image tag {tag} for Kubernetes {_text(kubernetes)}"


def version_findings(
    host: str, settings: Settings, etcd_version: str, kubeadm_version: str
) -> Findings:
    """Every version refusal and warning for one member; versions as the survey read them."""
    findings = Findings()
    if settings.runtime == "static-pod":
        _check_kubeadm(host, settings, kubeadm_version, findings)
    version_text, source = etcd_version_and_source(settings, etcd_version, kubeadm_version)
    etcd = parse_version(version_text)
    if etcd is not None:
        _check_etcd_flags(host, settings, etcd, source, findings)
    return findings


def _check_kubeadm(host: str, settings: Settings, kubeadm_text: str, found: Findings) -> None:
    kubeadm = parse_version(kubeadm_text)
    if kubeadm is None:
        return  # a missing kubeadm is refused by the preflight's requirements
    where = f"host {host}: kubeadm {kubeadm_text}"
    minor = kubeadm[1] if kubeadm[0] == 1 else 1000
    api = settings.kubeadm_api_version
    if api in API_MIN_KUBEADM_MINOR and minor < API_MIN_KUBEADM_MINOR[api]:
        found.refusals.append(
            f"{where} does not read kubeadm_api_version={api!r} (needs kubeadm "
            f"1.{API_MIN_KUBEADM_MINOR[api]} or newer): set kubeadm_api_version='v1beta3' "
            "or upgrade kubeadm"
        )
    if api in API_MAX_KUBEADM_MINOR and minor > API_MAX_KUBEADM_MINOR[api]:
        found.refusals.append(
            f"{where} no longer reads kubeadm_api_version={api!r} (kubeadm up to "
            f"1.{API_MAX_KUBEADM_MINOR[api]}): set kubeadm_api_version='v1beta4'"
        )
    if settings.key_algorithm == "ECDSA-P384" and minor < P384_MIN_KUBEADM_MINOR:
        found.refusals.append(
            f"{where} does not know etcd_key_algorithm='ECDSA-P384' "
            f"(kubeadm 1.{P384_MIN_KUBEADM_MINOR} or newer): "
            "choose another etcd_key_algorithm or upgrade kubeadm"
        )
    tag = parse_version(settings.image_tag)
    if minor >= ONLY_36_FLAGS_KUBEADM_MINOR and tag is not None and tag < ETCD_36:
        found.refusals.append(
            f"{where} always gives etcd the 3.6 flag names (--feature-gates, "
            f"--watch-progress-notify-interval), which etcd_image_tag={settings.image_tag!r} "
            "does not know: use an etcd_image_tag of 3.6.0 or newer, or leave it empty"
        )


def _check_etcd_flags(
    host: str, settings: Settings, etcd: Version, source: str, found: Findings
) -> None:
    names = [name for name, _ in settings.extra_args]
    if etcd < ETCD_36:
        for name in names:
            if name in ETCD36_ONLY:
                found.refusals.append(
                    f"host {host}: etcd {_text(etcd)} ({source}) does not know "
                    f"--{name} from etcd_extra_args (new in etcd 3.6; before it: "
                    f"{ETCD36_ONLY[name]}): use the old name, or run etcd 3.6 or newer"
                )
        return
    for name in names:
        if name in RENAMED_IN_ETCD36:
            new = f"--{RENAMED_IN_ETCD36[name]}"
        elif name in GATED_IN_ETCD36:
            new = f"--feature-gates={GATED_IN_ETCD36[name]}=true"
        else:
            continue
        found.warnings.append(
            f"host {host}: etcd {_text(etcd)} ({source}) deprecates --{name} from "
            f"etcd_extra_args (removed in etcd 3.7): use {new} instead"
        )


def min_external_warnings(settings: Settings, found: Mapping[str, tuple[str, str]]) -> list[str]:
    """One warning per etcd version below kubeadm's MinExternalEtcdVersion, naming every
    host that runs it; ``found``: host -> (etcd version, kubeadm version) the survey read."""
    below: dict[tuple[Version, str], list[str]] = {}
    for host, (etcd_version, kubeadm_version) in sorted(found.items()):
        text, source = etcd_version_and_source(settings, etcd_version, kubeadm_version)
        etcd = parse_version(text)
        if etcd is not None and etcd < MIN_EXTERNAL_ETCD:
            below.setdefault((etcd, source), []).append(host)
    fix = (
        f"leave etcd_version unset for the default release {DEFAULT_VERSION} (from etcd "
        f"3.4 that is the one-minor upgrade), or set it to a release of "
        f"{_text(MIN_EXTERNAL_ETCD)} or newer (Debian bookworm's etcd-server is 3.4.23)"
        if settings.runtime == "systemd"
        else "set etcd_image_tag to a newer etcd image (e.g. '3.6.9-0')"
    )
    return [
        f"{'host' if len(hosts) == 1 else 'hosts'} {', '.join(hosts)}: etcd {_text(etcd)} "
        f"({source}) is older than kubeadm's MinExternalEtcdVersion "
        f"{_text(MIN_EXTERNAL_ETCD)}: a control plane's kubeadm refuses it as etcd.external; "
        f"{fix}"
        for (etcd, source), hosts in below.items()
    ]
