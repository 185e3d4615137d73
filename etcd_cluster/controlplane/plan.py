"""The control plane's shared picture for this run, built once while pyinfra prepares.

Like ``plan`` for etcd: the first host to ask validates the ``k8s_*`` settings, reads
which shared CA files each control-plane host holds (digests only, through a fact)
and decides what to make and what to copy. Key contents are read back through the
quiet channel only from a host that holds a pair another host lacks; new pairs are
made in memory. Bad input or disagreeing hosts stop the run before any host changes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from pyinfra import logger
from pyinfra.api.host import Host
from pyinfra.api.state import State

from etcd_cluster.controlplane import pki as kp
from etcd_cluster.controlplane.certlist import KUBERNETES_CA, SharedPair, file_modes, shared_pairs
from etcd_cluster.controlplane.facts import FileDigests, KubeadmHostSurvey
from etcd_cluster.controlplane.hosts import (
    WORKERS_GROUP,
    control_plane_hosts,
    group_hosts,
    host_address,
    lb_settings,
)
from etcd_cluster.controlplane.kubeadm import cni_subnet_warning, is_url, new_bootstrap_token
from etcd_cluster.controlplane.preflight import KubeadmSurvey, refusals, survey_script
from etcd_cluster.defaults import getter
from etcd_cluster.engine.plan import cluster_of, etcd_hosts, once_per_run
from etcd_cluster.engine.remote import Wanted, read_files, read_secret
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.kubeadm_config import external_etcd
from etcd_cluster.setting_checks import check_data
from etcd_cluster.settings import (
    KUBEADM_APISERVER_PORT,
    ControlPlaneSettings,
    LoadBalancerSettings,
    control_plane_settings_from_data,
    split_host_port,
)


@dataclass
class ControlPlanePlan:
    """What the control-plane tasks need to know for this run."""

    settings: ControlPlaneSettings
    lb: LoadBalancerSettings | None
    hosts: list[str]  # control-plane hosts, the first one runs kubeadm init
    workers: list[str]
    pairs: tuple[SharedPair, ...]
    wanted: dict[str, Wanted]  # contents of every file some host lacks
    pending: dict[str, list[str]]  # host -> paths to write
    ca_cert: bytes  # the Kubernetes CA certificate (public), for the discovery hash
    addresses: dict[str, str] = field(default_factory=dict)  # with k8s_run_kubeadm: host -> IP
    surveys: dict[str, KubeadmSurvey] = field(default_factory=dict)  # with k8s_run_kubeadm
    external_etcd: dict[str, Any] | None = None  # the etcd.external block (external topology)
    token: str = field(default_factory=new_bootstrap_token)  # secret: never shown
    token_ready: bool = False  # set at execution once kubeadm knows the token

    def __repr__(self) -> str:  # wanted and token are secrets: never show them
        return f"ControlPlanePlan(hosts={self.hosts}, pending={self.pending})"

    @property
    def first(self) -> str:
        return self.hosts[0]

    @property
    def apiserver_port(self) -> int:
        return self.lb.apiserver_port if self.lb else KUBEADM_APISERVER_PORT

    def needs_join(self, host: str) -> bool:
        """A host other than the first that has not joined yet (read before any change)."""
        survey = self.surveys.get(host)
        return host != self.first and survey is not None and not survey.joined

    def needs_init(self) -> bool:
        survey = self.surveys.get(self.first)
        return survey is not None and not survey.joined


_plans: dict[int, ControlPlanePlan] = {}


def get_control_plane_plan(state: State) -> ControlPlanePlan:
    """The control-plane plan for this run (built on first use)."""
    return once_per_run(_plans, state, _build)


def _build(state: State) -> ControlPlanePlan:
    hosts = control_plane_hosts(state)
    check_data(state)
    lb = lb_settings(state)
    settings = control_plane_settings_from_data(getter(hosts[0]), bool(etcd_hosts(state)), lb)
    for h in hosts:
        if not h.connected:
            raise DeployInputError(
                f"host {h.name} (control plane) is unreachable or left out by --limit: "
                "the deploy reads every control-plane host before changing any"
            )
    workers = group_hosts(state, WORKERS_GROUP)
    _check_cni_manifest(settings)
    surveys = _preflight(settings, lb, hosts, workers) if settings.run_kubeadm else {}
    pairs = shared_pairs(settings.pki_dir, stacked=settings.etcd_topology == "stacked")
    modes = file_modes(pairs)
    jobs = {h.name: gevent.spawn(h.get_fact, FileDigests, paths=list(modes)) for h in hosts}
    gevent.joinall(list(jobs.values()), raise_error=True)
    decision = kp.decide(pairs, modes, {name: job.value for name, job in jobs.items()})

    by_name = {h.name: h for h in hosts}
    needed = {p for paths in decision.pending.values() for p in paths}
    contents: dict[str, bytes] = {}
    now = datetime.datetime.now(datetime.UTC)
    validity = datetime.timedelta(hours=settings.ca_validity_hours)
    for pair in decision.generate:
        contents.update(kp.new_pair(pair, settings.key_algorithm, validity, now))
    for pair in pairs:
        source = decision.source.get(pair.name)
        if source is None:
            continue
        wanted_paths = [p for p in pair.paths if p in needed]
        if pair.ca is KUBERNETES_CA and pair.public_path not in wanted_paths:
            wanted_paths.append(pair.public_path)  # public: read for the discovery hash
        if not wanted_paths:
            continue
        to_read = pair.paths if needed & set(pair.paths) else tuple(wanted_paths)
        public = [p for p in to_read if p != pair.private_path]
        read = read_files(by_name[source], public)
        content = {path: f.content for path, f in read.items() if f.content is not None}
        if pair.private_path in to_read:  # copied to a host that lacks it: read quietly
            content[pair.private_path] = read_secret(by_name[source], pair.private_path)
        for path, data in content.items():
            if kp.digest(data) != decision.reference[path]:
                raise DeployInputError(f"host {source}: {path} changed while the deploy read it")
        if len(content) == 2:
            problems = kp.pair_problems(pair, content)
            if problems:
                raise DeployInputError(f"host {source}: " + "; ".join(problems))
        contents.update(content)
    ca = next(p for p in pairs if p.ca is KUBERNETES_CA)
    return ControlPlanePlan(
        settings=settings,
        lb=lb,
        hosts=[h.name for h in hosts],
        workers=[h.name for h in workers],
        pairs=pairs,
        wanted={path: Wanted(contents[path], modes[path]) for path in needed},
        pending=decision.pending,
        ca_cert=contents[ca.public_path],
        addresses=(
            {h.name: host_address(h) for h in [*hosts, *workers]} if settings.run_kubeadm else {}
        ),
        surveys=surveys,
        external_etcd=(
            external_etcd(cluster_of(state)) if settings.etcd_topology == "external" else None
        ),
    )


def _preflight(
    settings: ControlPlaneSettings,
    lb: LoadBalancerSettings | None,
    hosts: list[Host],
    workers: list[Host],
) -> dict[str, KubeadmSurvey]:
    """Refuse, naming every host and its fix, unless kubeadm can run on all of them."""
    endpoint_host, endpoint_port = split_host_port(
        "k8s_control_plane_endpoint", settings.control_plane_endpoint
    )
    script = survey_script(endpoint_host, endpoint_port)
    everyone = [*hosts, *[w for w in workers if w not in hosts]]
    jobs = {h.name: gevent.spawn(h.get_fact, KubeadmHostSurvey, script=script) for h in everyone}
    gevent.joinall(list(jobs.values()), raise_error=True)
    control_plane = {h.name for h in hosts}
    found = []
    for name, job in jobs.items():
        problems = refusals(
            job.value,
            settings.version,
            control_plane=name in control_plane,
            stacked=settings.etcd_topology == "stacked",
            apiserver_port=lb.apiserver_port if lb else KUBEADM_APISERVER_PORT,
            endpoint=settings.control_plane_endpoint,
        )
        found += [f"host {name}: {problem}" for problem in problems]
    if found:
        raise DeployInputError(
            "kubeadm cannot run (set k8s_run_kubeadm=False to stop after the CAs): "
            + "; ".join(found)
        )
    return {name: job.value for name, job in jobs.items()}


def _check_cni_manifest(settings: ControlPlaneSettings) -> None:
    """A local manifest must exist; warn when it names networks other than the pod subnet."""
    manifest = settings.cni_manifest
    if not manifest or is_url(manifest):
        return
    try:
        text = Path(manifest).read_text()
    except OSError as error:
        raise DeployInputError(f"k8s_cni_manifest={manifest!r}: {error}") from None
    warning = cni_subnet_warning(text, settings.pod_subnet)
    if warning:
        logger.warning(f"--> control plane: {warning}")
