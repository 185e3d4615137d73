# retire-static-pod: take a removed member's static etcd pod down for good (static-pod
# runtime), before retire_member moves its data aside.
#
# Arguments: mode (check|retire), manifest, CRI endpoint, directory to keep the manifest
# in (outside kubelet's manifest directory), timeout in seconds.
#   check:  print what is left: "manifest" while kubelet still has the manifest,
#           "container" while an etcd container runs, "runtime" when crictl fails
#   retire: move the manifest out of kubelet's directory (kept, named with the time,
#           never deleted: kubelet would otherwise restart the removed member for ever),
#           then wait until no etcd container runs. Fails (non-zero, reason on stderr)
#           when crictl fails or the container outlives the timeout.
set -u
mode=$1 manifest=$2 endpoint=$3 aside=$4 timeout=$5

running() { # sets $ids to the running etcd containers; fails when crictl fails
    ids=$(crictl --runtime-endpoint "$endpoint" ps -q --name '^etcd$' --state running 2>&1)
}

if [ "$mode" = check ]; then
    left=""
    [ -e "$manifest" ] && left="$left manifest"
    if ! running; then
        left="$left runtime"
    elif [ -n "$ids" ]; then
        left="$left container"
    fi
    echo "$left"
    exit 0
fi
set -e
if [ -e "$manifest" ]; then
    mkdir -p "$aside"
    chmod 700 "$aside"
    kept="$aside/$(basename "$manifest").removed-$(date -u +%Y%m%dT%H%M%SZ)"
    mv "$manifest" "$kept"
    echo "moved $manifest to $kept"
fi
waited=0
while :; do
    if ! running; then
        echo "crictl cannot reach the container runtime at $endpoint: $ids (start the runtime, or point kubelet_container_runtime_endpoint at its socket)" >&2
        exit 1
    fi
    [ -z "$ids" ] && break
    if [ "$waited" -ge "$timeout" ]; then
        echo "etcd container still running ${timeout}s after its manifest was moved away" >&2
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done
echo "no etcd container runs"
