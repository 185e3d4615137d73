"""Steps 3 to 5: the etcd CA, each member's certificates, and their distribution.

Made in memory with ``cryptography`` on the machine running pyinfra, written to
each member through a channel that prints nothing. ``ca.key`` goes to the first
member only; other copies (a first member that changed) are removed only as the run's
last step, once this one is verified (``tasks/ca_key.py``). Valid certificates are
kept; the plan logged at prepare time names every reissue and its reason. For a new
cluster they go in the command that first starts etcd (``Plan.one_upload``), which
checks step 6 before it starts anything: one round trip for steps 3 to 7.
"""

from pyinfra import host, logger, state

from etcd_cluster.engine import converge
from etcd_cluster.engine.operations import pki_files
from etcd_cluster.engine.plan import get_plan


def run() -> None:
    plan = get_plan(state)
    items = plan.items[host.name]

    if host.name == plan.cluster.first.host and plan.ca_created:
        logger.info(
            f"--> etcd: a new etcd CA is made in memory; its key will live on {host.name} only"
        )

    dirs = ", ".join(d.path for d in items.pki_dirs)
    if plan.one_upload(host.name):
        return  # a new cluster: written in the command that starts etcd (tasks/start_etcd.py)
    if plan.for_host(host).pending():  # the directories in the same command
        # and the kubeadm config when it is to be written (tasks/kubeadm_config.py)
        config = converge.carried([items.kubeadm_config])
        pki_files(
            name=f"Install the etcd CA and this member's certificates and keys ({dirs})"
            + (f", and write its kubeadm config {items.kubeadm_config.dest}" if config else ""),
            dirs=items.pki_dirs,
            also=config,
        )
    else:
        converge.put(f"Directories {dirs}", items.pki_dirs)
