"""Your etcd members: edit this list, then run `pyinfra inventory.py deploy.py`.

Order matters: the first member is the guide's HOST0 and keeps the CA key. Each
entry is an ssh target with its host data; `etcd_address` defaults to the target
when that is an IP address. A `control_plane` group, if present, receives the
client certificate the kube-apiservers need (the HA guide's first step).

The local sandbox of systemd containers (`./demo.sh up`) has its own inventory,
`sandbox/inventory.py`.
"""

etcd = [
    ("10.0.0.6", {"etcd_name": "infra0"}),
    ("10.0.0.7", {"etcd_name": "infra1"}),
    ("10.0.0.8", {"etcd_name": "infra2"}),
]
# control_plane = [("10.0.0.20", {}), ("10.0.0.21", {}), ("10.0.0.22", {})]
