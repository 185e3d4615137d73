"""Which members must restart, how, and in what order: pure decisions over observations.

A member restarts when what it runs differs from what it should run, whatever this
run changed: its flags (the unit's command, or the static pod manifest compared whole
with what kubeadm rendered from the wanted config: ``manifest_drift``), its binary,
an environment variable the unit does not set (from a drop-in or systemd's manager
environment, ``etcd/dropins.py``),
a CA file written after it started (etcd reads its trusted CA only at start), or a
certificate it still serves although a newer one is on disk (etcd reloads its own
certificate and key on each new TLS handshake, so a renewal alone needs no restart).
Flags that only matter on a member's first start are not compared once it has data:
etcd ignores them then, and restarting for them would gain nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from etcd_cluster.engine.observe import Observation
from etcd_cluster.etcd.dropins import watched_env
from etcd_cluster.etcd.health import MemberStatus

BOOTSTRAP_ONLY_FLAGS = frozenset(
    {
        "initial-cluster",
        "initial-cluster-state",
        "initial-cluster-token",
        "initial-advertise-peer-urls",
    }
)

RESTART = "restart"  # systemd: restart the unit
REWRITE = "rewrite"  # static-pod: rerun kubeadm to rewrite the manifest, wait for the new pod
RENDER = "render"  # static-pod: the same, but a manifest kubeadm leaves as it was is kept
BOUNCE = "bounce"  # static-pod: recreate the pod from an unchanged manifest

# Rolling restart passes, in order: members already failing cost nothing to restart;
# then followers one at a time; the leader last, so leadership moves once.
PASSES = ("unhealthy", "followers", "leader")


@dataclass(frozen=True)
class Decision:
    """What to do with one member, and why (empty reasons: nothing)."""

    action: str = ""
    reasons: tuple[str, ...] = ()


def _flags(args: Sequence[str]) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    for arg in args:
        name, _, value = arg.removeprefix("--").partition("=")
        flags.setdefault(name, []).append(value)
    return flags


def flag_differences(running: Sequence[str], wanted: Sequence[str], has_data: bool) -> list[str]:
    """How two etcd argument lists (without argv[0]) differ, one entry per flag."""
    have, want = _flags(running), _flags(wanted)
    ignored = BOOTSTRAP_ONLY_FLAGS if has_data else frozenset()
    differences = []
    for name in sorted((set(have) | set(want)) - ignored):
        if name not in want:
            differences.append(f"--{name}={','.join(have[name])} is not wanted")
        elif name not in have:
            differences.append(f"--{name}={','.join(want[name])} is missing")
        elif sorted(have[name]) != sorted(want[name]):
            differences.append(f"--{name}={','.join(have[name])} should be {','.join(want[name])}")
    return differences


def _common_reasons(observation: Observation) -> list[str]:
    reasons = []
    started = observation.started_at
    if observation.ca_mtime is not None and started is not None and observation.ca_mtime > started:
        reasons.append(
            "ca.crt changed after etcd started (etcd reads its trusted CA at start only)"
        )
    for port, served, on_disk in (
        ("client", observation.served_client, observation.file_server),
        ("peer", observation.served_peer, observation.file_peer),
    ):
        if served and on_disk and served != on_disk:
            reasons.append(f"serves an older certificate on its {port} port than the one on disk")
    return reasons


def systemd_decision(
    observation: Observation, wanted_command: Sequence[str], has_data: bool
) -> Decision:
    """Restart the unit when the running process differs from the unit's command."""
    if not observation.running:
        return Decision()  # not running: starting it (systemd.service) is enough
    reasons = []
    differences = flag_differences(observation.args[1:], wanted_command[1:], has_data)
    if differences:
        reasons.append("runs with other flags: " + "; ".join(differences))
    if observation.args[0] != wanted_command[0]:
        reasons.append(f"runs {observation.args[0]}, the unit says {wanted_command[0]}")
    if observation.binary_replaced:
        reasons.append("its etcd binary was replaced on disk since it started")
    extra_env = watched_env(observation.env)  # the deploy's unit sets none of them
    if extra_env:
        reasons.append(f"runs with {', '.join(extra_env)} in its environment, not set by the unit")
    reasons += _common_reasons(observation)
    return Decision(RESTART if reasons else "", tuple(reasons))


def manifest_drift(observation: Observation, wanted_config_sha256: str) -> list[str]:
    """Why the live manifest is not what kubeadm rendered from the wanted kubeadm config.

    The manifest is compared whole, through kubeadm itself: each time kubeadm renders it,
    the deploy records the sha256 of the config kubeadm read and of the manifest it wrote
    (``runtime.RENDERED_RECORD``). A manifest whose sha256 is not the recorded one was
    changed by something else (a flag, the image, a volume, env); a record of another
    config means the wanted config changed since (a flag added or removed). Rendering
    locally instead would have to copy kubeadm's every version's defaults; what kubeadm
    varies between its versions is thereby kubeadm's, never a difference.
    """
    if not observation.manifest_sha256 or not wanted_config_sha256:
        return []
    if not observation.rendered_manifest_sha256:
        return ["no record of what kubeadm rendered: kubeadm renders the manifest again"]
    if observation.manifest_sha256 != observation.rendered_manifest_sha256:
        return ["the manifest is not the one kubeadm rendered (changed by hand?)"]
    if observation.rendered_config_sha256 != wanted_config_sha256:
        return ["kubeadm rendered the manifest from another kubeadm config"]
    return []


def static_pod_decision(
    observation: Observation,
    wanted_extra_args: Sequence[tuple[str, str]],
    wanted_image: str,
    has_data: bool,
    wanted_config_sha256: str = "",
) -> Decision:
    """Render the manifest through kubeadm again when it is not what kubeadm rendered from
    the wanted config (``manifest_drift``) or does not say what the config says; recreate
    the pod when the running container does not run the manifest (or must reload its CA).

    A manifest kubeadm must render again is rendered with ``render`` when the container
    runs it (a new manifest replaces the pod; the same one restarts nothing), else with
    ``rewrite`` (the same manifest then bounces the pod).
    """
    if observation.runtime_error:
        return Decision(
            "error",
            (
                f"crictl cannot reach the container runtime: {observation.runtime_error}; "
                "start the runtime (containerd, CRI-O) or point "
                "kubelet_container_runtime_endpoint at its socket",
            ),
        )
    if not observation.manifest_sha256 and not observation.manifest_args:
        return Decision()  # no manifest: the first start writes it
    manifest = _flags(observation.manifest_args[1:])
    ignored = BOOTSTRAP_ONLY_FLAGS if has_data else frozenset()
    stale = [
        f"--{name}={value}"
        for name, value in wanted_extra_args
        if name not in ignored and value not in manifest.get(name, [])
    ]
    to_render = manifest_drift(observation, wanted_config_sha256)
    if stale:
        to_render.append(f"the manifest lacks {', '.join(stale)} from the kubeadm config")
    if wanted_image and observation.manifest_image != wanted_image:
        to_render.append(f"the manifest runs {observation.manifest_image}, wanted {wanted_image}")
    if not observation.running:
        return Decision(RENDER if to_render else "", tuple(to_render))  # kubelet starts it
    reasons = []
    if list(observation.args[1:]) != list(observation.manifest_args[1:]):
        reasons.append("the running container does not run the current manifest")
    reasons += _common_reasons(observation)
    if to_render:
        return Decision(REWRITE if reasons else RENDER, tuple(to_render + reasons))
    return Decision(BOUNCE if reasons else "", tuple(reasons))


def in_pass(pass_name: str, status: MemberStatus | None) -> bool:
    """Whether a member that must restart does so in ``pass_name`` (see ``PASSES``)."""
    healthy = status is not None and status.healthy
    if pass_name == "unhealthy":
        return not healthy
    if pass_name == "followers":
        return healthy and status is not None and not status.is_leader
    return True  # the last pass takes whatever is left
