"""Set up a highly available etcd cluster for Kubernetes, as kubeadm's guide does by hand.

    pyinfra inventory.py deploy.py          # converge the cluster
    pyinfra inventory.py deploy.py --dry    # show the plan, change nothing

``deploy_etcd_cluster`` runs the steps of "Set up a High Availability etcd cluster with
kubeadm", one module of ``tasks/`` each (``etcd_cluster/deploys.py``); re-running changes
nothing unless something drifted. Certificates are renewed when they near expiry, with
members restarted one at a time behind health checks. ``deploy_ha_control_plane`` then
runs the steps of "Creating Highly Available Clusters with kubeadm" for the groups `lb`,
`control_plane` and `workers` (an inventory with only those groups skips the etcd steps).
Your own deploy file can import and call the same two functions (``pip install`` this
repository).
"""

from etcd_cluster import deploy_etcd_cluster, deploy_ha_control_plane

deploy_etcd_cluster()
deploy_ha_control_plane()
