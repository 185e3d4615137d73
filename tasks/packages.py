"""Packages: curl and openssl for the checks, etcdctl for snapshots, and etcd itself for the
systemd runtime.

Only what is missing is installed, so a converged host runs no apt at all. A freshly
installed etcd package starts its own default instance: it is stopped at once, the
deploy's unit takes over in step 7. A packaged etcd that dpkg says is not the file the
package installed (the survey's ``dpkg --verify``) has the same package version installed
again, with its service scripts held off, before step 7 restarts anything.
"""

from pyinfra import host, logger, state
from pyinfra.operations import apt, server, systemd

from etcd_cluster import scripts
from etcd_cluster.backup import schedule as backup
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.engine.preflight import packages_to_install
from etcd_cluster.etcd import release_check


def run() -> None:
    plan = get_plan(state)
    settings = plan.cluster.settings
    present = plan.surveys[host.name].present
    # etcdctl too: snapshots before upgrades and membership changes need it before step 7
    packages = packages_to_install(settings, present) + backup.backup_packages(settings, present)

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

    survey = plan.surveys[host.name]
    if release_check.packaged(settings) and survey.binary_problems:
        for problem in survey.binary_problems:
            logger.warning(f"--> etcd: {host.name}: {problem}: installing the package again")
        server.shell(
            name=f"Install {settings.etcd_package} again (its etcd is not the package's)",
            commands=[scripts.command("reinstall_package", settings.etcd_package)],
        )
