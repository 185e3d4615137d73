"""Stand-ins for kubeadm, kubelet and kubectl on test containers (none can be installed here).

Installed as /usr/local/bin/{kubeadm,kubelet,kubectl} (symlinks to this file); what it
does depends on the name it is called by. It does only what the deploy relies on,
and records each call with its time in /var/lib/fake-kube/calls (wall clock, shared
by all containers) so a test can check order and count:

- ``kubeadm version -o short``: v1.33.2; ``kubelet --version``: Kubernetes v1.33.2
- ``kubeadm init|join --config F``: refuses unless F is mode 600 and of the right kind
  (and, for init and control-plane joins, the shared CAs are in place); keeps a copy of
  F for the test, writes kubelet.conf (and admin.conf on init)
- ``kubeadm token create TOKEN ...``: records the token
- ``kubectl ... get node NAME``: succeeds once kubelet.conf exists; ``get --raw=/readyz``
  once admin.conf exists; ``diff -f M``: 0 when M was applied as it is; ``apply -f M``
"""

import hashlib
import os
import shutil
import stat
import sys
import time
from pathlib import Path

STATE = "/var/lib/fake-kube"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SHARED_CAS = ("ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key")


def record(call: str) -> None:
    os.makedirs(STATE, exist_ok=True)
    with open(f"{STATE}/calls", "a") as calls:
        calls.write(f"{time.time():.3f} {call}\n")


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def kubeadm(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print("v1.33.2")
        return 0
    if args[:2] == ["token", "create"]:
        record(f"token-create {args[2]}")
        return 0
    verb, config = args[0], args[args.index("--config") + 1]
    text = Path(config).read_text()
    if stat.S_IMODE(os.stat(config).st_mode) != 0o600:
        print(f"{config} is not mode 600", file=sys.stderr)
        return 1
    kind = "InitConfiguration" if verb == "init" else "JoinConfiguration"
    if f"kind: {kind}" not in text:
        print(f"{config} is not a {kind}", file=sys.stderr)
        return 1
    if verb == "init" or "controlPlane:" in text:
        missing = [f for f in SHARED_CAS if not os.path.exists(f"/etc/kubernetes/pki/{f}")]
        if missing:
            print(f"missing shared CA files: {missing}", file=sys.stderr)
            return 1
    os.makedirs(STATE, exist_ok=True)
    shutil.copy(config, f"{STATE}/{verb}.yaml")
    write(KUBELET_CONF, "fake kubelet kubeconfig\n")
    if verb == "init":
        write(ADMIN_CONF, "fake admin kubeconfig\n")
    record(verb)
    return 0


def kubectl(args: list[str]) -> int:
    if "get" in args and "node" in args:
        return 0 if os.path.exists(KUBELET_CONF) else 1
    if "--raw=/readyz" in args:
        return 0 if os.path.exists(ADMIN_CONF) else 1
    manifest = args[args.index("-f") + 1]
    digest = hashlib.sha256(Path(manifest).read_bytes()).hexdigest()
    applied = f"{STATE}/applied"
    if "diff" in args:
        same = os.path.exists(applied) and Path(applied).read_text() == digest
        return 0 if same else 1
    write(applied, digest)
    record("apply")
    return 0


def main() -> int:
    name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
    if name == "kubelet":
        print("Kubernetes v1.33.2")
        return 0
    return kubeadm(args) if name == "kubeadm" else kubectl(args)


if __name__ == "__main__":
    sys.exit(main())
