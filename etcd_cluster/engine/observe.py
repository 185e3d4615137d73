"""What a member's etcd is running now: one remote script, parsed into an ``Observation``.

Restarts are decided from this, never from what the current run happened to change:
a run that stopped half way leaves members whose files are converged but whose
process still runs the old flags, and the next run must still see that.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from etcd_cluster import scripts
from etcd_cluster.certs.certlist import ETCD_CA, ETCD_HEALTHCHECK_CLIENT, ETCD_PEER, ETCD_SERVER
from etcd_cluster.engine.remote import RemoteFile
from etcd_cluster.etcd.cluster import Cluster, Member, join_host_port
from etcd_cluster.etcd.flags import version_text
from etcd_cluster.etcd.kubeadm_config import manifest_path
from etcd_cluster.etcd.runtime import RENDERED_RECORD, SYSTEMD_UNIT
from etcd_cluster.etcd.safety import SafeLoader

NOTHING_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class Observation:
    """One member's etcd as its host sees it."""

    clock: float | None = None  # the host's time, epoch seconds
    args: tuple[str, ...] = ()  # argv of the running etcd; empty: not running
    env: tuple[str, ...] = ()  # systemd: the names in the running etcd's environment
    started_at: float | None = None  # epoch seconds
    binary_replaced: bool = False  # the running binary was deleted or replaced on disk
    needs_daemon_reload: bool = False  # systemd: the unit file changed since systemd read it
    running_version: str = ""  # systemd: the running binary's version ("" unknown)
    container_id: str = ""  # static-pod: the running etcd container
    manifest_args: tuple[str, ...] = ()  # static-pod: the manifest's command
    manifest_image: str = ""
    manifest_sha256: str = ""  # static-pod: the manifest file's sha256 ("" no manifest)
    # static-pod: what kubeadm last rendered for the deploy (RENDERED_RECORD): the sha256
    # of the kubeadm config it read and of the manifest it wrote ("" no record)
    rendered_config_sha256: str = ""
    rendered_manifest_sha256: str = ""
    runtime_error: str = ""  # static-pod: crictl could not reach the container runtime
    ca_mtime: float | None = None
    file_server: str = ""  # sha256 of the certificate files on disk
    file_peer: str = ""
    served_client: str = ""  # sha256 of what etcd serves ("" nothing answered)
    served_peer: str = ""
    latest_snapshot: str = ""  # newest scheduled snapshot file in etcd_backup_dir
    latest_snapshot_mtime: float | None = None
    backup_result: str = ""  # the last etcd-backup.service run: systemd's Result ("" unknown)
    backup_exit_status: str = ""  # its main process's exit status
    backup_exit_at: float | None = None  # when it ended
    backup_due: float | None = None  # the schedule came due twice after the newest snapshot

    @property
    def running(self) -> bool:
        return bool(self.args)

    @property
    def shows_stopped(self) -> bool:
        """Whether the host positively showed etcd not running: the script ran (it told
        the time) and could see (crictl answered). A failed look shows nothing, and the
        quorum gate must then count the member as up."""
        return self.clock is not None and not self.runtime_error and not self.running

    def version(self) -> str:
        """The etcd version this member runs: the binary's, or the static pod image's tag."""
        if self.running_version:
            return self.running_version
        return version_text(self.manifest_image.rpartition(":")[2])


def observe_command(
    cluster: Cluster, member: Member, files_read: bool = False, binary: str = ""
) -> str:
    """``files_read``: the caller has read the certificate files already
    (``certificate_sha256``), the script need not run openssl on them again. ``binary``:
    the caller asks it for its version already; a process running it is not asked again
    (``running_binary:yes``)."""
    s = cluster.settings
    pki = s.pki_dir
    return scripts.command(
        "observe_etcd",
        s.runtime,
        SYSTEMD_UNIT,
        manifest_path(cluster),
        s.kubelet_container_runtime_endpoint,
        ETCD_CA.cert_path(pki),
        ETCD_SERVER.cert_path(pki),
        ETCD_PEER.cert_path(pki),
        ETCD_HEALTHCHECK_CLIENT.cert_path(pki),
        ETCD_HEALTHCHECK_CLIENT.key_path(pki),
        join_host_port(member.address, s.client_port),
        join_host_port(member.address, s.peer_port),
        s.backup_dir,
        member.name,
        "yes" if files_read else "",
        binary,
        s.backup_schedule,
        RENDERED_RECORD,
    )


def certificate_sha256(pem: bytes | None) -> str:
    """sha256 of a PEM certificate's DER, as the script's ``fingerprint`` prints it ("" when
    it is no certificate)."""
    try:
        certificate = x509.load_pem_x509_certificate(pem or b"")
    except ValueError:
        return ""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def with_certificate_files(
    observation: Observation, files: Mapping[str, RemoteFile | None], pki_dir: str
) -> Observation:
    """``observation`` with the fingerprints of the server and peer certificate files as
    ``files`` holds them (what the caller read or wrote: ``observe_command``'s
    ``files_read``)."""
    server, peer = (files.get(spec.cert_path(pki_dir)) for spec in (ETCD_SERVER, ETCD_PEER))
    return replace(
        observation,
        file_server=certificate_sha256(server.content if server else None),
        file_peer=certificate_sha256(peer.content if peer else None),
    )


def parse_observation(lines: Sequence[str]) -> Observation:
    values: dict[str, str] = {}
    args: list[str] = []
    env: list[str] = []
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if key == "arg":
            args.append(value)
        elif key == "env":
            env.append(value)
        else:
            values[key] = value.strip()
    fields: dict = {
        "clock": _float(values.get("now")),
        "ca_mtime": _float(values.get("ca_mtime")),
        "file_server": _digest(values.get("file_server")),
        "file_peer": _digest(values.get("file_peer")),
        "served_client": _digest(values.get("served_client")),
        "served_peer": _digest(values.get("served_peer")),
        "runtime_error": values.get("runtime_error", ""),
    }
    config, _, manifest = values.get("rendered", "").partition(" ")
    fields["rendered_config_sha256"], fields["rendered_manifest_sha256"] = config, manifest
    snapshot, _, mtime = values.get("snapshot", "").rpartition(" ")
    if snapshot:
        fields["latest_snapshot"], fields["latest_snapshot_mtime"] = snapshot, _float(mtime)
    fields["backup_result"] = values.get("backup_Result", "")
    fields["backup_exit_status"] = values.get("backup_ExecMainStatus", "")
    fields["backup_exit_at"] = _float(values.get("backup_ExecMainExitTimestamp", "").lstrip("@"))
    fields["backup_due"] = _float(values.get("backup_due"))
    if "pid" in values:  # systemd
        fields["args"] = tuple(args)
        fields["env"] = tuple(env)
        fields["started_at"] = _float(values.get("started"))
        fields["binary_replaced"] = values.get("exe", "").endswith(" (deleted)")
        fields["needs_daemon_reload"] = values.get("need_reload") == "yes"
        fields["running_version"] = version_text(values.get("running_version", ""))
    else:
        fields.update(_container(values.get("container", ""), values.get("inspect", "")))
        fields.update(_manifest(values.get("manifest_b64", "")))
    return Observation(**fields)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _digest(text: str | None) -> str:
    return "" if not text or text == NOTHING_SHA256 else text


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""


def _container(container_id: str, inspect: str) -> dict:
    """The running container's argv and start time, from ``crictl inspect``."""
    if not container_id:
        return {}
    try:
        data = json.loads(_decoded(inspect) or b"{}")
    except ValueError:
        data = {}
    info = data.get("info") or {}
    args = ((info.get("runtimeSpec") or {}).get("process") or {}).get("args")
    if not args:
        config = info.get("config") or {}
        args = [*(config.get("command") or []), *(config.get("args") or [])]
    started = _rfc3339((data.get("status") or {}).get("startedAt"))
    return {"container_id": container_id, "args": tuple(args or ("?",)), "started_at": started}


def _rfc3339(text: object) -> float | None:
    """crictl's RFC 3339 timestamps carry nanoseconds; Python parses microseconds."""
    if not isinstance(text, str) or not text:
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _manifest(encoded: str) -> dict:
    """The static pod manifest's sha256, etcd command and image."""
    if not encoded:
        return {}
    content = _decoded(encoded)
    found: dict = {"manifest_sha256": hashlib.sha256(content).hexdigest()}
    try:
        pod = yaml.load(content, Loader=SafeLoader)
    except yaml.YAMLError:
        pod = None
    if not isinstance(pod, dict):
        return found
    for container in (pod.get("spec") or {}).get("containers") or []:
        if isinstance(container, dict) and container.get("name") == "etcd":
            command = [*(container.get("command") or []), *(container.get("args") or [])]
            return {
                **found,
                "manifest_args": tuple(str(a) for a in command),
                "manifest_image": str(container.get("image", "")),
            }
    return found
