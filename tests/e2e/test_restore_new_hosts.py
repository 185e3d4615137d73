"""Every member lost: restore.py rebuilds the cluster on three new hosts from an encrypted
off-host backup archive (issue 18, item 4).

The tests run in file order on three beds: the old cluster (three members, systemd, etcd
3.5.16 from the sandbox's release archives), an sftp server (openssh's, a bed host of its
own, attached to the old and the new network), and three new hosts with other addresses,
as a real loss brings. The test makes the off-host copy itself, in the format of
docs/design.md "Off-host backups" (snapshot, ``pki/etcd/ca.{crt,key}``, ``cluster.json``
in a tar streamed through ``age -r`` into ``rclone rcat``), from the old first member;
then the old members' containers are removed for good. ``restore.py`` on the new hosts
refuses a wrong identity (changing nothing, leaving no key behind), then restores: the
keys as of the snapshot, revisions bumped, healthy 3/3, the same CA (ca.crt bytes equal),
a deploy afterwards changes nothing, and no host holds the age identity or the rclone
config's key. Last, the hosts are lost again and restored from a bare remote snapshot:
a new CA, and the run says so. Nothing here is a stand-in: real rclone, age, sftp, etcd
and systemd.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from sandbox import bed, releases, ssh
from tests.e2e.conftest import (
    PKI,
    Bed,
    Run,
    assert_healthy_cluster,
    deploy_ok,
    endpoint,
    etcdctl,
    make_bed,
    out,
    pyinfra,
    reset,
    sh,
    untouched,
)

pytestmark = pytest.mark.e2e

VERSION = "3.5.16"
RELEASE = f"/opt/etcd/v{VERSION}"
REMOTE_DIR = "backups/etcd/infra0"  # <etcd_backup_remote>/<cluster>/<member>
ARCHIVE = f"offsite:{REMOTE_DIR}/etcd-infra0-20261201T120000Z.tar.age"
RCLONE_CONF = "/etc/etcd-backup/rclone.conf"
SEARCHED = "/etc /run /var /root /tmp /home /opt /srv /usr/local"  # where a leftover could be
old_state: dict[str, str] = {}  # what the old cluster was, read before it is destroyed


def release_data() -> dict:
    _, sha256 = releases.archive(VERSION)
    return releases.release_data(VERSION, sha256)


@pytest.fixture(scope="module")
def old(tmp_path_factory):
    for b in make_bed(tmp_path_factory, "etcd-e2e-drold", 3, subnet_index=33):
        b.host_data.update(release_data())
        b.inventory = b.write_inventory("inventory.py")
        yield b


@pytest.fixture(scope="module")
def new(tmp_path_factory, old):
    for b in make_bed(tmp_path_factory, "etcd-e2e-drnew", 3, subnet_index=35):
        b.host_data.update(release_data())
        b.inventory = b.write_inventory("inventory.py")
        yield b


@pytest.fixture(scope="module")
def sftp(tmp_path_factory, old, new):
    """The off-host store: openssh's sftp server, reached from both networks as ``deploy``."""
    (node,) = bed.up("etcd-e2e-drsftp", 1, subnet_index=34)
    try:
        workdir = tmp_path_factory.mktemp("sftp")
        private, public = ssh.login_key(workdir)
        ssh.authorize([node], public)
        addresses = {}
        for b in (old, new):
            network = b.nodes[0].network
            subprocess.run(["docker", "network", "connect", network, node.container], check=True)
            addresses[network] = subprocess.run(
                ["docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}")'
                 ".IPAddress}}", node.container],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
        yield node, private.read_text(), addresses
    finally:
        bed.down("etcd-e2e-drsftp")


def rclone_config(key_pem: str, address: str) -> str:
    """An rclone sftp remote with the login key inline (one config file is all it needs)."""
    inline = key_pem.strip().replace("\n", "\\n")
    return (
        f"[offsite]\ntype = sftp\nhost = {address}\nuser = {ssh.USER}\nkey_pem = {inline}\n"
        "shell_type = unix\nmd5sum_command = none\nsha1sum_command = none\n"
    )


def restore(b: Bed, *args: str, snapshot: str = ARCHIVE) -> Run:
    return pyinfra(
        b.inventory, "--data", f"etcd_restore_snapshot={snapshot}", *args, deploy="restore.py"
    )


def value(node, key: str) -> str:
    got = etcdctl(node, endpoint(node), f"get --print-value-only {key}")
    assert got.returncode == 0, got.stderr.decode()
    return got.stdout.decode().strip()


def leftovers(node, *secrets: str) -> list[str]:
    """Files on ``node`` that hold any of ``secrets``."""
    patterns = " ".join(f"-e {s!r}" for s in secrets)
    found = sh(node, f"grep -rlsF {patterns} {SEARCHED} 2>/dev/null || true")
    return found.stdout.decode().split()


def test_the_old_cluster_makes_an_encrypted_archive_on_the_sftp_remote(old: Bed, sftp, new: Bed):
    node, key_pem, addresses = sftp
    assert_healthy_cluster(old, deploy_ok(old.inventory))
    first = old.nodes[0]
    for n in range(20):
        assert etcdctl(first, old.endpoints(), f"put e2e/dr/{n} v{n}").returncode == 0
    keygen = sh(node, "age-keygen")  # printed only: the identity is kept on the controller
    assert keygen.returncode == 0, keygen.stderr
    identity = keygen.stdout.decode()
    recipient = next(x for x in identity.split() if x.startswith("age1"))
    (old.workdir / "identity.txt").write_text(identity)
    old_state["identity"] = str(old.workdir / "identity.txt")
    old_state["secret"] = next(x for x in identity.split() if x.startswith("AGE-SECRET-KEY-"))
    old_state["ssh_key"] = key_pem.strip().splitlines()[3]  # private bytes: this key only
    config = rclone_config(key_pem, addresses[first.network])
    made = sh(
        first,
        f"install -d -m 700 /etc/etcd-backup /root/bk/pki/etcd && cat > {RCLONE_CONF} && "
        f"chmod 600 {RCLONE_CONF}",
        stdin=config.encode(),
    )
    assert made.returncode == 0, made.stderr
    save = etcdctl(first, endpoint(first), "snapshot save /root/bk/snapshot.db")
    assert save.returncode == 0, save.stderr
    assert etcdctl(first, old.endpoints(), "put e2e/after-snapshot lost").returncode == 0
    info = {
        "cluster": "etcd",
        "member": "infra0",
        "taken_at": "2026-12-01T12:00:00Z",
        "etcd_version": VERSION,
        "members": [
            {
                "name": f"infra{i}",
                "peer_url": f"https://{n.address}:2380",
                "client_url": endpoint(n),
            }
            for i, n in enumerate(old.nodes)
        ],
        "settings": {"etcd_runtime": "systemd", "etcd_version": VERSION},
    }
    packed = sh(
        first,
        f"cp {PKI}/etcd/ca.crt {PKI}/etcd/ca.key /root/bk/pki/etcd/ && cat > /root/bk/cluster.json"
        " && tar -C /root/bk -c snapshot.db pki/etcd/ca.crt pki/etcd/ca.key cluster.json"
        f" | age -r {recipient} | rclone --config {RCLONE_CONF} rcat {ARCHIVE}"
        " && rm -rf /root/bk",
        stdin=json.dumps(info).encode(),
    )
    assert packed.returncode == 0, packed.stderr
    listed = out(node, f"ls /home/{ssh.USER}/{REMOTE_DIR}")
    assert listed == ARCHIVE.rsplit("/", 1)[1]
    old_state["ca.crt"] = out(first, f"base64 -w0 {PKI}/etcd/ca.crt")
    # every old member is lost for good
    gone = subprocess.run(["docker", "rm", "-f", *(n.container for n in old.nodes)], check=False)
    assert gone.returncode == 0
    (new.workdir / "rclone.conf").write_text(
        rclone_config(key_pem, addresses[new.nodes[0].network])
    )
    new.host_data["etcd_backup_rclone_config"] = str(new.workdir / "rclone.conf")
    new.inventory = new.write_inventory("inventory.py")


def assert_nothing_changed_and_nothing_left(b: Bed) -> None:
    for node in b.nodes:
        assert untouched(node), node.container
        assert out(node, "ls -A /run | grep etcd-restore || true") == ""
        assert out(node, "ls -A /var/backups/etcd 2>/dev/null || true") == ""


def test_a_wrong_identity_is_refused_and_dry_changes_nothing(new: Bed, tmp_path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(out(new.nodes[1], "age-keygen 2>/dev/null"))
    run = restore(
        new,
        "--data",
        f"etcd_restore_age_identity={wrong}",
        "--data",
        "etcd_restore_confirm=yes",
    )
    assert run.returncode != 0
    assert "cannot decrypt" in run.output and "no identity matched" in run.output, run.output[
        -3000:
    ]
    assert_nothing_changed_and_nothing_left(new)
    identity = f"etcd_restore_age_identity={old_state['identity']}"
    dry = restore(new, "--data", identity, "--data", "etcd_restore_confirm=yes", "--dry")
    assert dry.returncode == 0, dry.output[-6000:]
    for line in (
        "live cluster: none (no member holds etcd data)",
        "first the deploy's own steps",
        "cluster etcd, member infra0, taken 2026-12-01T12:00:00Z with etcd 3.5.16",
        "PKI: the archive's etcd CA",
    ):
        assert line in dry.output, dry.output[-6000:]
    assert_nothing_changed_and_nothing_left(new)  # the staged archive went at once


def test_restore_rebuilds_the_cluster_on_new_hosts_with_the_same_ca(new: Bed, sftp):
    run = restore(
        new,
        "--data",
        f"etcd_restore_age_identity={old_state['identity']}",
        "--data",
        "etcd_restore_confirm=yes",
        "-vvv",
    )
    assert run.returncode == 0, run.output[-8000:]
    assert "live cluster: none (no member holds etcd data)" in run.output
    assert "PKI: the archive's etcd CA" in run.output
    assert old_state["secret"] not in run.output and old_state["ssh_key"] not in run.output
    first = new.nodes[0]
    for node in new.nodes:
        assert [value(node, f"e2e/dr/{n}") for n in range(20)] == [f"v{n}" for n in range(20)]
        assert value(node, "e2e/after-snapshot") == ""
        assert out(node, f"base64 -w0 {PKI}/etcd/ca.crt") == old_state["ca.crt"]
        holds_key = sh(node, f"test -e {PKI}/etcd/ca.key").returncode == 0
        assert holds_key == (node is first), node.container
    health = etcdctl(first, new.endpoints(), "endpoint health -w json")
    assert health.returncode == 0, health.stderr
    assert [h["health"] for h in json.loads(health.stdout)] == [True, True, True]
    status = json.loads(etcdctl(first, endpoint(first), "endpoint status -w json").stdout)
    assert status[0]["Status"]["header"]["revision"] > 1_000_000_000  # --bump-revision
    assert out(first, "ls -A /var/backups/etcd") == ""  # the staged snapshot and PKI are gone


def test_a_deploy_then_changes_nothing_and_no_host_holds_the_identity(new: Bed, sftp):
    run = deploy_ok(new.inventory, "--json")
    changed = [op["name"] for op in run.json()["results"]["operations"] if op["success"]]
    assert run.json()["results"]["totals"]["success"] == 0, changed
    assert_healthy_cluster(new, deploy_ok(new.inventory))
    node, _, _ = sftp
    for host in [*new.nodes, node]:
        assert leftovers(host, old_state["secret"]) == [], host.container
    for host in new.nodes:
        assert leftovers(host, old_state["ssh_key"]) == [], host.container
        assert out(host, "ls -A /run | grep etcd-restore || true") == ""


BARE = f"offsite:{REMOTE_DIR}/etcd-infra0-20261201T130000Z.db"


def test_from_a_bare_remote_snapshot_new_hosts_get_a_new_ca_and_the_run_says_so(new: Bed):
    """Hosts lost again, and only a bare snapshot off-host (no recipient was set): the
    cluster comes back with its data on a NEW CA, and the run says the control planes
    need new client certificates."""
    first = new.nodes[0]
    assert etcdctl(first, new.endpoints(), "put e2e/in-bare kept").returncode == 0
    config = (new.workdir / "rclone.conf").read_bytes()
    uploaded = sh(
        first,
        "umask 077 && cat > /root/rc.conf && "
        f"{RELEASE}/etcdctl --cacert {PKI}/etcd/ca.crt --cert {PKI}/etcd/healthcheck-client.crt "
        f"--key {PKI}/etcd/healthcheck-client.key --endpoints {endpoint(first)} "
        "snapshot save /root/bare.db >/dev/null && "
        f"rclone --config /root/rc.conf copyto /root/bare.db {BARE}; "
        "rc=$?; rm -f /root/rc.conf /root/bare.db; exit $rc",
        stdin=config,
    )
    assert uploaded.returncode == 0, uploaded.stderr
    reset(new.nodes)  # every member lost again: hosts without etcd, data or PKI
    run = restore(new, "--data", "etcd_restore_confirm=yes", snapshot=BARE)
    assert run.returncode == 0, run.output[-8000:]
    assert "no CA came with the snapshot: a NEW etcd CA is made" in run.output
    for node in new.nodes:
        assert value(node, "e2e/in-bare") == "kept"
        assert value(node, "e2e/dr/19") == "v19"
        assert out(node, f"base64 -w0 {PKI}/etcd/ca.crt") != old_state["ca.crt"]
    health = etcdctl(first, new.endpoints(), "endpoint health -w json")
    assert [h["health"] for h in json.loads(health.stdout)] == [True, True, True]
