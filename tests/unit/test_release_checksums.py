"""The shipped release checksums, the default release, ``distro``, mirrors and the floor."""

from __future__ import annotations

import re

import pytest

from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import release, release_checksums
from etcd_cluster.etcd.flags import parse_version
from etcd_cluster.etcd.versions import MIN_EXTERNAL_ETCD, min_external_warnings
from sandbox import bed

SHA = "b" * 64
DEFAULT = release_checksums.DEFAULT_VERSION


def systemd(make_settings, **data):
    return make_settings(etcd_runtime="systemd", **data)


# --- the table's shape --------------------------------------------------------------------------


def test_every_shipped_version_has_amd64_and_arm64_sha256s():
    assert release_checksums.SHA256
    for version, sums in release_checksums.SHA256.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
        assert sorted(sums) == ["amd64", "arm64"], version
        assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in sums.values()), version
    every = [sha for sums in release_checksums.SHA256.values() for sha in sums.values()]
    assert len(set(every)) == len(every)  # no value copied by mistake


def test_shipped_versions_are_sorted_and_none_below_kubeadms_floor():
    versions = [parse_version(v) for v in release_checksums.SHA256]
    assert all(v is not None for v in versions)
    assert versions == sorted(versions)  # type: ignore[type-var]
    assert min(versions) == MIN_EXTERNAL_ETCD  # type: ignore[type-var]


def test_the_default_is_shipped_and_above_the_floor_and_before_36():
    version = parse_version(DEFAULT)
    assert DEFAULT in release_checksums.SHA256 and version is not None
    assert version >= MIN_EXTERNAL_ETCD
    assert version >= release.BEFORE_36  # 3.6 stays one safe step away
    assert release.newest_shipped("3.5") == DEFAULT


# --- what etcd_version means ----------------------------------------------------------------


def test_unset_is_the_default_release_verified_by_the_shipped_sha256(make_settings):
    settings = systemd(make_settings)
    assert settings.etcd_version == DEFAULT
    assert settings.archive_sha256(DEFAULT, "arm64") == release_checksums.SHA256[DEFAULT]["arm64"]
    assert release.etcd_binary(settings) == f"/opt/etcd/v{DEFAULT}/etcd"
    assert release.archive_source(settings, "amd64") == (
        f"https://github.com/etcd-io/etcd/releases/download/v{DEFAULT}/"
        f"etcd-v{DEFAULT}-linux-amd64.tar.gz"
    )


def test_distro_is_the_package_as_before_and_static_pod_has_no_release(make_settings):
    assert systemd(make_settings, etcd_version="distro").etcd_version == ""
    assert make_settings().etcd_version == ""  # static-pod: the image
    assert make_settings(etcd_version="distro").etcd_version == ""
    with pytest.raises(DeployInputError, match="set etcd_image_tag instead"):
        make_settings(etcd_version=DEFAULT)


def test_a_shipped_version_needs_no_checksum_and_an_unknown_one_names_the_table(make_settings):
    assert systemd(make_settings, etcd_version="3.6.14").archive_sha256("3.6.14", "amd64")
    with pytest.raises(DeployInputError, match=r"no shipped checksum \(shipped: 3\.5\.24 to"):
        systemd(make_settings, etcd_version="3.5.16")
    with pytest.raises(DeployInputError, match="'distro' for the distribution's package"):
        systemd(make_settings, etcd_version="latest")


def test_the_operators_checksums_extend_and_override_the_shipped_ones(make_settings):
    own = systemd(
        make_settings,
        etcd_archive_sha256={DEFAULT: {"amd64": SHA}, "3.5.16": "C" * 64},
        etcd_version="3.5.16",
    )
    assert own.archive_sha256(DEFAULT, "amd64") == SHA  # a build of the site's own
    assert own.archive_sha256(DEFAULT, "arm64") == release_checksums.SHA256[DEFAULT]["arm64"]
    assert own.archive_sha256("3.5.16", "arm64") == "c" * 64  # one value: every arch
    assert release.checksum_origin(own, DEFAULT, "amd64") == "etcd_archive_sha256's"
    assert "SHA256SUMS" in release.checksum_origin(own, DEFAULT, "arm64")
    with pytest.raises(DeployInputError, match=r"or to \{arch: sha256\}"):
        systemd(make_settings, etcd_archive_sha256={DEFAULT: {"amd64": "nope"}})


def test_an_arch_without_a_checksum_is_refused_before_any_host_changes(make_settings):
    own = systemd(
        make_settings, etcd_version="3.5.16", etcd_archive_sha256={"3.5.16": {"amd64": SHA}}
    )
    (refusal,) = release.archive_refusals(own, "h1", "aarch64", lambda _: None)
    assert "host h1: no sha256 for etcd 3.5.16 on arm64" in refusal
    assert "{'3.5.16': {'arm64': '<sha256>'}}" in refusal


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("/srv/etcd", f"/srv/etcd/etcd-v{DEFAULT}-linux-arm64.tar.gz"),  # a mirror directory
        ("https://m.example/etcd/", f"https://m.example/etcd/etcd-v{DEFAULT}-linux-arm64.tar.gz"),
        (
            "https://m.example/v{version}/{arch}.tar.gz",
            f"https://m.example/v{DEFAULT}/arm64.tar.gz",
        ),
        ("/srv/etcd.tar.gz", "/srv/etcd.tar.gz"),  # one file, as it is
    ],
)
def test_etcd_archive_url_is_a_template_a_mirror_or_a_file(make_settings, url, source):
    assert release.archive_source(systemd(make_settings, etcd_archive_url=url), "arm64") == source


@pytest.mark.parametrize("url", ["mirror/etcd", "https://m.example/{name}.tar.gz", "/srv/a b"])
def test_an_archive_url_that_is_neither_url_nor_absolute_path_is_refused(make_settings, url):
    with pytest.raises(DeployInputError, match="must be a URL or absolute path"):
        systemd(make_settings, etcd_archive_url=url)


def test_a_mirror_archive_that_is_not_etcds_is_refused_naming_host_file_and_both_sums(
    make_settings, tmp_path
):
    archive = tmp_path / f"etcd-v{DEFAULT}-linux-amd64.tar.gz"
    archive.write_bytes(b"not etcd's archive")
    settings = systemd(make_settings, etcd_archive_url=str(tmp_path))
    (refusal,) = release.archive_refusals(settings, "h1", "x86_64", release.local_sha256)
    expected = release_checksums.SHA256[DEFAULT]["amd64"]
    actual = release.local_sha256(str(archive))
    for text in ("host h1", str(archive), f"sha256 {actual}", expected, "shipped checksum"):
        assert text in refusal


# --- the version floor: one warning ---------------------------------------------------------------


def floor_warnings(make_settings, running: str, **data) -> list[str]:
    settings = systemd(make_settings, **data)
    return min_external_warnings(settings, {"h1": (running, "")})


def test_the_default_needs_no_warning_whatever_the_host_had(make_settings):
    assert floor_warnings(make_settings, "3.4.23") == []


def test_a_chosen_etcd_below_the_floor_gets_one_warning_naming_the_minimum(make_settings):
    (distro,) = floor_warnings(make_settings, "3.4.23", etcd_version="distro")
    for text in ("host h1", "etcd 3.4.23", "etcd_version='distro'", "3.5.24", DEFAULT):
        assert text in distro
    sums = {"3.5.16": SHA}
    (chosen,) = floor_warnings(make_settings, "", etcd_version="3.5.16", etcd_archive_sha256=sums)
    assert "etcd 3.5.16 (etcd_version='3.5.16')" in chosen and "3.5.24" in chosen
    assert floor_warnings(make_settings, "3.5.24", etcd_version="distro") == []


# --- test beds stay offline -----------------------------------------------------------------------


def test_every_bed_inventory_runs_the_images_etcd_unless_a_test_chooses_a_release():
    node = bed.Node("etcd-e2e-x-0", "10.231.9.10", "10.231.9.10", None, "etcd-e2e-x")
    ((_, data),) = bed.inventory([node], {"etcd_runtime": "systemd"})
    assert data["etcd_version"] == "distro"  # no release download from a bed
    ((_, chosen),) = bed.inventory([node], {"etcd_version": "3.5.16"})
    assert chosen["etcd_version"] == "3.5.16"
