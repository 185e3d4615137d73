"""A chosen etcd version from etcd's release archive (systemd runtime, ``etcd_version``).

Each version is unpacked side by side under /opt/etcd/v<version>/ (the previous one
stays until the upgrade is done), from an archive verified against
``etcd_archive_sha256`` before anything is unpacked; the install records the archive's
checksums, and a release that no longer matches them (a swapped binary, another mode
or owner: ``release_check.py``, read by the survey) is installed again before step 7
restarts anything. The unit (step 7) then points at
the chosen version, and the rolling restart moves each member over, one at a time.
"""

from pyinfra import host, logger, state
from pyinfra.operations import files, server

from etcd_cluster import scripts
from etcd_cluster.engine.managed import release_to_install
from etcd_cluster.engine.plan import get_plan
from etcd_cluster.etcd import release, release_check


def run() -> None:
    plan = get_plan(state)
    settings = plan.cluster.settings
    survey = plan.surveys[host.name]
    version = settings.etcd_version

    for problem in survey.binary_problems:
        logger.warning(f"--> etcd: {host.name}: {problem}: installing it again from the archive")

    if release_to_install(settings, survey):
        arch = release.release_arch(survey.machine)
        source = release.archive_source(settings, arch)
        archive = release.archive_path(version, arch)
        sha256 = settings.archive_sha256(version, arch)
        files.directory(
            name=f"Directory {release.ARCHIVE_DIR}",
            path=release.ARCHIVE_DIR,
            mode="755",
            user="root",
            group="root",
        )
        if release.is_local(source):
            files.put(
                name=f"Upload {release.archive_name(version, arch)}",
                src=source,
                dest=archive,
                mode="644",
                user="root",
                group="root",
            )
        else:
            files.download(
                name=f"Download {release.archive_name(version, arch)}",
                src=source,
                dest=archive,
                sha256sum=sha256,
                mode="644",
                user="root",
                group="root",
            )
        server.shell(
            name=f"Install etcd {version} in {release.install_dir(version)} "
            "(archive verified first)",
            commands=[
                scripts.command(
                    "install_release",
                    archive,
                    sha256,
                    version,
                    arch,
                    release.INSTALL_ROOT,
                    release_check.record_path(version),
                )
            ],
        )
