"""The oracles of "Creating Highly Available Clusters with kubeadm", copied verbatim.

Source: an old version of the guide (kubeadm.k8s.io/v1beta1,
``--experimental-control-plane``), dedented. The tests replace its
placeholders and compare field by field, apart from the API version and the
``kubernetesVersion: stable`` the deploy pins to ``k8s_version``.
"""

# "Stacked control plane and etcd nodes", first control plane node: kubeadm-config.yaml.
STACKED_CLUSTER_CONFIGURATION = """\
apiVersion: kubeadm.k8s.io/v1beta1
kind: ClusterConfiguration
kubernetesVersion: stable
apiServer:
  certSANs:
  - "LOAD_BALANCER_DNS"
controlPlaneEndpoint: "LOAD_BALANCER_DNS:LOAD_BALANCER_PORT"
"""

# "External etcd nodes", first control plane node: kubeadm-config.yaml.
EXTERNAL_CLUSTER_CONFIGURATION = """\
apiVersion: kubeadm.k8s.io/v1beta1
kind: ClusterConfiguration
kubernetesVersion: stable
apiServer:
  certSANs:
  - "LOAD_BALANCER_DNS"
controlPlaneEndpoint: "LOAD_BALANCER_DNS:LOAD_BALANCER_PORT"
etcd:
    external:
        endpoints:
        - https://ETCD_0_IP:2379
        - https://ETCD_1_IP:2379
        - https://ETCD_2_IP:2379
        caFile: /etc/kubernetes/pki/etcd/ca.crt
        certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt
        keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key
"""

# The join command `kubeadm init` prints, as the other control-plane nodes run it.
CONTROL_PLANE_JOIN = (
    "sudo kubeadm join 192.168.0.200:6443 --token j04n3m.octy8zely83cy2ts "
    "--discovery-token-ca-cert-hash "
    "sha256:84938d2a22203a8e56a787ec0c6ddad7bc7dbd52ebabc62fd5f4dbea72b14d1f "
    "--experimental-control-plane"
)
