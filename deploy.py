"""Set up a highly available etcd cluster for Kubernetes, as kubeadm's guide does by hand.

    pyinfra inventory.py deploy.py          # converge the cluster
    pyinfra inventory.py deploy.py --dry    # show the plan, change nothing

Each include is one step of "Set up a High Availability etcd cluster with kubeadm";
re-running changes nothing unless something drifted. Certificates are renewed when
they near expiry, with members restarted one at a time behind health checks.
Then the steps of "Creating Highly Available Clusters with kubeadm" for the groups `lb`,
`control_plane` and `workers` (an inventory with only those groups skips the etcd steps).
"""

from pyinfra import host, local, state

from etcd_cluster.ha_hosts import control_plane_wanted, etcd_steps_wanted
from etcd_cluster.membership_ops import is_retiring
from etcd_cluster.plan import is_member

if etcd_steps_wanted(state):
    local.include("tasks/preflight.py")  # refuse bad input before any host changes
    local.include("tasks/run_lock.py")  # one run at a time: the lock, if this run changes anything
    if is_member(host):
        local.include("tasks/packages.py")  # curl, openssl; etcd for the systemd runtime
        local.include("tasks/install_etcd.py")  # a chosen etcd version from its release archive
        local.include("tasks/kubelet.py")  # 1. kubelet as etcd's service manager (static-pod)
        local.include("tasks/kubeadm_config.py")  # 2. one kubeadm config per host
        local.include("tasks/certificates.py")  # 3-5. CA, member certificates, distribution
        local.include("tasks/expected_files.py")  # 6. every expected file is in place
    if is_member(host) or is_retiring(host):
        local.include("tasks/snapshot.py")  # a verified snapshot, or nothing changes: a gate
        local.include("tasks/membership.py")  # members no longer in the inventory are removed
    if is_member(host):
        local.include("tasks/start_etcd.py")  # 7. start etcd; new members join; rolling restarts
        local.include("tasks/defrag.py")  # defragment by rule; NOSPACE recovery when asked
        local.include("tasks/health.py")  # 8. all members healthy, one leader; status table
        local.include("tasks/backup.py")  # scheduled snapshots: etcd-backup.timer on every member
    local.include("tasks/control_plane.py")  # hand-off: etcd.external for the control plane
    if is_member(host) or is_retiring(host):
        local.include("tasks/ca_key.py")  # last: ca.key leaves every host but the first member

# --- HA control-plane guide ---
local.include("tasks/load_balancer.py")  # haproxy + keepalived VIP in front of the apiservers
if control_plane_wanted(state):
    local.include("tasks/kubernetes_pki.py")  # the shared CAs on every control-plane host
    local.include("tasks/kubeadm_control_plane.py")  # kubeadm init, CNI, kubeadm join

if etcd_steps_wanted(state):
    local.include("tasks/run_unlock.py")  # last: give the run lock back
