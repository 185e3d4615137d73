"""A bed's hosts over real ssh, the way operators reach theirs.

The docker connector skips what an operator's run goes through: ssh, a non-root login
and sudo.  :func:`setup` makes a bed reachable that way too: openssh-server (in the
image) started, a user ``deploy`` with a throwaway authorized key and ``NOPASSWD``
sudo, and an inventory that logs in as ``deploy`` and sudoes (``_sudo: True``).  The
hosts stay reachable through the docker connector as well, so one bed can be driven
both ways (the end-to-end ssh tests, and the benchmark's two connectors).
"""

from __future__ import annotations

import pprint
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sandbox import bed

USER = "deploy"

SETUP = (
    f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/sh {USER}; "
    f"install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh && "
    f"printf '%s\\n' \"$1\" > /home/{USER}/.ssh/authorized_keys && "
    f"chown {USER}: /home/{USER}/.ssh/authorized_keys && "
    f"echo '{USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{USER} && "
    f"chmod 440 /etc/sudoers.d/{USER} && "
    "systemctl enable --now ssh"
)
"""Run as root on each host (``sh -c SETUP sh KEY``): the login user, its key, sudo, sshd."""


def login_key(workdir: Path) -> tuple[Path, str]:
    """A fresh ed25519 key: its private file (mode 600) in ``workdir``, and its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = workdir / "id_ed25519"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, f"{public.decode()} {USER}@test"


def authorize(nodes: Sequence[bed.Node], public: str) -> None:
    """Run :data:`SETUP` on every node (through docker, as root) for the ``public`` key."""
    for node in nodes:
        result = bed.exec(node, ["sh", "-c", SETUP, "sh", public])
        if result.returncode != 0:
            raise bed.BedError(f"{node.container}: ssh setup failed: {result.stderr.strip()}")


def inventory(
    nodes: Sequence[bed.Node], host_data: Mapping[str, object], key: Path, known_hosts: Path
) -> list[tuple[str, dict[str, object]]]:
    """pyinfra entries reaching ``nodes`` at their IPv4 address as ``deploy`` with sudo
    (``etcd_version='distro'`` unless ``host_data`` says otherwise, as :func:`bed.inventory`)."""
    return [
        (
            node.ipv4,
            {
                "etcd_version": "distro",
                **host_data,
                "etcd_address": node.address,
                "ssh_user": USER,
                "ssh_key": str(key),
                "ssh_known_hosts_file": str(known_hosts),
                "_sudo": True,
            },
        )
        for node in nodes
    ]


def setup(nodes: Sequence[bed.Node], workdir: Path, host_data: Mapping[str, object]) -> Path:
    """Make ``nodes`` reachable over ssh; return the inventory (``workdir/inventory-ssh.py``).

    The key and the known-hosts file (filled on first connection) live in ``workdir``.
    """
    key, public = login_key(workdir)
    authorize(nodes, public)
    entries = inventory(nodes, host_data, key, workdir / "known_hosts")
    path = workdir / "inventory-ssh.py"
    path.write_text(f"etcd = {pprint.pformat(entries)}\n")
    return path
