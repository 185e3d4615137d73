# restore-member: one phase of restoring this member from a snapshot (restore.py).
#
# Phases (first argument), each failing non-zero with the reason on stderr:
#   survey SNAPSHOT ETCDCTL ETCDUTL DATA_DIR
#       tool:<path> kind:<etcdutl|etcdctl> bump:<yes|no>  the restore tool here and whether
#       it has --bump-revision/--mark-compacted; data:yes when DATA_DIR exists, member_data:yes
#       when it holds etcd's member/ dir, data_mount:yes when it is a mount point; with a SNAPSHOT ("" for none): snapshot_sha256:<hex>,
#       snapshot_hash:<ok|bad|none> (the sha256 etcd appends to a snapshot: checked without
#       any etcd tool, so also on hosts that get etcd only in this run) and status:<json> or
#       status_error:<text>
#   receive DEST SHA256
#       stdin to DEST (mode 600, via a temporary file beside it), kept only if its sha256 is SHA256
#   stop RUNTIME UNIT MANIFEST PARK_DIR CRI_ENDPOINT TIMEOUT
#       systemd: stop the unit. static-pod: move the manifest out of kubelet's directory into
#       PARK_DIR and wait until crictl shows no running etcd container.
#   restore SNAPSHOT DATA_DIR ASIDE KIND TOOL NAME PEER_URL INITIAL_CLUSTER TOKEN BUMP INNER
#       move DATA_DIR aside to ASIDE (never deleted), then restore SNAPSHOT into DATA_DIR as
#       member NAME of INITIAL_CLUSTER with the new TOKEN (BUMP > 0: --bump-revision BUMP
#       --mark-compacted); the data dir ends up mode 700. When DATA_DIR is a mount point (a
#       dedicated disk, which cannot be renamed), its contents go aside into INNER inside it
#       (earlier asides and lost+found stay), the snapshot is restored next to them and its
#       member/ moved in: renames within the mount, and the mount point stays.
#   start RUNTIME UNIT MANIFEST PARK_DIR
#       systemd: start the unit without waiting (all members must come up together).
#       static-pod: move the parked manifest back; kubelet starts the pod.
set -eu
umask 077
phase=$1
shift

case $phase in
survey)
    snapshot=$1 etcdctl=$2 etcdutl=$3 data_dir=$4
    [ -x "$etcdutl" ] || etcdutl=$(command -v etcdutl || true)
    if [ -n "$etcdutl" ]; then
        echo "tool:$etcdutl"
        echo "kind:etcdutl"
        help=$("$etcdutl" snapshot restore --help 2>&1 || true)
    elif [ -x "$etcdctl" ]; then
        echo "tool:$etcdctl"
        echo "kind:etcdctl"
        help=$(ETCDCTL_API=3 "$etcdctl" snapshot restore --help 2>&1 || true)
    else
        help=
    fi
    case $help in
    *--bump-revision*--mark-compacted* | *--mark-compacted*--bump-revision*) echo "bump:yes" ;;
    *) echo "bump:no" ;;
    esac
    [ -e "$data_dir" ] && echo "data:yes"
    [ -d "$data_dir/member" ] && echo "member_data:yes"
    mountpoint -q "$data_dir" 2>/dev/null && echo "data_mount:yes"
    if [ -n "$snapshot" ]; then
        if [ ! -f "$snapshot" ]; then
            echo "status_error:no such file"
        else
            echo "snapshot_sha256:$(sha256sum <"$snapshot" | cut -d' ' -f1)"
            # etcd appends the sha256 of the db to a snapshot it sends (size % 512 == 32)
            size=$(stat -c %s "$snapshot")
            if [ $((size % 512)) -eq 32 ]; then
                want=$(tail -c 32 "$snapshot" | od -An -v -tx1 | tr -d ' \n')
                got=$(head -c $((size - 32)) "$snapshot" | sha256sum | cut -d' ' -f1)
                if [ "$got" = "$want" ]; then echo "snapshot_hash:ok"; else echo "snapshot_hash:bad"; fi
            else
                echo "snapshot_hash:none"
            fi
            if [ -n "$etcdutl" ]; then
                out=$("$etcdutl" snapshot status "$snapshot" -w json 2>&1) || true
            else
                out=$(ETCDCTL_API=3 "$etcdctl" snapshot status "$snapshot" -w json 2>&1) || true
            fi
            case $out in
            *'"revision":'*) echo "status:$(echo "$out" | tr -d '\n')" ;;
            *) echo "status_error:$(echo "$out" | tr '\n' ' ')" ;;
            esac
        fi
    fi
    ;;
receive)
    dest=$1 want=$2
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp "$dest.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    cat >"$tmp"
    got=$(sha256sum <"$tmp" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "the copy of the snapshot is damaged (sha256 $got, expected $want)" >&2
        exit 1
    fi
    chmod 600 "$tmp"
    mv -f "$tmp" "$dest"
    ;;
stop)
    runtime=$1 unit=$2 manifest=$3 park=$4 endpoint=$5 timeout=$6
    if [ "$runtime" = systemd ]; then
        systemctl stop "$unit"
        exit 0
    fi
    if [ -f "$manifest" ]; then
        mkdir -p "$park"
        chmod 700 "$park"
        mv -f "$manifest" "$park/$(basename "$manifest")"
    fi
    waited=0
    while :; do
        if ! ids=$(crictl --runtime-endpoint "$endpoint" ps -q --name '^etcd$' --state running 2>&1); then
            echo "crictl cannot reach the container runtime at $endpoint: $ids (start the runtime, or point kubelet_container_runtime_endpoint at its socket)" >&2
            exit 1
        fi
        [ -z "$ids" ] && exit 0
        if [ "$waited" -ge "$timeout" ]; then
            echo "etcd container still running ${timeout}s after its manifest was parked" >&2
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    ;;
restore)
    snapshot=$1 data_dir=$2 aside=$3 kind=$4 tool=$5 name=$6 peer_url=$7 cluster=$8
    token=$9
    shift 9
    bump=$1 inner=${2:-}
    # checked before anything moves (on new hosts the tool was installed in this run)
    [ -x "$tool" ] || { echo "no restore tool at $tool (etcdutl missing)" >&2 && exit 1; }
    if [ "$bump" -gt 0 ]; then
        if [ "$kind" = etcdutl ]; then
            help=$("$tool" snapshot restore --help 2>&1 || true)
        else
            help=$(ETCDCTL_API=3 "$tool" snapshot restore --help 2>&1 || true)
        fi
        case $help in
        *--bump-revision*) ;;
        *) echo "$tool snapshot restore has no --bump-revision" >&2 && exit 1 ;;
        esac
    fi
    target=$data_dir
    if [ -n "$inner" ] && mountpoint -q "$data_dir" 2>/dev/null; then
        [ -e "$inner" ] && { echo "$inner exists already" >&2 && exit 1; }
        mkdir "$inner"
        find "$data_dir" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name '.before-*' \
            ! -name '.removed-*' -exec mv -t "$inner" -- {} +
        echo "moved the contents of $data_dir (a mount point: it stays) aside to $inner"
        target=$data_dir/.$token
    elif [ -e "$data_dir" ]; then
        [ -e "$aside" ] && { echo "$aside exists already" >&2 && exit 1; }
        mv "$data_dir" "$aside"
        echo "moved $data_dir aside to $aside"
    fi
    set -- snapshot restore "$snapshot" --name="$name" --data-dir="$target" \
        --initial-cluster="$cluster" --initial-advertise-peer-urls="$peer_url" \
        --initial-cluster-token="$token"
    [ "$bump" -gt 0 ] && set -- "$@" --bump-revision="$bump" --mark-compacted
    if [ "$kind" = etcdutl ]; then
        out=$("$tool" "$@" 2>&1) || { echo "$tool $1 $2 failed: $out" >&2 && exit 1; }
    else
        out=$(ETCDCTL_API=3 "$tool" "$@" 2>&1) || { echo "$tool $1 $2 failed: $out" >&2 && exit 1; }
    fi
    if [ "$target" != "$data_dir" ]; then
        mv "$target/member" "$data_dir/member"
        rmdir "$target"
    fi
    chmod 700 "$data_dir"
    echo "restored $data_dir as $name"
    ;;
start)
    runtime=$1 unit=$2 manifest=$3 park=$4
    if [ "$runtime" = systemd ]; then
        systemctl reset-failed "$unit" 2>/dev/null || true
        systemctl start --no-block "$unit"
    elif [ -f "$park/$(basename "$manifest")" ]; then
        mv -f "$park/$(basename "$manifest")" "$manifest"
    fi
    ;;
*)
    echo "unknown phase $phase" >&2
    exit 2
    ;;
esac
