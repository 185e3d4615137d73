"""Off-host copies end to end: three members copy their scheduled snapshots to a fourth
bed host over sftp (openssh's sftp server, a real remote), with Debian's rclone and age
installed by the deploy (the containers reach Debian's mirror through the host's NAT).

In file order on one bed: the deploy installs rclone, age and the operator's rclone
configuration (mode 600, its content in no output: -vvv --debug, --dry --diff), a rerun
changes nothing at the cost of one command per member; each member's snapshot lands on
the remote under ``<cluster>/<member>/<cluster>-<member>-<UTC time>.tar.age``, decrypts
with the test's identity (kept on the sftp host, never on a member) and holds what
archive-format.md says, ca.key only from the first member; tiered retention keeps
exactly the tiers after ``touch -d`` made-up ages, locally and on the remote; an
unreachable remote (iptables) fails etcd-backup.service and status.py shows it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bench.counting import count_over_docker
from sandbox import bed
from tests.e2e.conftest import Bed, Run, deploy_ok, out, pyinfra, sh

pytestmark = pytest.mark.e2e

PREFIX = "etcd-e2e-offsite"
BACKUPS = "/var/backups/etcd"
REMOTE_DIR = "/srv/etcd-backups"
CLUSTER = "e2e"
CANARY = "canary-rclone-5e1b7d"
SFTP_USER = "offsite"


@dataclass
class Offsite:
    cluster: Bed
    server: bed.Node  # the sftp host: not a member
    conf: Path  # the operator's rclone configuration (holds the sftp login key)
    secrets: list[str]  # what must never show: the canary, the key's base64 lines


SERVER_SETUP = f"""set -e
useradd -m -s /bin/sh {SFTP_USER}
install -d -m 700 -o {SFTP_USER} -g {SFTP_USER} /home/{SFTP_USER}/.ssh {REMOTE_DIR}
printf '%s\\n' "$1" >/home/{SFTP_USER}/.ssh/authorized_keys
chown {SFTP_USER}: /home/{SFTP_USER}/.ssh/authorized_keys
systemctl enable --now ssh >/dev/null 2>&1
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends age >/dev/null
age-keygen -o /root/identity.txt 2>/dev/null
age-keygen -y /root/identity.txt
"""


@pytest.fixture(scope="module")
def offsite(tmp_path_factory) -> Iterator[Offsite]:
    nodes = bed.up(PREFIX, 4, subnet_index=25)
    try:
        members, server = nodes[:3], nodes[3]
        workdir = tmp_path_factory.mktemp(PREFIX)
        login = ed25519.Ed25519PrivateKey.generate()
        pem = login.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public = login.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        done = sh(server, f"sh -c {sh_quote(SERVER_SETUP)} setup {sh_quote(public.decode())}")
        assert done.returncode == 0, done.stderr.decode()
        recipient = done.stdout.decode().strip().splitlines()[-1]
        assert recipient.startswith("age1"), done.stdout
        conf = workdir / "rclone.conf"
        one_line = pem.strip().replace("\n", "\\n")  # rclone's key_pem: \n for newlines
        conf.write_text(
            f"# {CANARY}\n[offsite]\ntype = sftp\nhost = {server.address}\n"
            f"user = {SFTP_USER}\nkey_pem = {one_line}\n"
            "shell_type = unix\ndisable_hashcheck = true\n"
        )
        host_data = {
            "etcd_runtime": "systemd",
            "etcd_health_timeout": 90,
            "etcd_external_config_path": str(workdir / "etcd-external.yaml"),
            "etcd_cluster_name": CLUSTER,
            "etcd_backup_remote": f"offsite:{REMOTE_DIR}",
            "etcd_backup_rclone_config": str(conf),
            "etcd_backup_age_recipient": recipient,
            "etcd_backup_keep_hourly": 3,
            "etcd_backup_keep_daily": 3,
            "etcd_backup_keep_weekly": 3,
        }
        inventory = bed.write_inventory(workdir / "inventory.py", members, host_data=host_data)
        body = [line for line in pem.splitlines() if "PRIVATE KEY" not in line]
        yield Offsite(Bed(members, inventory, workdir, host_data), server, conf, [CANARY, *body])
    finally:
        bed.down(PREFIX)


def sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def shown(secrets: list[str], output: str) -> list[str]:
    """Each secret as it would show: raw, or base64 at any alignment."""
    found = []
    for secret in secrets:
        raw = secret.encode()
        encoded = [base64.b64encode(b"\0" * pad + raw).decode()[4:-4] for pad in range(3)]
        found += [s for s in (secret, *encoded) if s in output]
    return found


def test_the_deploy_installs_rclone_age_and_the_config_without_showing_it(offsite: Offsite):
    b = offsite.cluster
    run = deploy_ok(b.inventory, "-vvv", "--debug")
    assert shown(offsite.secrets, run.output) == []
    assert run.output.count("without etcd_backup_age_recipient") == 0
    for node in b.nodes:
        assert out(node, "command -v rclone && command -v age").split() == [
            "/usr/bin/rclone",
            "/usr/bin/age",
        ]
        assert out(node, "stat -c '%a %U' /etc/etcd-backup /etc/etcd-backup/rclone.conf") == (
            "700 root\n600 root"
        )
        conf = out(node, "sha256sum /etc/etcd-backup/rclone.conf").split()[0]
        assert conf == hashlib.sha256(offsite.conf.read_bytes()).hexdigest()


def test_a_rerun_changes_nothing_and_a_changed_config_is_not_shown_by_dry_diff(
    offsite: Offsite,
):
    b = offsite.cluster
    runs: list[Run] = []
    counts = count_over_docker(
        b.nodes, b.workdir, lambda env: runs.append(pyinfra(b.inventory, "--json", env=env))
    )
    (run,) = runs
    assert run.returncode == 0, run.output[-3000:]
    assert run.json()["results"]["totals"]["success"] == 0
    assert counts.commands == {node.container: 1 for node in b.nodes}  # the survey only
    assert not counts.transfers, counts
    original = offsite.conf.read_text()
    offsite.conf.write_text(f"{original}# {CANARY}-changed\n")
    try:
        run = pyinfra(b.inventory, "--dry", "--diff")
        assert run.returncode == 0, run.output[-4000:]
        assert "Will replace /etc/etcd-backup/rclone.conf (a secret" in run.output
        assert shown([*offsite.secrets, f"{CANARY}-changed"], run.output) == []
    finally:
        offsite.conf.write_text(original)


def take_snapshot(node: bed.Node) -> str:
    """Run the service the timer runs; the newest local snapshot's name."""
    done = sh(node, "systemctl start etcd-backup.service")
    log = out(node, "journalctl -u etcd-backup -n 30 --no-pager -o cat")
    assert done.returncode == 0, log
    return out(node, f"ls -t {BACKUPS} | head -n 1")


def remote_files(offsite: Offsite, member: str) -> list[str]:
    listing = out(offsite.server, f"ls -A {REMOTE_DIR}/{CLUSTER}/{member}")
    return sorted(listing.split())


def open_archive(offsite: Offsite, member: str, name: str) -> dict[str, bytes]:
    """Decrypted on the sftp host with the test's identity (never on a member)."""
    path = f"{REMOTE_DIR}/{CLUSTER}/{member}/{name}"
    done = sh(offsite.server, f"age -d -i /root/identity.txt {path}")
    assert done.returncode == 0, done.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def test_snapshots_land_as_archives_that_hold_what_a_rebuild_needs(offsite: Offsite):
    for index, node in enumerate(offsite.cluster.nodes):
        member = f"infra{index}"
        local = take_snapshot(node)
        stamp = local.removeprefix(f"etcd-snapshot-{member}-").removesuffix(".db")
        name = f"{CLUSTER}-{member}-{stamp}.tar.age"
        assert remote_files(offsite, member) == [name]
        mode = out(offsite.server, f"head -c 21 {REMOTE_DIR}/{CLUSTER}/{member}/{name}")
        assert mode == "age-encryption.org/v1"  # sealed: no tar header in sight
        assert sh(node, "ls /root/identity.txt").returncode != 0  # members cannot decrypt
        files = open_archive(offsite, member, name)
        expected = {"snapshot.db", "pki/etcd/ca.crt", "cluster.json"}
        assert set(files) == expected | ({"pki/etcd/ca.key"} if index == 0 else set())
        snapshot = sh(node, f"cat {BACKUPS}/{local}").stdout
        assert files["snapshot.db"] == snapshot
        ca = sh(node, "cat /etc/kubernetes/pki/etcd/ca.crt").stdout
        assert files["pki/etcd/ca.crt"] == ca
        if index == 0:
            key = sh(node, "cat /etc/kubernetes/pki/etcd/ca.key").stdout
            assert files["pki/etcd/ca.key"] == key
        info = json.loads(files["cluster.json"])
        assert (info["cluster"], info["member"]) == (CLUSTER, member)
        assert info["etcd_version"].startswith("3.") and info["taken_at"].endswith("Z")
        assert [m["name"] for m in info["members"]] == ["infra0", "infra1", "infra2"]
        assert info["members"][index]["client_url"] == f"https://{node.address}:2379"
        assert info["settings"]["etcd_backup_remote"] == f"offsite:{REMOTE_DIR}"


# Made-up snapshots, all before this week, at times from the Monday that began last week
# (M): (seconds after M, kept?) with tiers of 3 hourly, 3 daily, 3 weekly. The run's own
# snapshot is the newest hour, day and week of each tier; the made-up ones fill the rest.
HOUR, DAY = 3600, 86400
MADE_UP = {
    "20200101T000001Z": (3 * DAY + 5 * HOUR + 1800, True),  # the 2nd hour, day and week
    "20200101T000002Z": (3 * DAY + 5 * HOUR + 600, False),  # the same hour, older
    "20200101T000003Z": (3 * DAY + 4 * HOUR + 1800, True),  # the 3rd hour
    "20200101T000004Z": (3 * DAY + 3 * HOUR + 1800, False),  # a 4th hour, a day seen
    "20200101T000005Z": (1 * DAY + 12 * HOUR, True),  # the 3rd day
    "20200101T000006Z": (1 * DAY + 6 * HOUR, False),  # that day, older
    "20200101T000007Z": (-5 * DAY, True),  # the 3rd week (Wednesday before)
    "20200101T000008Z": (-6 * DAY, False),  # that week, older
    "20200101T000009Z": (-21 * DAY, False),  # a 4th week
}


def test_tiered_retention_keeps_exactly_the_tiers_locally_and_on_the_remote(offsite: Offsite):
    node = offsite.cluster.nodes[1]
    member = "infra1"
    remote = f"{REMOTE_DIR}/{CLUSTER}/{member}"
    now = int(out(node, "date +%s"))
    today = now // DAY
    monday = (today - (today + 3) % 7 - 7) * DAY  # 1970-01-01 was a Thursday
    sh(node, f"rm -f {BACKUPS}/*")
    sh(offsite.server, f"rm -f {remote}/*")
    for stamp, (offset, _) in MADE_UP.items():
        when = f"@{monday + offset}"
        local = f"{BACKUPS}/etcd-snapshot-{member}-{stamp}.db"
        assert sh(node, f"echo made-up >{local} && touch -d {when} {local}").returncode == 0
        far = f"{remote}/{CLUSTER}-{member}-{stamp}.tar.age"
        made = f"echo made-up >{far} && touch -d {when} {far} && chown {SFTP_USER} {far}"
        assert sh(offsite.server, made).returncode == 0
    new = take_snapshot(node)
    kept = [stamp for stamp, (_, keep) in MADE_UP.items() if keep]
    new_stamp = new.removeprefix(f"etcd-snapshot-{member}-").removesuffix(".db")
    local_left = sorted(out(node, f"ls {BACKUPS}").split())
    assert local_left == sorted([f"etcd-snapshot-{member}-{s}.db" for s in kept] + [new])
    assert remote_files(offsite, member) == sorted(
        f"{CLUSTER}-{member}-{s}.tar.age" for s in [*kept, new_stamp]
    )


def test_an_unreachable_remote_fails_the_service_and_the_status_shows_it(offsite: Offsite):
    node = offsite.cluster.nodes[2]
    cut = f"OUTPUT -p tcp -d {offsite.server.address} --dport 22 -j REJECT"
    assert sh(node, f"iptables -A {cut}").returncode == 0
    try:
        done = sh(node, "systemctl start etcd-backup.service")
        assert done.returncode != 0
        assert out(node, "systemctl show -p Result --value etcd-backup.service") == "exit-code"
        log = out(node, "journalctl -u etcd-backup -n 30 --no-pager -o cat")
        assert f"to offsite:{REMOTE_DIR}/{CLUSTER}/infra2/" in log and "failed" in log
        report = offsite.cluster.workdir / "status.json"
        run = pyinfra(
            offsite.cluster.inventory,
            "--data",
            f"etcd_status_json={report}",
            deploy="status.py",
        )
        assert "infra2" in run.output and "FAILED" in run.output, run.output[-4000:]
        assert "the last etcd-backup.service run failed" in run.output
        members = {m["name"]: m for m in json.loads(report.read_text())["members"]}
        assert members["infra2"]["last_backup"] == "failed"
        assert members["infra0"]["last_backup"] == "ok"
    finally:
        sh(node, f"iptables -D {cut}")


def test_without_a_recipient_bare_snapshots_go_and_the_run_says_so_once(offsite: Offsite):
    b = offsite.cluster
    plain = b.write_inventory("inventory-plain.py", host_data={"etcd_backup_age_recipient": ""})
    run = deploy_ok(plain)
    assert run.output.count("without etcd_backup_age_recipient: only the snapshots") == 1
    node = b.nodes[0]
    local = take_snapshot(node)
    stamp = local.removeprefix("etcd-snapshot-infra0-").removesuffix(".db")
    copy = f"{REMOTE_DIR}/{CLUSTER}/infra0/{CLUSTER}-infra0-{stamp}.db"
    assert (
        out(offsite.server, f"sha256sum {copy}").split()[0]
        == (out(node, f"sha256sum {BACKUPS}/{local}").split()[0])
    )
    # no remote: the operator's rclone configuration leaves the members
    gone = b.write_inventory("inventory-local.py", host_data={"etcd_backup_remote": ""})
    deploy_ok(gone)
    for member in b.nodes:
        assert sh(member, "test -e /etc/etcd-backup/rclone.conf").returncode == 1
