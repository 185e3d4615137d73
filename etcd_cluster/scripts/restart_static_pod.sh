# restart-static-pod: render this member's manifest through kubeadm and/or replace its etcd
# pod, and wait until the new container runs.
#
# Arguments: mode (start|render|rewrite|bounce), manifest, kubeadm config, CRI endpoint,
# parking directory (outside the manifest directory), timeout in seconds, record file.
#   start:   `kubeadm init phase etcd local` writes the manifest (a first start or a
#            join); kubelet starts the pod. No wait.
#   render:  kubeadm rewrites the manifest from the config; kubelet replaces the pod when
#            the manifest changed, and then the script waits for it. If kubeadm wrote
#            the same manifest, nothing is restarted (the pod already runs it).
#   rewrite: as render, but if kubeadm wrote the same manifest, fall through to bounce.
#   bounce:  move the manifest out of kubelet's directory (never to a name inside it:
#            kubelet loads every file there whose name does not start with a dot; a
#            same-named copy takes the pod over, a restart outside the quorum gate, and
#            removing it stops etcd until kubelet re-reads the directory), wait until
#            the container is gone, move it back.
# Each time kubeadm rendered, the record file gets one line "<sha256 of the config>
# <sha256 of the manifest>": the survey compares the live manifest with it, so a manifest
# changed by anything but kubeadm from the deploy's config is seen (restarts.py).
# Then wait until a running etcd container other than the old one exists. Fails
# (non-zero, reason on stderr) when crictl cannot reach the runtime, kubeadm fails,
# or the container is not replaced in time; a parked manifest is always put back, also
# when the script is interrupted (HUP, INT, TERM).
set -eu
mode=$1 manifest=$2 config=$3 endpoint=$4 park=$5 timeout=$6 record=${7:-}
parked="$park/$(basename "$manifest")"

digest() { sha256sum <"$1" | cut -d' ' -f1; }
# kubeadm renders the manifest from the config; the record says what it rendered.
render() {
    if ! out=$(kubeadm init phase etcd local --config="$config" 2>&1); then
        echo "kubeadm init phase etcd local --config=$config failed: $out" >&2
        exit 1
    fi
    if [ -n "$record" ]; then
        mkdir -p "$(dirname "$record")"
        echo "$(digest "$config") $(digest "$manifest")" >"$record.tmp"
        mv -f "$record.tmp" "$record"
    fi
}

# Sets $id to the running etcd container ("" none); exits when crictl fails.
current() {
    if ! ids=$(crictl --runtime-endpoint "$endpoint" ps -q --name '^etcd$' --state running 2>&1); then
        echo "crictl cannot reach the container runtime at $endpoint: $ids (start the runtime, or point kubelet_container_runtime_endpoint at its socket)" >&2
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

if [ "$mode" = start ]; then
    render
    echo "kubeadm wrote $manifest"
    exit 0
fi
current
old=$id
if [ "$mode" = rewrite ] || [ "$mode" = render ]; then
    before=$(digest "$manifest" 2>/dev/null || true)
    render
    if [ "$before" = "$(digest "$manifest")" ]; then
        if [ "$mode" = render ]; then
            echo "kubeadm wrote the same manifest: etcd container ${old:-none} runs it already"
            exit 0
        fi
        mode=bounce
    fi
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
