"""The cluster model: members in inventory order, their URLs, and the checks on them.

The first member of the ``etcd`` group is the guide's HOST0: it keeps ``ca.key``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence, Sized
from dataclasses import dataclass, field
from typing import Any

from etcd_cluster.errors import DeployInputError
from etcd_cluster.settings import Settings, is_dns_name, san_list


def join_host_port(address: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass(frozen=True)
class Member:
    """One etcd member: its pyinfra host name, etcd name and address."""

    index: int
    host: str
    name: str
    address: str
    server_sans: tuple[str, ...] = ()
    peer_sans: tuple[str, ...] = ()
    # Bootstrap flags when they are not the inventory's (etcd reads them on a first start
    # only): those a member with data was started with, or a joining member's live list.
    initial_cluster: str = ""
    initial_cluster_state: str = ""

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.address

    @property
    def loopback(self) -> str:
        """kubeadm's local address for the metrics/probe listener."""
        return "::1" if self.is_ipv6 else "127.0.0.1"

    def client_url(self, port: int) -> str:
        return f"https://{join_host_port(self.address, port)}"

    def peer_url(self, port: int) -> str:
        return f"https://{join_host_port(self.address, port)}"


@dataclass(frozen=True)
class Cluster:
    """Members plus settings: everything derived from them is computed here."""

    members: tuple[Member, ...]
    settings: Settings
    warnings: tuple[str, ...] = field(default=())

    @property
    def first(self) -> Member:
        return self.members[0]

    @property
    def quorum(self) -> int:
        return len(self.members) // 2 + 1

    @property
    def initial_cluster(self) -> str:
        port = self.settings.peer_port
        return ",".join(f"{m.name}={m.peer_url(port)}" for m in self.members)

    @property
    def client_endpoints(self) -> list[str]:
        return [m.client_url(self.settings.client_port) for m in self.members]

    def member(self, host: str) -> Member:
        for member in self.members:
            if member.host == host:
                return member
        raise KeyError(host)


def canonical_address(host: str, value: Any) -> str:
    """An IPv4 or IPv6 literal in canonical form, or a DeployInputError naming host and value.

    Scoped IPv6 addresses (``fe80::1%eth0``, which ``ipaddress`` accepts) are refused:
    the zone means nothing to the other members and cannot go into a URL or a SAN.
    """
    try:
        address = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        raise DeployInputError(
            f"host {host}: etcd_address={value!r} is not a valid IPv4 or IPv6 address: set "
            "etcd_address in the inventory to the IP address this member listens on "
            "(e.g. 10.0.0.6)"
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise DeployInputError(
            f"host {host}: etcd_address={value!r} is a scoped IPv6 address "
            f"(zone {address.scope_id!r}): use an address the other members can reach "
            "without a zone (a global or unique local one)"
        )
    return str(address)


def default_address(host: str) -> str | None:
    """The inventory name when it is an IP literal (the guide's HOST0..2), else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class MemberInput:
    """A member as the inventory describes it, before validation."""

    host: str
    name: Any = None
    address: Any = None
    server_sans: Any = None
    peer_sans: Any = None


def require_members(hosts: Sized) -> None:
    if not hosts:
        raise DeployInputError("inventory group 'etcd' is empty: list 1, 3, 5 or 7 members")


def build_cluster(hosts: Sequence[MemberInput], settings: Settings) -> Cluster:
    """Validate the ``etcd`` group, in inventory order, into a ``Cluster``.

    Refuses an empty group, bad or duplicate names and addresses, and mixed address
    families; warns about an even member count (no fault-tolerance gain over n-1).
    """
    require_members(hosts)
    members = []
    for index, entry in enumerate(hosts):
        host, address = entry.host, entry.address
        name = f"infra{index}" if entry.name in (None, "") else entry.name
        if not isinstance(name, str) or not is_dns_name(name) or name.startswith("*"):
            raise DeployInputError(
                f"host {host}: etcd_name={name!r} must be an RFC 1123 DNS name "
                "(lower-case letters, digits, '-' and '.')"
            )
        if address in (None, ""):
            address = default_address(host)
            if address is None:
                raise DeployInputError(
                    f"host {host}: etcd_address is required "
                    "(the inventory name is not an IP address): add it to the host's data, "
                    f'e.g. ("{host}", {{"etcd_address": "10.0.0.6"}})'
                )
        members.append(
            Member(
                index,
                host,
                name,
                canonical_address(host, address),
                san_list(f"host {host}: etcd_server_cert_sans", entry.server_sans),
                san_list(f"host {host}: etcd_peer_cert_sans", entry.peer_sans),
            )
        )

    _refuse_duplicates(members, "etcd_name", lambda m: m.name)
    _refuse_duplicates(members, "etcd_address", lambda m: m.address)
    families = {m.is_ipv6 for m in members}
    if len(families) > 1:
        listing = ", ".join(f"{m.host}={m.address}" for m in members)
        raise DeployInputError(
            f"etcd_address mixes IPv4 and IPv6 ({listing}); etcd members must share one family: "
            "give every member an IPv4 address, or every member an IPv6 one"
        )
    warnings = list(settings.notices)
    if len(members) % 2 == 0:
        warnings.append(
            f"the etcd group has {len(members)} members: an even count tolerates no more "
            f"failures than {len(members) - 1}; prefer an odd count"
        )
    return Cluster(tuple(members), settings, tuple(warnings))


def _refuse_duplicates(members: list[Member], key: str, value_of: Any) -> None:
    seen: dict[str, Member] = {}
    for member in members:
        value = value_of(member)
        if value in seen:
            raise DeployInputError(
                f"{key}={value!r} is used by both {seen[value].host} and {member.host}: "
                f"give each member its own {key}"
            )
        seen[value] = member
