"""The etcd PKI, after kubeadm's ``phases/certs``: the certificate table, signing, ca.key."""
