"""Preflight: refuse bad input before any host changes.

Runs while pyinfra prepares, before any operation executes. The first host to get
here builds the run's plan (inventory and data checks, every member's current
files and a survey of each member, data-safety rules); then each member is checked
for what its runtime needs.
"""

from pyinfra import host, state

from etcd_cluster.backup import etcdctl_missing
from etcd_cluster.errors import DeployInputError
from etcd_cluster.plan import get_plan, is_member
from etcd_cluster.preflight import missing_requirements

plan = get_plan(state)
settings = plan.cluster.settings

if is_member(host):
    present = plan.surveys[host.name].present
    missing = missing_requirements(settings, present) + etcdctl_missing(settings, present)
    if missing:
        raise DeployInputError(
            f"host {host.name}: etcd_runtime={settings.runtime!r} cannot run here, missing: "
            + "; ".join(missing)
        )
