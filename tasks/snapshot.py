"""Before an upgrade or a membership change: a verified snapshot of the cluster.

When members run an older etcd than the chosen one (``etcd_version``, or the static
pod's ``etcd_image_tag``), or the membership changes, a member that had data saves a
snapshot into ``etcd_backup_dir``, verified with ``snapshot status``, mode 600. Then
the rolling restart (step 7) upgrades one member at a time, followers first and the
leader last, and the membership changes go one at a time.
"""

import datetime

from pyinfra import host, state
from pyinfra.operations import server

from etcd_cluster import release, scripts
from etcd_cluster.certlist import ETCD_CA, ETCD_HEALTHCHECK_CLIENT
from etcd_cluster.membership_ops import executor
from etcd_cluster.plan import get_plan

plan = get_plan(state)
cluster = plan.cluster
settings = cluster.settings
first = cluster.member(executor(plan))
why = "upgrade" if plan.upgrading else "membership-change"

if (plan.upgrading or plan.membership.changes) and host.name == first.host:
    if settings.etcd_version:
        etcdctl = f"{release.install_dir(settings.etcd_version)}/etcdctl"
    else:
        etcdctl = "etcdctl"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    pki = settings.pki_dir
    server.shell(
        name=f"Save a verified snapshot before the {why.replace('-', ' ')}",
        commands=[
            scripts.command(
                "snapshot_save",
                etcdctl,
                first.client_url(settings.client_port),
                ETCD_CA.cert_path(pki),
                ETCD_HEALTHCHECK_CLIENT.cert_path(pki),
                ETCD_HEALTHCHECK_CLIENT.key_path(pki),
                settings.backup_dir,
                f"etcd-snapshot-{first.name}-{stamp}-before-{why}.db",
            )
        ],
    )
