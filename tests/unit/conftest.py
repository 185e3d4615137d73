"""Shared fixtures: default settings from the defaults table, the guide's cluster, CAs.

Key generation is the slow part of these tests, so CAs are made once per session and
the certificate-plan tests use ECDSA-P256 wherever the algorithm does not matter.
"""

from __future__ import annotations

import copy
import datetime
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from etcd_cluster.certs import pki
from etcd_cluster.certs.certlist import ETCD_CA
from etcd_cluster.defaults import DEFAULTS
from etcd_cluster.etcd.cluster import Cluster, MemberInput, build_cluster
from etcd_cluster.settings import Settings, settings_from_data
from tests.unit.guide import guide_inputs

REPO_ROOT = Path(__file__).resolve().parents[2]

CA_VALIDITY = datetime.timedelta(hours=87600)
LEAF_VALIDITY = datetime.timedelta(hours=8760)

SettingsFactory = Callable[..., Settings]
ClusterFactory = Callable[..., Cluster]


def stand_in_tools(tmp_path: Path, **tools: str) -> dict[str, str]:
    """An environment whose PATH starts with stand-in commands (``name=script text``, in
    tmp/bin), with ``STATE`` naming an empty tmp/state they keep their state in."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state)}


@pytest.fixture(scope="session")
def group_defaults() -> dict[str, Any]:
    """The deploy's defaults (``etcd_cluster/defaults.py``), as pyinfra's data_defaults."""
    return copy.deepcopy(DEFAULTS)


@pytest.fixture(scope="session")
def make_settings(group_defaults: dict[str, Any]) -> SettingsFactory:
    """``make_settings(etcd_runtime="systemd", ...)``: defaults with data overrides."""

    def make(**overrides: Any) -> Settings:
        data = {**group_defaults, **overrides}
        return settings_from_data(data.get)

    return make


@pytest.fixture(scope="session")
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def ec_settings(make_settings: SettingsFactory) -> Settings:
    """Defaults, but ECDSA-P256 keys: fast to generate, for tests where the algorithm is moot."""
    return make_settings(etcd_key_algorithm="ECDSA-P256")


@pytest.fixture(scope="session")
def make_cluster(settings: Settings) -> ClusterFactory:
    """``make_cluster(inputs=None, settings_=None)``: the guide's cluster unless told otherwise."""

    def make(
        inputs: Sequence[MemberInput] | None = None, settings_: Settings | None = None
    ) -> Cluster:
        return build_cluster(
            list(inputs) if inputs is not None else guide_inputs(), settings_ or settings
        )

    return make


@pytest.fixture(scope="session")
def cluster(make_cluster: ClusterFactory) -> Cluster:
    """The guide's cluster: 10.0.0.6/7/8 named infra0/1/2 by default."""
    return make_cluster()


@pytest.fixture(scope="session")
def ec_cluster(make_cluster: ClusterFactory, ec_settings: Settings) -> Cluster:
    return make_cluster(settings_=ec_settings)


@pytest.fixture(scope="session")
def now() -> datetime.datetime:
    """One fixed 'kubeadm start time' T, whole seconds as X.509 stores them."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def ca(now: datetime.datetime) -> pki.KeyPair:
    """The session's etcd CA (ECDSA-P256)."""
    return pki.new_ca(ETCD_CA, "ECDSA-P256", CA_VALIDITY, now)


@pytest.fixture(scope="session")
def other_ca(now: datetime.datetime) -> pki.KeyPair:
    """A second, unrelated etcd CA with the same subject (CN=etcd-ca)."""
    return pki.new_ca(ETCD_CA, "ECDSA-P256", CA_VALIDITY, now)
