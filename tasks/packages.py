"""Packages: curl and openssl for the checks, etcdctl for snapshots, and etcd itself for the
systemd runtime.

Only what is missing is installed, so a converged host runs no apt at all. A freshly
installed etcd package starts its own default instance: it is stopped at once, the
deploy's unit takes over in step 7.
"""

from pyinfra import host, state
from pyinfra.operations import apt, systemd

from etcd_cluster import backup
from etcd_cluster.plan import get_plan
from etcd_cluster.preflight import packages_to_install

plan = get_plan(state)
settings = plan.cluster.settings
present = plan.surveys[host.name].present
# etcdctl too: snapshots before upgrades and membership changes need it before step 7
packages = packages_to_install(settings, present) + backup.etcdctl_package(settings, present)

if packages:
    installed = apt.packages(
        name=f"Install {', '.join(packages)}",
        packages=packages,
        update=True,
        cache_time=3600,
        no_recommends=True,
    )
    if settings.etcd_package in packages:
        systemd.service(
            name="Stop the package's default etcd instance",
            service="etcd",
            running=False,
            enabled=False,
            _if=installed.did_change,
        )
