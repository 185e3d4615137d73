"""Steps 3 to 5: the etcd CA, each member's certificates, and their distribution.

Made in memory with ``cryptography`` on the machine running pyinfra, written to
each member through a channel that prints nothing. ``ca.key`` goes to the first
member only (and is removed from any other). Valid certificates are kept; the
plan logged at prepare time names every reissue and its reason.
"""

import posixpath

from pyinfra import host, logger, state
from pyinfra.operations import files

from etcd_cluster.certlist import ETCD_CA
from etcd_cluster.operations import pki_files
from etcd_cluster.plan import get_plan

plan = get_plan(state)
settings = plan.cluster.settings
is_first = host.name == plan.cluster.first.host

if is_first and plan.ca_created:
    logger.info(f"--> etcd: a new etcd CA is made in memory; its key will live on {host.name} only")

for directory in host.loop([settings.pki_dir, posixpath.join(settings.pki_dir, "etcd")]):
    files.directory(
        name=f"Directory {directory}", path=directory, mode="755", user="root", group="root"
    )

pki_files(name="Install the etcd CA and this member's certificates and keys")

if not is_first:
    files.file(
        name="ca.key stays on the first member only",
        path=ETCD_CA.key_path(settings.pki_dir),
        present=False,
    )
