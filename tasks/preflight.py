"""Preflight: refuse bad input before any host changes.

Runs while pyinfra prepares, before any operation executes. The first host to get
here builds the run's plan (inventory and data checks, every member's current
files and a survey of each member, data-safety rules); then each member is checked
for what its runtime needs, and for versions: kubeadm against the config API and
key algorithm, etcd against the flags rendered for it (``etcd_cluster/etcd/versions.py``).
"""

from pyinfra import host, logger, state

from etcd_cluster.backup.schedule import etcdctl_missing
from etcd_cluster.engine.plan import get_plan, is_member
from etcd_cluster.engine.preflight import missing_requirements
from etcd_cluster.errors import DeployInputError
from etcd_cluster.etcd.release import archive_refusals, local_sha256
from etcd_cluster.etcd.versions import min_external_warnings, version_findings


def run() -> None:
    plan = get_plan(state)
    settings = plan.cluster.settings

    if is_member(host):
        survey = plan.surveys[host.name]
        missing = missing_requirements(settings, survey.present)
        missing += etcdctl_missing(settings, survey.present)
        if missing:
            raise DeployInputError(
                f"host {host.name}: etcd_runtime={settings.runtime!r} cannot run here, missing: "
                + "; ".join(missing)
            )
        findings = version_findings(
            host.name, settings, survey.etcd_version, survey.kubeadm_version
        )
        refusals = archive_refusals(settings, host.name, survey.machine, local_sha256)
        refusals += findings.refusals
        if refusals:
            raise DeployInputError("; ".join(refusals))
        for warning in findings.warnings:
            logger.warning(f"--> etcd: {warning}")
        if host.name == plan.cluster.first.host:  # one warning for the cluster, not one a member
            versions = {
                name: (s.etcd_version, s.kubeadm_version) for name, s in plan.surveys.items()
            }
            for warning in min_external_warnings(settings, versions):
                logger.warning(f"--> etcd: {warning}")
