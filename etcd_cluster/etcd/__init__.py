"""etcd itself, after kubeadm's ``phases/etcd`` and ``util/etcd``: flags, runtimes, health."""
