"""Step 6: every file the guide lists for this member is in place, with its mode.

Checked on the host after distribution (from the certificate table), so a failed
write or a stray file cannot pass unnoticed; the run fails naming what is wrong.
"""

from pyinfra import host, state

from etcd_cluster.certlist import ETCD_CA, expected_files
from etcd_cluster.operations import expected_files_present
from etcd_cluster.plan import get_plan

plan = get_plan(state)
settings = plan.cluster.settings
is_first = host.name == plan.cluster.first.host

expected_files_present(
    name="The guide's expected files are in place",
    expected={
        f.path: f"{f.mode} root root" for f in expected_files(settings.pki_dir, is_first=is_first)
    }
    | {settings.kubeadm_config_path: "644 root root"},
    absent=[] if is_first else [ETCD_CA.key_path(settings.pki_dir)],
)
