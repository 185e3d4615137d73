# restart-static-pod: replace this member's etcd pod and wait until the new container runs.
#
# Arguments: mode (rewrite|bounce), manifest, kubeadm config, CRI endpoint, parking
# directory (outside the manifest directory), timeout in seconds.
#   rewrite: `kubeadm init phase etcd local` rewrites the manifest from the config;
#            kubelet replaces the pod when the manifest changed. If kubeadm wrote the
#            same manifest, fall through to bounce.
#   bounce:  move the manifest out of kubelet's directory (never to a name inside it:
#            kubelet loads every file there whose name does not start with a dot; a
#            same-named copy takes the pod over, a restart outside the quorum gate, and
#            removing it stops etcd until kubelet re-reads the directory), wait until
#            the container is gone, move it back.
# Then wait until a running etcd container other than the old one exists. Fails
# (non-zero, reason on stderr) when crictl cannot reach the runtime, kubeadm fails,
# or the container is not replaced in time; a parked manifest is always put back, also
# when the script is interrupted (HUP, INT, TERM).
set -eu
mode=$1 manifest=$2 config=$3 endpoint=$4 park=$5 timeout=$6
parked="$park/$(basename "$manifest")"

# Sets $id to the running etcd container ("" none); exits when crictl fails.
current() {
    if ! ids=$(crictl --runtime-endpoint "$endpoint" ps -q --name '^etcd$' --state running 2>&1); then
        echo "crictl cannot reach the container runtime at $endpoint: $ids" >&2
        exit 1
    fi
    id=$(printf '%s\n' "$ids" | head -n 1)
}
restore() {
    if [ -f "$parked" ]; then
        mv -f "$parked" "$manifest"
    fi
}
# A run killed or cut off mid-way (Ctrl-C, pyinfra killed, ssh gone) must not leave
# the member without its manifest: a signal exits through the EXIT trap too.
trap restore EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

current
old=$id
if [ "$mode" = rewrite ]; then
    before=$(sha256sum <"$manifest" 2>/dev/null || true)
    if ! out=$(kubeadm init phase etcd local --config="$config" 2>&1); then
        echo "kubeadm init phase etcd local --config=$config failed: $out" >&2
        exit 1
    fi
    after=$(sha256sum <"$manifest")
    [ "$before" = "$after" ] && mode=bounce
fi
if [ "$mode" = bounce ]; then
    mkdir -p "$park"
    chmod 700 "$park"
    mv -f "$manifest" "$parked"
    waited=0
    current
    while [ -n "$id" ]; do
        if [ "$waited" -ge "$timeout" ]; then
            echo "etcd container still running ${timeout}s after its manifest was moved away" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
        current
    done
    restore
fi
waited=0
while :; do
    current
    if [ -n "$id" ] && [ "$id" != "$old" ]; then
        echo "etcd container $id replaced ${old:-none}"
        exit 0
    fi
    if [ "$waited" -ge "$timeout" ]; then
        echo "no new etcd container ${timeout}s after the manifest changed (still ${old:-none})" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
