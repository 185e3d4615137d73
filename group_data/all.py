"""Defaults for every setting of the etcd deploy, each documented where it is set.

Override them as pyinfra users expect: in the inventory (host data), in
``group_data/etcd.py``, or on the command line (``--data etcd_runtime=systemd``).
Cluster-wide settings are read from the first member of the ``etcd`` group;
``etcd_name``, ``etcd_address`` and the extra SANs are per host.
"""

# --- Per-member identity (set in the inventory, per host) ------------------------
# etcd_name: the member name; default "infra<index>" as in the guide.
# etcd_address: IPv4 or IPv6 address etcd listens on and advertises; defaults to the
#   inventory name when that is an IP literal (the ssh target may differ from it).
# etcd_server_cert_sans / etcd_peer_cert_sans: extra SANs (IP literals or DNS names)
#   for this member's server / peer certificate, beyond name, localhost, the member
#   address, 127.0.0.1 and ::1. Settable per host or for the whole group.
etcd_server_cert_sans: list[str] = []
etcd_peer_cert_sans: list[str] = []

# --- How etcd runs --------------------------------------------------------------
# "static-pod": the guide's way, kubelet as etcd's service manager and
#   `kubeadm init phase etcd local` (needs kubeadm, kubelet and a container runtime).
# "systemd": etcd under a systemd unit with the flags kubeadm would set, for hosts
#   without kubelet/kubeadm (etcd from its release archive, see etcd_version below).
etcd_runtime = "static-pod"

# kubeadm config API of the rendered kubeadmcfg.yaml: "v1beta4" (kubeadm 1.31+, the
# only one from 1.36; extraArgs as a name/value list) or "v1beta3" (kubeadm up to
# 1.35; extraArgs as a map).
kubeadm_api_version = "v1beta4"

# ClusterConfiguration.kubernetesVersion of the rendered config, e.g. "v1.34.2". "":
# the version of the kubeadm found on each member (`kubeadm version -o short`), so
# kubeadm never looks up "stable-1" over the internet; the field is left out only
# when neither is known (the systemd runtime on hosts without kubeadm). It decides
# the etcd image kubeadm picks when etcd_image_tag is empty.
kubernetes_version = ""

# --- Network --------------------------------------------------------------------
etcd_client_port = 2379  # clients (kube-apiserver) connect here
etcd_peer_port = 2380  # members talk to each other here

# --- Paths on the members ---------------------------------------------------------
etcd_data_dir = "/var/lib/etcd"  # never deleted or moved by this deploy
etcd_pki_dir = "/etc/kubernetes/pki"  # kubeadm's certificatesDir
etcd_kubeadm_config_path = "/etc/kubernetes/kubeadmcfg.yaml"  # the guide's per-host config, kept
# kubelet's staticPodPath. kubeadm always writes etcd's manifest to
# /etc/kubernetes/manifests, so the static-pod runtime refuses any other value.
etcd_manifests_dir = "/etc/kubernetes/manifests"

# --- static-pod runtime -------------------------------------------------------------
# etcd image; "" leaves the choice to kubeadm (registry.k8s.io, the tag its version
# supports). Set both to pin, e.g. "registry.k8s.io" and "3.6.9-0". The preflight
# warns when the etcd this gives is older than kubeadm's MinExternalEtcdVersion
# (3.5.24), and refuses a tag below 3.6.0 with kubeadm 1.36+ (it renders 3.6 flags).
etcd_image_repository = ""
etcd_image_tag = ""
# Guide step 1: the kubelet's cgroup driver ("systemd" or "cgroupfs", match your
# container runtime) and the CRI socket (also the kubeadm config's criSocket). The
# drop-in runs the kubelet found on PATH (`command -v kubelet`), else /usr/bin/kubelet.
kubelet_cgroup_driver = "systemd"
kubelet_container_runtime_endpoint = "unix:///var/run/containerd/containerd.sock"

# --- systemd runtime ----------------------------------------------------------------
# etcd_version: the etcd release installed from etcd's archive, verified against the
# sha256 etcd published (shipped in etcd_cluster/release_checksums.py for 3.5.24 to 3.6.14,
# amd64 and arm64). Empty: the default release, 3.5.33 (kubeadm 1.29-1.36 accept etcd >=
# 3.5.24 for etcd.external; a cluster on Debian's 3.4 reaches it in one minor step, and
# it is >= 3.5.26, which etcd requires before 3.6). "distro": etcd_binary, installing
# etcd_package when it is absent (Debian bookworm's is 3.4.23, too old for current
# kubeadm: the run warns). Each version is unpacked side by side under
# /opt/etcd/v<version>/ and the unit runs it; changing it upgrades the cluster one member
# at a time (followers first, the leader last), one minor version at a time, never down.
etcd_version = ""
etcd_binary = "/usr/bin/etcd"  # etcd_version="distro": used as is when present
etcd_package = "etcd-server"  # apt package installed when etcd_binary is absent ("" = never)
# Where the archive comes from: a URL with {version} and {arch} (amd64, arm64, ...), one
# .tar.gz, or a mirror (a URL or directory holding etcd-v<version>-linux-<arch>.tar.gz); a
# path is on the machine running pyinfra (uploaded to the members).
etcd_archive_url = (
    "https://github.com/etcd-io/etcd/releases/download/v{version}/"
    "etcd-v{version}-linux-{arch}.tar.gz"
)
# Your own checksums, added to (and overriding) the shipped ones: {"3.5.16": "<sha256>"}
# for every arch, or {"3.5.16": {"amd64": "...", "arm64": "..."}}. An archive is verified
# before anything is installed; a version without a checksum, or an archive that does not
# match it, is refused.
etcd_archive_sha256: dict[str, object] = {}

# --- Certificates ---------------------------------------------------------------------
# kubeadm's encryptionAlgorithm: "RSA-2048" (default), "RSA-3072", "RSA-4096",
# "ECDSA-P256", "ECDSA-P384". Used for the CA and every member certificate.
etcd_key_algorithm = "RSA-2048"
etcd_cert_validity_hours = 8760  # member certificates: 1 year, as kubeadm
etcd_ca_validity_hours = 87600  # a new CA: 10 years, as kubeadm
# A certificate that expires within this many days is reissued on the next run (no
# restart: etcd loads its certificate on each new TLS handshake; the run checks that
# the new one is served): run the deploy regularly to renew.
etcd_renew_before_days = 30
# Your existing CA (the guide's "if you already have a CA"): paths on the machine
# running pyinfra. Empty: the first member's CA is used, or a new one is made. A CA
# without SubjectKeyIdentifier (older kubeadm) works; an expired one is refused.
etcd_ca_cert_file = ""
etcd_ca_key_file = ""

# --- etcd flags ------------------------------------------------------------------------
# Extra etcd flags, added to the guide's extraArgs (same name: replaces it), e.g.
# {"quota-backend-bytes": "8589934592"}. Both runtimes. Refused: name, data-dir,
# initial-cluster, initial-cluster-state, listen-peer-urls, listen-client-urls,
# advertise-client-urls and initial-advertise-peer-urls (derived from the inventory,
# etcd_address and the ports), and values with spaces, quotes, backslashes, "$", "%"
# or "`". Checked against the etcd version before any host changes: etcd 3.6's new
# names (feature-gates, watch-progress-notify-interval, ...) are refused for older
# etcd; etcd 3.6 warns about the experimental-* names it deprecates.
etcd_extra_args: dict[str, str] = {}
# Where etcd serves /metrics and /health on port 2381 (plain http, as kubeadm serves it):
# "loopback" is kubeadm's http://127.0.0.1:2381 only; "member" adds the member's own
# etcd_address (http://<etcd_address>:2381) for a Prometheus elsewhere to scrape - open
# the port only to your monitoring. Alerting rules: docs/prometheus-alerts.yaml.
etcd_metrics_address = "loopback"

# --- Membership ---------------------------------------------------------------------------
# The inventory's group "etcd" is the desired membership. A host not yet a member joins
# as a learner and is promoted once it caught up (one at a time). A live member that is
# not in the inventory is removed only when named here (otherwise the run refuses,
# naming it); a reachable removed host listed in the inventory group "etcd_removed" gets
# its etcd stopped and disabled, its data dir moved aside and its keys removed.
etcd_remove_members: list[str] = []
# Members whose data is lost (empty data dir while the cluster lists them): their old
# entry is removed and they are added again as learners, their data re-synced.
etcd_replace_members: list[str] = []

# --- Snapshots ------------------------------------------------------------------------------
# Where snapshots are kept on the members (mode 700; each snapshot 600: they hold every
# Kubernetes Secret). An upgrade saves a verified snapshot here before any restart.
etcd_backup_dir = "/var/backups/etcd"
# Scheduled snapshots: etcd-backup.timer on every member (both runtimes).
# Each member snapshots itself (its own client endpoint, the healthcheck-client
# certificate) into etcd_backup_dir as etcd-snapshot-<member>-<UTC time>.db: written
# to a temporary file there, verified with `snapshot status`, then renamed; mode 600
# in a mode 700 directory (a snapshot holds every Kubernetes Secret). The schedule is a
# systemd OnCalendar value; the run warns when a member's newest snapshot is older than
# two intervals of it, or its last etcd-backup.service run failed.
etcd_backup_schedule = "hourly"
# Tiered retention, by each file's time on disk (not its name), locally and on the
# remote: the newest snapshot of each of the newest N hours, M days and K weeks (UTC,
# weeks from Monday) that have one is kept, the rest pruned; the one just made always
# stays. 0 turns a tier off. etcd_backup_keep (before tiers, all there was: 24) keeps
# the newest N as well, whatever their times; 0 leaves it to the tiers.
etcd_backup_keep = 0
etcd_backup_keep_hourly = 24
etcd_backup_keep_daily = 7
etcd_backup_keep_weekly = 4
# Names the cluster in off-host copies: <remote>/<cluster>/<member>/<cluster>-<member>-<UTC>.*
etcd_cluster_name = "etcd"
# Off-host copies: an rclone remote path ("s3:bucket/etcd", "sftp-backup:/srv/etcd"; ""
# none). After each scheduled snapshot is verified it is copied there (rclone copyto),
# and the remote is pruned by the same tiers. A failed copy fails etcd-backup.service
# (the status shows it). rclone (and age) are installed from Debian only when set.
etcd_backup_remote = ""
# The rclone configuration that defines the remote: a file on the controller, uploaded
# to /etc/etcd-backup/rclone.conf (mode 600, root) and never shown in any output.
etcd_backup_rclone_config = ""
# An age public key (age1...) or a recipients file on the controller: each off-host copy
# is then one archive (tar, uncompressed, streamed into `age`) of the snapshot, the etcd
# CA (ca.key too, from the member that holds it) and cluster.json, that the members can
# write but never read. Without it only the bare snapshot goes off-host (the run says so).
etcd_backup_age_recipient = ""
# The deploy's own snapshots before an upgrade or a membership change
# (...-before-upgrade.db, ...-before-membership-change.db): this many of each member's
# are kept, the oldest pruned when a new one is made.
etcd_backup_keep_before_change = 5
# etcdctl for snapshots and restores (etcdutl is used instead when it sits next to it
# or is on PATH). Installed from Debian's etcd-client when it is /usr/bin/etcdctl,
# missing, and apt-get is there; the static-pod runtime's hosts usually lack it.
etcdctl_binary = "/usr/bin/etcdctl"

# --- Health (step 8) and rolling restarts ----------------------------------------------
etcd_health_timeout = 120  # seconds to wait for a healthy cluster with one leader
etcd_health_interval = 1  # seconds between probes
etcd_log_lines = 30  # log lines shown for a member that fails
# systemd runtime: seconds etcd may take to start (the unit's TimeoutStartSec, 90..86400).
# etcd reports ready only once it has caught up with the cluster: a member joining a
# cluster with a large database needs more than systemd's default 90 s.
etcd_start_timeout = 900

# --- One run at a time (see docs/design.md "One run at a time") --------------------------
# A run that changes the cluster holds a lock on every member. A lock whose run was killed
# on this machine is taken over at once; one from another machine after etcd_lock_ttl
# seconds (make it longer than your longest run), or at once with etcd_lock_break=yes,
# which takes over ANY holder's lock: use it only once you know that run is gone.
etcd_lock_ttl = 3600
etcd_lock_break = "no"

# --- Defragmentation and NOSPACE (see docs/design.md "Defragmentation and NOSPACE") -----
# A member whose DB file is at least etcd_defrag_free_percent free space, and at least
# etcd_defrag_free_mb MiB of it, is defragmented by the run: one member at a time behind
# the restart gate, followers first, leadership moved off the leader before its turn.
# (Talos's guide: defragment below 50 % in use; etcd-defrag's example rule: 200 MB free.)
etcd_defrag_free_percent = 50
etcd_defrag_free_mb = 100
# An active NOSPACE alarm makes every run refuse; etcd_nospace_recover=yes compacts to the
# current revision, defragments every member, disarms the alarm and checks a write.
etcd_nospace_recover = "no"

# --- Status (status.py only; see README "Status at any time") ---------------------------
# etcd_status_json: also write the status report as JSON to this path on the machine
# running pyinfra ("" : table only).
etcd_status_json = ""

# --- Restore (restore.py only; see docs/design.md "Backups and restore") ----------------
# etcd_restore_snapshot: path of a snapshot on the FIRST member, or an rclone REMOTE:PATH
#   (fetched with etcd_backup_rclone_config); a bare .db, or an age-encrypted .tar.age archive.
# etcd_restore_confirm: must be "yes": a restore takes the whole cluster back in time.
# etcd_restore_age_identity: path on the controller of the age identity that opens a
#   .tar.age archive (on a host only while it is decrypted, under /run; removed after).
# etcd_backup_rclone_config (above) is also how restore.py fetches a REMOTE:PATH.
etcd_restore_snapshot = ""
etcd_restore_confirm = ""
etcd_restore_age_identity = ""

# --- Hand-off to the control plane -------------------------------------------------------
# Written on the machine running pyinfra once the cluster is healthy: the
# `etcd.external` block for the control plane's kubeadm ClusterConfiguration.
etcd_external_config_path = "etcd-external.yaml"

# =========================================================================================
# The HA control-plane guide ("Creating Highly Available Clusters with kubeadm")
# =========================================================================================
# Groups: `lb` (haproxy + keepalived), `control_plane` (kubeadm init/join --control-plane),
# `workers` (kubeadm join). Without an `lb` group nothing below is used. Settings are read
# from the first host of the group that uses them.
#
# k8s_address (per host): the IP address other hosts reach this host at; defaults to
#   etcd_address, then to the inventory name when that is an IP literal.

# --- Load balancer (group `lb`) -----------------------------------------------------------
# The virtual IP keepalived holds on one lb host (VRRP); required with an `lb` group.
# It is the control plane endpoint's address (controlPlaneEndpoint = VIP:k8s_lb_port).
k8s_lb_vip = ""
# haproxy's frontend port on the VIP. On hosts that run both haproxy and an apiserver it
# must differ from k8s_apiserver_port (e.g. 8443): the deploy refuses otherwise.
k8s_lb_port = 6443
k8s_apiserver_port = 6443  # where each kube-apiserver listens
# haproxy's backends, "address:port" ("[v6]:port"); empty: every control_plane host's
# k8s_address with k8s_apiserver_port. Each is checked with HTTPS GET /healthz.
k8s_apiserver_backends: list[str] = []
# The interface VRRP runs on and the VIP is added to; "" = the interface holding the
# host's k8s_address (settable per host).
k8s_lb_vrrp_interface = ""
# VRRP virtual router id (1..255): unique among the VRRP groups on the network segment.
k8s_lb_vrrp_router_id = 51

# --- Control plane (groups `control_plane` and `workers`) --------------------------------
# The control-plane steps run when there is a `control_plane` group and an endpoint: an
# `lb` group or k8s_control_plane_endpoint.
# Kubernetes version for kubeadm's kubernetesVersion; kubeadm and kubelet on the hosts
# must be this version (checked before any change).
k8s_version = "1.33.2"
# "external": kube-apiservers use this project's etcd group (etcd.external);
# "stacked": kubeadm runs etcd on the control-plane hosts (etcd.local).
# "" = external when the inventory has an etcd group, else stacked.
k8s_etcd_topology = ""
# kubeadm's controlPlaneEndpoint, "address:port"; "" = k8s_lb_vip:k8s_lb_port. Set it
# when an external load balancer is used instead of the `lb` group.
k8s_control_plane_endpoint = ""
k8s_pod_subnet = "10.244.0.0/16"  # networking.podSubnet: must match the CNI manifest's
k8s_service_subnet = "10.96.0.0/12"  # networking.serviceSubnet (kubeadm's default)
# The CNI manifest applied with kubectl once the first control plane answers: a path on
# the machine running pyinfra, or a URL. "" = none (apply your own).
k8s_cni_manifest = ""
k8s_pki_dir = "/etc/kubernetes/pki"  # kubeadm's certificatesDir on control-plane hosts
# Key algorithm and validity of the shared CAs made by the deploy (ca, front-proxy-ca,
# sa key pair, and the etcd CA when stacked): kubeadm's defaults.
k8s_key_algorithm = "RSA-2048"
k8s_ca_validity_hours = 87600
# False: stop after the shared CAs and kubeadm configs are in place (no kubeadm, no
# kubelet needed on the hosts); True: also preflight and run kubeadm init/join.
k8s_run_kubeadm = True
