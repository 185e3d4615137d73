"""Off-host copy settings, what the members get for them (the rclone configuration as a
secret managed file, rclone and age from Debian), and cluster.json's settings."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from etcd_cluster.backup import schedule as backup
from etcd_cluster.defaults import DEFAULTS
from etcd_cluster.engine import converge, managed
from etcd_cluster.engine.host_state import HostState
from etcd_cluster.engine.managed import Absent, Directory, OperatorFile, changes
from etcd_cluster.engine.preflight import Survey, commands_to_probe
from etcd_cluster.errors import DeployInputError

KEY = "age1" + "q" * 58
SECRET = b"[bk]\ntype = sftp\nkey_pem = -----BEGIN OPENSSH PRIVATE KEY-----canary-4d1f\n"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "rclone.conf"
    path.write_bytes(SECRET)
    return path


def test_no_remote_by_default_and_nothing_said(make_settings):
    s = make_settings()
    assert (s.backup_remote, s.backup_rclone_config, s.backup_age_recipients) == ("", "", ())
    assert s.cluster_name == "etcd" and s.notices == ()
    assert backup.offsite_tools(s) == []
    assert "rclone" not in commands_to_probe(s)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"etcd_backup_remote": "no-colon"}, "etcd_backup_remote='no-colon'"),
        ({"etcd_backup_remote": "s3:b/$(reboot)"}, "etcd_backup_remote="),
        ({"etcd_backup_remote": "s3:b", "etcd_backup_rclone_config": "/nope"}, "'/nope'"),
        ({"etcd_backup_age_recipient": "age1short"}, "etcd_backup_age_recipient='age1short'"),
        ({"etcd_backup_age_recipient": "/no/such/file"}, "neither an age public key"),
        ({"etcd_cluster_name": "Prod_1"}, "etcd_cluster_name='Prod_1'"),
    ],
)
def test_bad_values_are_refused_naming_them(make_settings, conf, data, named):
    with pytest.raises(DeployInputError, match=named.replace("$", r"\$").replace("(", r"\(")):
        make_settings(**{"etcd_backup_rclone_config": str(conf), **data})


def test_a_remote_without_recipient_is_said_once(make_settings, make_cluster, conf):
    s = make_settings(
        etcd_backup_remote="sftp-backup:/srv/etcd", etcd_backup_rclone_config=str(conf)
    )
    assert s.backup_rclone_config == str(conf) and backup.offsite_tools(s) == ["rclone"]
    cluster = make_cluster(settings_=s)
    said = [w for w in cluster.warnings if "without etcd_backup_age_recipient" in w]
    assert len(said) == 1 and "only the snapshots go off-host" in said[0]


def test_recipients_from_a_key_or_a_file(make_settings, conf, tmp_path):
    other = "age1" + "p" * 58
    recipients = tmp_path / "recipients.txt"
    recipients.write_text(f"# the operators\n{KEY}\n\n{other}\n")
    common = {"etcd_backup_remote": "s3:b/etcd", "etcd_backup_rclone_config": str(conf)}
    s = make_settings(**common, etcd_backup_age_recipient=KEY)
    assert s.backup_age_recipients == (KEY,) and s.notices == ()
    assert backup.offsite_tools(s) == ["rclone", "age"]
    s = make_settings(**common, etcd_backup_age_recipient=str(recipients))
    assert s.backup_age_recipients == (KEY, other)
    assert {"rclone", "age"} <= set(commands_to_probe(s))


def test_rclone_and_age_come_from_debian_only_when_missing(make_settings, conf):
    s = make_settings(
        etcd_backup_remote="s3:b",
        etcd_backup_rclone_config=str(conf),
        etcd_backup_age_recipient=KEY,
    )
    present = ["apt-get", "/usr/bin/etcdctl", "etcdctl"]
    assert backup.backup_packages(s, present) == ["rclone", "age"]
    assert backup.backup_packages(s, [*present, "rclone", "age"]) == []
    missing = backup.etcdctl_missing(s, ["/usr/bin/etcdctl"])
    assert [m.split()[0] for m in missing] == ["rclone", "age"]


def test_the_rclone_config_is_a_secret_file_and_goes_away_with_the_remote(
    make_settings, make_cluster, conf
):
    s = make_settings(etcd_backup_remote="s3:b", etcd_backup_rclone_config=str(conf))
    cluster = make_cluster(settings_=s)
    items = managed.member_items(cluster, cluster.first, Survey()).backup_remote_files
    assert items[0] == Directory(backup.RCLONE_CONFIG_DIR, "700")
    config = items[1]
    assert isinstance(config, OperatorFile) and config.secret and config.mode == "600"
    assert config.content() == SECRET
    assert backup.RCLONE_CONFIG in managed.paths_and_units(cluster)[0]
    plain = make_cluster()
    assert managed.member_items(plain, plain.first, Survey()).backup_remote_files == (
        Absent(backup.RCLONE_CONFIG),
    )


def test_diff_never_shows_the_rclone_config(make_settings, make_cluster, conf, caplog):
    s = make_settings(etcd_backup_remote="s3:b", etcd_backup_rclone_config=str(conf))
    cluster = make_cluster(settings_=s)
    items = list(managed.member_items(cluster, cluster.first, Survey()).backup_remote_files)
    empty = HostState(asked=frozenset(i.target for i in items))
    todo = changes(items, empty)
    assert todo.files[backup.RCLONE_CONFIG].content == SECRET  # written, through stdin
    assert "canary" not in repr(todo)
    said: list[str] = []
    target = SimpleNamespace(log=lambda text, _: said.append(text))
    with caplog.at_level(logging.DEBUG):
        converge._show_diff(target, todo, empty, {backup.RCLONE_CONFIG})  # type: ignore[arg-type]
    assert said == [f"Will create {backup.RCLONE_CONFIG} (a secret: its content is not shown)"]
    assert "canary" not in caplog.text


def test_cluster_json_settings_are_the_data_keys(cluster):
    archived = backup.archived_settings(cluster.settings)
    assert set(archived) <= set(DEFAULTS), set(archived) - set(DEFAULTS)
    assert archived["etcd_backup_keep_hourly"] == 24 and archived["etcd_cluster_name"] == "etcd"
