"""Version preflight: kubeadm against the config API and key algorithm, etcd against its flags.

Each refusal or warning names the host, the value and the setting that fixes it.
"""

from __future__ import annotations

import subprocess

import pytest

from etcd_cluster.engine.preflight import parse_survey, survey_script
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd import versions

HOST = "etcd-a"


def findings(make_settings, etcd="", kubeadm="", **data):
    return versions.version_findings(HOST, make_settings(**data), etcd, kubeadm)


def with_flag(make_settings, etcd, flag):
    """The systemd runtime's findings for etcd ``etcd`` with one extra flag."""
    return findings(
        make_settings,
        etcd=etcd,
        etcd_runtime="systemd",
        etcd_version="distro",
        etcd_extra_args={flag: "x"},
    )


# --- kubeadm (static-pod only) ------------------------------------------------------------------

KUBEADM_REFUSALS = {
    "v1beta4-on-1.30": ("v1.30.4", {}, ["kubeadm v1.30.4", "'v1beta4'", "1.31", "'v1beta3'"]),
    "v1beta3-on-1.36": (
        "v1.36.0",
        {"kubeadm_api_version": "v1beta3"},
        ["kubeadm v1.36.0", "'v1beta3'", "1.35", "kubeadm_api_version='v1beta4'"],
    ),
    "p384-on-1.33": (
        "v1.33.1",
        {"etcd_key_algorithm": "ECDSA-P384"},
        ["kubeadm v1.33.1", "'ECDSA-P384'", "1.34", "etcd_key_algorithm"],
    ),
    "etcd-3.5-tag-on-1.36": (
        "v1.36.1",
        {"etcd_image_tag": "3.5.21-0"},
        ["kubeadm v1.36.1", "etcd_image_tag='3.5.21-0'", "3.6.0", "--feature-gates"],
    ),
}


@pytest.mark.parametrize(
    ("kubeadm", "data", "named"), KUBEADM_REFUSALS.values(), ids=KUBEADM_REFUSALS.keys()
)
def test_kubeadm_refusals_name_host_version_and_fix(make_settings, kubeadm, data, named):
    found = findings(make_settings, kubeadm=kubeadm, **data)
    (refusal,) = [r for r in found.refusals if named[1] in r]
    assert refusal.startswith(f"host {HOST}: ")
    for text in named:
        assert text in refusal


@pytest.mark.parametrize(
    ("kubeadm", "data"),
    [
        ("v1.31.0", {}),
        ("v1.35.2", {"kubeadm_api_version": "v1beta3"}),
        ("v1.34.0", {"etcd_key_algorithm": "ECDSA-P384"}),
        ("v1.36.0", {"etcd_image_tag": "3.6.0-0"}),
        ("v1.35.0", {"etcd_image_tag": "3.5.24-0"}),  # 1.35 still picks names by the tag
        ("", {"kubeadm_api_version": "v1beta3"}),  # unknown: the requirements check speaks
    ],
)
def test_kubeadm_combinations_that_work_pass(make_settings, kubeadm, data):
    assert findings(make_settings, kubeadm=kubeadm, **data).refusals == []


def test_the_systemd_runtime_does_not_check_kubeadm(make_settings):
    found = findings(
        make_settings,
        etcd="3.6.9",
        kubeadm="v1.20.0",
        etcd_runtime="systemd",
        etcd_version="distro",
    )
    assert found.refusals == [] and found.warnings == []


# --- etcd's version against the flags -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "old"),
    [
        ("feature-gates", "--experimental-initial-corrupt-check"),
        ("watch-progress-notify-interval", "--experimental-watch-progress-notify-interval"),
        ("compaction-batch-limit", "--experimental-compaction-batch-limit"),
    ],
)
def test_36_only_flags_are_refused_for_older_etcd(make_settings, flag, old):
    (refusal,) = with_flag(make_settings, "3.5.24", flag).refusals
    for text in (f"host {HOST}", "etcd 3.5.24", "etcd_binary='/usr/bin/etcd'", f"--{flag}", old):
        assert text in refusal


def test_static_pod_etcd_version_is_the_tag_or_kubeadms_default(make_settings):
    extra = {"etcd_extra_args": {"watch-progress-notify-interval": "5s"}}
    by_tag = findings(make_settings, kubeadm="v1.35.0", etcd_image_tag="3.5.24-0", **extra)
    assert "etcd_image_tag='3.5.24-0'" in by_tag.refusals[0]
    by_kubeadm = findings(make_settings, kubeadm="v1.33.1", **extra)
    assert "kubeadm's default image tag 3.5.21-0 for Kubernetes 1.33.1" in by_kubeadm.refusals[0]
    pinned = findings(make_settings, kubeadm="v1.33.1", etcd_kubernetes_version="v1.32.9", **extra)
    assert "3.5.24-0 for Kubernetes 1.32.9" in pinned.refusals[0]
    assert findings(make_settings, kubeadm="v1.34.2", **extra).refusals == []


@pytest.mark.parametrize(
    ("flag", "new"),
    [
        ("experimental-watch-progress-notify-interval", "--watch-progress-notify-interval"),
        ("experimental-initial-corrupt-check", "--feature-gates=InitialCorruptCheck=true"),
    ],
)
def test_deprecated_experimental_flags_are_a_warning_on_etcd_36(make_settings, flag, new):
    found = with_flag(make_settings, "3.6.9", flag)
    assert found.refusals == []
    (warning,) = found.warnings
    for text in (f"host {HOST}", "etcd 3.6.9", f"--{flag}", new, "3.7"):
        assert text in warning


def test_experimental_flags_on_older_etcd_are_fine(make_settings):
    found = with_flag(make_settings, "3.5.24", "experimental-watch-progress-notify-interval")
    assert found.refusals == [] and found.warnings == []


# --- kubeadm's MinExternalEtcdVersion -----------------------------------------------------------


def floor(make_settings, found, **data):
    """The MinExternalEtcdVersion warnings for ``found``: host -> (etcd, kubeadm)."""
    return versions.min_external_warnings(make_settings(**data), found)


def test_etcd_older_than_min_external_is_a_warning_naming_the_fix(make_settings):
    distro = {"etcd_runtime": "systemd", "etcd_version": "distro"}
    (warning,) = floor(make_settings, {HOST: ("3.4.23", "")}, **distro)
    for text in (f"host {HOST}", "etcd 3.4.23", "3.5.24", "etcd.external", "etcd_binary"):
        assert text in warning
    (warning,) = floor(make_settings, {HOST: ("", "v1.33.1")})
    assert "etcd 3.5.21" in warning and "etcd_image_tag" in warning
    assert floor(make_settings, {HOST: ("3.5.24", "")}, **distro) == []
    assert floor(make_settings, {HOST: ("", "")}, **distro) == []
    assert findings(make_settings, etcd="3.4.23", **distro).warnings == []  # said once: below


def test_one_warning_names_every_host_below_the_floor(make_settings):
    found = {"a": ("3.4.23", ""), "b": ("3.4.23", ""), "c": ("3.5.30", ""), "d": ("3.4.30", "")}
    warnings = floor(make_settings, found, etcd_runtime="systemd", etcd_version="distro")
    assert len(warnings) == 2
    assert warnings[0].startswith("hosts a, b: etcd 3.4.23 (")
    assert warnings[1].startswith("host d: etcd 3.4.30 (")


def test_the_systemd_runtime_checks_the_etcd_version_it_installs(make_settings):
    """With etcd_version set, the deploy installs that release: it is the version checked."""
    data = {
        "etcd_runtime": "systemd",
        "etcd_version": "3.5.16",
        "etcd_archive_sha256": {"3.5.16": "0" * 64},
        "etcd_extra_args": {"max-learners": "2"},
    }
    # etcd="3.4.23": what etcd_binary is today; replaced by the release
    (refusal,) = findings(make_settings, etcd="3.4.23", **data).refusals
    assert "etcd 3.5.16 (etcd_version='3.5.16')" in refusal and "--max-learners" in refusal
    (warning,) = floor(make_settings, {HOST: ("3.4.23", "")}, **data)
    assert "etcd 3.5.16" in warning and "etcd_version" in warning


@pytest.mark.parametrize(
    ("kubernetes", "tag"),
    [
        ((1, 36, 0), "3.6.9-0"),
        ((1, 34, 1), "3.6.5-0"),
        ((1, 40, 0), "3.6.9-0"),
        ((1, 20, 0), "3.5.24-0"),
    ],
)
def test_supported_etcd_version_uses_the_nearest_known_minor(kubernetes, tag):
    assert versions.supported_etcd_version(kubernetes) == tag


def test_the_rename_table_is_consistent():
    assert versions.ETCD36_ONLY["watch-progress-notify-interval"] == (
        "--experimental-watch-progress-notify-interval"
    )
    assert all(old.startswith("experimental-") for old in versions.RENAMED_IN_ETCD36)
    assert not set(versions.RENAMED_IN_ETCD36) & set(versions.GATED_IN_ETCD36)


# --- The etcd_kubernetes_version setting ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("", ""), ("1.34.2", "v1.34.2"), ("v1.36.0-rc.1", "v1.36.0-rc.1")]
)
def test_kubernetes_version_setting(make_settings, value, expected):
    assert make_settings(etcd_kubernetes_version=value).kubernetes_version == expected


@pytest.mark.parametrize("value", ["stable-1", "v1.34", "latest", "v1.34.2 "])
def test_kubernetes_version_labels_are_refused(make_settings, value):
    with pytest.raises(DeployInputError, match="kubernetes_version"):
        make_settings(etcd_kubernetes_version=value)


# --- The survey reads the versions ----------------------------------------------------------------


def test_survey_reads_kubeadm_and_kubelet_under_a_real_shell(make_settings, tmp_path):
    """Stand-in kubeadm and kubelet scripts on PATH (the real ones cannot be installed here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubeadm").write_text('#!/bin/sh\n[ "$*" = "version -o short" ] && echo v1.34.2\n')
    (bin_dir / "kubelet").write_text('#!/bin/sh\n[ "$1" = --version ] && echo Kubernetes v1.34.1\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    settings = make_settings(etcd_data_dir=str(tmp_path / "etcd"))
    script = survey_script(settings, str(tmp_path / "etcd.yaml"), ["sh"])
    result = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    survey = parse_survey(result.stdout.splitlines())
    assert survey.kubeadm_version == "v1.34.2"
    assert survey.kubelet_version == "1.34.1"
    assert survey.kubelet_path == str(bin_dir / "kubelet")


def test_survey_without_kubernetes_tools(make_settings):
    assert "kubeadm" not in survey_script(
        make_settings(etcd_runtime="systemd", etcd_version="distro"), "/m"
    )
    survey = parse_survey(["cmd:curl", "kubeadm:not a version", "kubelet_path:kubelet"])
    assert (survey.kubeadm_version, survey.kubelet_version, survey.kubelet_path) == ("", "", "")
