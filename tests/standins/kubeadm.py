#!/usr/bin/python3
"""Stand-in for ``kubeadm`` inside test-bed containers (installed as /usr/bin/kubeadm).

Models, after kubeadm's source (``cmd/kubeadm/app/phases/etcd/local.go``):

- ``kubeadm version [-o short|json]``: the version from /etc/standins/kubeadm-version
  (default v1.34.1).
- ``kubeadm init phase etcd local --config=PATH``: reads the InitConfiguration and
  ClusterConfiguration (v1beta4: extraArgs a list of {name, value}; v1beta3: a map),
  computes etcd's command like getEtcdCommand (base flags, extraArgs replace base
  flags by name, sorted by name then value) and writes the static pod manifest
  /etc/kubernetes/manifests/etcd.yaml (dir 0700, file 0600) with kubeadm's Pod shape.
  The v1.34 rule for flag names is simplified: etcd >= 3.6 names only when
  ``etcd.local.imageTag`` is >= 3.6.0; otherwise (and when no tag is set, since the
  stand-in's default image is 3.5.24-0) the experimental names.
- Version rules of real kubeadm: v1beta4 needs 1.31+, v1beta3 is gone after 1.35,
  ECDSA-P384 needs 1.34+. A missing ``kubernetesVersion`` prints the warning real
  kubeadm prints when it cannot resolve ``stable-1`` offline.

Not modelled: certificates, preflight checks, patches, extraEnvs, probes taken from
``listen-metrics-urls``. Differences: the manifest is written through a dot-file and
a rename (real kubeadm truncates and rewrites it in place), so the stand-in kubelet
never reads half a file.

Failure injection: when /etc/standins/kubeadm-fail exists, ``init phase etcd local``
prints its content on stderr and exits 1 without touching the manifest.
Standalone on purpose: runs with the container's python3 + PyYAML only.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

VERSION_FILE = Path("/etc/standins/kubeadm-version")
FAIL_FILE = Path("/etc/standins/kubeadm-fail")
MANIFESTS_DIR = Path("/etc/kubernetes/manifests")  # fixed in kubeadm (no flag)
DEFAULT_VERSION = "v1.34.1"
DEFAULT_IMAGE_REPOSITORY = "registry.k8s.io"
DEFAULT_ETCD_TAG = "3.5.24-0"
USAGE = "usage: kubeadm version [-o short|json] | kubeadm init phase etcd local --config=PATH"


class ConfigError(Exception):
    """The config cannot be used; kubeadm prints the message and exits 1."""


def client_version() -> str:
    try:
        return VERSION_FILE.read_text().strip() or DEFAULT_VERSION
    except OSError:
        return DEFAULT_VERSION


def _version_tuple(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(p or 0) for p in match.groups()) if match else None


def load_config(text: str, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(InitConfiguration, ClusterConfiguration) from a multi-document kubeadm config."""
    docs = {doc.get("kind"): doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)}
    cluster_config = docs.get("ClusterConfiguration") or {}
    init_config = docs.get("InitConfiguration") or {}
    api = (cluster_config or init_config).get("apiVersion", "")
    minor = (_version_tuple(version) or (1, 34, 0))[:2]
    if api == "kubeadm.k8s.io/v1beta4" and minor < (1, 31):
        raise ConfigError(f'no kind "ClusterConfiguration" is registered for version "{api}"')
    if api == "kubeadm.k8s.io/v1beta3" and minor > (1, 35):
        raise ConfigError(f'no kind "ClusterConfiguration" is registered for version "{api}"')
    if api not in ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"):
        raise ConfigError(f"unsupported kubeadm config apiVersion {api!r}")
    algorithm = cluster_config.get("encryptionAlgorithm", "")
    if algorithm == "ECDSA-P384" and minor < (1, 34):
        raise ConfigError(f"invalid encryptionAlgorithm {algorithm!r}")
    return init_config, cluster_config


def extra_args(local: dict[str, Any], api: str) -> list[tuple[str, str]]:
    raw = local.get("extraArgs") or ([] if api.endswith("v1beta4") else {})
    if api.endswith("v1beta4"):
        if not isinstance(raw, list):
            raise ConfigError("etcd.local.extraArgs: v1beta4 expects a list of {name, value}")
        return [(str(arg["name"]), str(arg["value"])) for arg in raw]
    if not isinstance(raw, dict):
        raise ConfigError("etcd.local.extraArgs: v1beta3 expects a map")
    return [(str(name), str(value)) for name, value in raw.items()]


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def etcd_image(local: dict[str, Any], cluster_config: dict[str, Any]) -> tuple[str, str]:
    """(image, tag) as GetEtcdImage picks them, with the stand-in's fixed default tag."""
    repository = (
        local.get("imageRepository")
        or cluster_config.get("imageRepository")
        or DEFAULT_IMAGE_REPOSITORY
    )
    tag = local.get("imageTag") or DEFAULT_ETCD_TAG
    return f"{repository}/etcd:{tag}", tag


def etcd_command(init_config: dict[str, Any], cluster_config: dict[str, Any]) -> list[str]:
    """getEtcdCommand for an init node: ``["etcd", "--name=value", ...]``."""
    local = (cluster_config.get("etcd") or {}).get("local") or {}
    address = (init_config.get("localAPIEndpoint") or {}).get("advertiseAddress")
    if not address:
        raise ConfigError("localAPIEndpoint.advertiseAddress is required by this stand-in")
    name = (init_config.get("nodeRegistration") or {}).get("name") or socket.gethostname()
    loopback = "::1" if ipaddress.ip_address(address).version == 6 else "127.0.0.1"
    pki = cluster_config.get("certificatesDir") or "/etc/kubernetes/pki"
    data_dir = local.get("dataDir") or "/var/lib/etcd"
    client = f"https://{_host_port(address, 2379)}"
    peer = f"https://{_host_port(address, 2380)}"
    base = [
        ("name", name),
        ("listen-client-urls", f"https://{_host_port(loopback, 2379)},{client}"),
        ("advertise-client-urls", client),
        ("listen-peer-urls", peer),
        ("initial-advertise-peer-urls", peer),
        ("data-dir", data_dir),
        ("cert-file", f"{pki}/etcd/server.crt"),
        ("key-file", f"{pki}/etcd/server.key"),
        ("trusted-ca-file", f"{pki}/etcd/ca.crt"),
        ("client-cert-auth", "true"),
        ("peer-cert-file", f"{pki}/etcd/peer.crt"),
        ("peer-key-file", f"{pki}/etcd/peer.key"),
        ("peer-trusted-ca-file", f"{pki}/etcd/ca.crt"),
        ("peer-client-cert-auth", "true"),
        ("snapshot-count", "10000"),
        ("listen-metrics-urls", f"http://{_host_port(loopback, 2381)}"),
        ("initial-cluster", f"{name}={peer}"),
    ]
    if (_version_tuple(local.get("imageTag") or "") or (0,)) >= (3, 6, 0):
        base += [("feature-gates", "InitialCorruptCheck=true")]
        base += [("watch-progress-notify-interval", "5s")]
    else:
        base += [("experimental-initial-corrupt-check", "true")]
        base += [("experimental-watch-progress-notify-interval", "5s")]
    extra = extra_args(local, cluster_config.get("apiVersion", ""))
    overridden = {arg_name for arg_name, _ in extra}
    merged = sorted([arg for arg in base if arg[0] not in overridden] + extra)
    return ["etcd"] + [f"--{key}={value}" for key, value in merged]


def _probe(host: str, path: str, **numbers: int) -> dict[str, Any]:
    get = {"host": host, "path": path, "port": 2381, "scheme": "HTTP"}
    return {"httpGet": get, **numbers}


def etcd_pod(init_config: dict[str, Any], cluster_config: dict[str, Any]) -> dict[str, Any]:
    """The Pod kubeadm (v1.34) writes, as a dict; dumped with sorted keys like kubeadm."""
    local = (cluster_config.get("etcd") or {}).get("local") or {}
    address = init_config["localAPIEndpoint"]["advertiseAddress"]
    loopback = "::1" if ipaddress.ip_address(address).version == 6 else "127.0.0.1"
    pki = cluster_config.get("certificatesDir") or "/etc/kubernetes/pki"
    data_dir = local.get("dataDir") or "/var/lib/etcd"
    image, _ = etcd_image(local, cluster_config)
    container = {
        "command": etcd_command(init_config, cluster_config),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": _probe(
            loopback,
            "/livez",
            failureThreshold=8,
            initialDelaySeconds=10,
            periodSeconds=10,
            timeoutSeconds=15,
        ),
        "name": "etcd",
        "readinessProbe": _probe(
            loopback, "/readyz", failureThreshold=3, periodSeconds=1, timeoutSeconds=15
        ),
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
        "startupProbe": _probe(
            loopback,
            "/readyz",
            failureThreshold=24,
            initialDelaySeconds=10,
            periodSeconds=10,
            timeoutSeconds=15,
        ),
        "volumeMounts": [
            {"mountPath": data_dir, "name": "etcd-data"},
            {"mountPath": f"{pki}/etcd", "name": "etcd-certs"},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "annotations": {
                "kubeadm.kubernetes.io/etcd.advertise-client-urls": (
                    f"https://{_host_port(address, 2379)}"
                )
            },
            "labels": {"component": "etcd", "tier": "control-plane"},
            "name": "etcd",
            "namespace": "kube-system",
        },
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [
                {
                    "hostPath": {"path": f"{pki}/etcd", "type": "DirectoryOrCreate"},
                    "name": "etcd-certs",
                },
                {"hostPath": {"path": data_dir, "type": "DirectoryOrCreate"}, "name": "etcd-data"},
            ],
        },
        "status": {},
    }


def write_manifest(pod: dict[str, Any], directory: Path = MANIFESTS_DIR) -> Path:
    """WriteStaticPodToDisk: dir 0700 (created if missing), file 0600; via a dot-file."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / "etcd.yaml"
    staged = directory / ".etcd.yaml.kubeadm-tmp"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(yaml.safe_dump(pod, default_flow_style=False))
    os.chmod(staged, 0o600)
    os.replace(staged, target)
    return target


def init_phase_etcd_local(config_path: str) -> int:
    if FAIL_FILE.exists():
        sys.stderr.write(FAIL_FILE.read_text())
        return 1
    version = client_version()
    try:
        text = Path(config_path).read_text()
        init_config, cluster_config = load_config(text, version)
        if not cluster_config.get("kubernetesVersion"):
            print(
                "W0000 could not fetch a Kubernetes version from the internet: unable to get "
                'URL "https://dl.k8s.io/release/stable-1.txt": no network (stand-in); '
                f"falling back to the local client version: {version}",
                file=sys.stderr,
            )
        pod = etcd_pod(init_config, cluster_config)
    except (OSError, ConfigError, KeyError, ValueError, yaml.YAMLError) as error:
        print(f"error execution phase etcd-local: {error}", file=sys.stderr)
        return 1
    print(f'[etcd] Creating static Pod manifest for local etcd in "{MANIFESTS_DIR}"')
    write_manifest(pod)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["version"]:
        output = " ".join(argv[1:]).replace("--output", "-o").replace("=", " ")
        output = output.removeprefix("-o").strip()
        if output == "short":
            print(client_version())
        elif output == "json":
            print(f'{{"clientVersion": {{"gitVersion": "{client_version()}"}}}}')
        else:
            print(f'kubeadm version: &version.Info{{GitVersion:"{client_version()}"}}')
        return 0
    if argv[:4] == ["init", "phase", "etcd", "local"]:
        rest = argv[4:]
        config = ""
        for index, arg in enumerate(rest):
            if arg.startswith("--config="):
                config = arg.split("=", 1)[1]
            elif arg == "--config" and index + 1 < len(rest):
                config = rest[index + 1]
        if config:
            return init_phase_etcd_local(config)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
