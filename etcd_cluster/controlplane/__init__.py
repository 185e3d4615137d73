"""The HA control-plane guide: kubeadm init and join, the shared Kubernetes CAs."""
