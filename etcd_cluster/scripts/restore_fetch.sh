# restore-fetch: bring a remote snapshot or an encrypted backup archive onto the first
# member for restore.py, into a root-only staging directory.
#
#   fetch SOURCE STAGE SECRETS_PARENT
#       stdin: two lines, the rclone config and the age identity, each base64 ("-": none).
#       They are written into a new directory under SECRETS_PARENT (a tmpfs such as /run,
#       mode 700, files mode 600) and removed when this script ends, whatever happens (trap).
#       SOURCE is REMOTE:PATH (rclone, with that config) or an absolute path here.
#       *.tar.age: read, decrypted with the identity and unpacked in one pipe (the plaintext
#       archive never touches the disk) into STAGE: snapshot.db, pki/etcd/ca.crt,
#       pki/etcd/ca.key (the first member's archives only), cluster.json.
#       Otherwise a bare snapshot: copied to STAGE/snapshot.db.
#       STAGE is made anew (mode 700). Prints snapshot:<path>, ca_crt:yes, ca_key:yes,
#       cluster_json:<one line>. Fails with the reason on stderr (and STAGE removed).
#   discard STAGE
#       remove STAGE (the extracted snapshot and PKI) once the restore is over.
set -eu
umask 077
phase=$1
shift

case $phase in
fetch)
    source=$1 stage=$2 parent=$3
    mkdir -p "$parent"
    secrets=$(mktemp -d "$parent/etcd-restore.XXXXXX")
    # the identity and the rclone config never outlive this script; nor does a failed stage
    staged=no
    trap 'rm -rf "$secrets"; [ "$staged" = yes ] || rm -rf "$stage"' EXIT
    trap 'exit 1' HUP INT TERM
    read -r rclone_b64 || true
    read -r identity_b64 || true
    [ "${rclone_b64:--}" = - ] || printf '%s' "$rclone_b64" | base64 -d >"$secrets/rclone.conf"
    [ "${identity_b64:--}" = - ] || printf '%s' "$identity_b64" | base64 -d >"$secrets/identity"
    rm -rf "$stage"
    mkdir -p "$(dirname "$stage")"
    mkdir -m 700 "$stage"
    read_source() {
        case $source in
        /*) cat -- "$source" ;;
        *) rclone --config "$secrets/rclone.conf" cat -- "$source" ;;
        esac
    }
    case $source in
    *.tar.age)
        # dash has no pipefail: each stage of the pipe leaves its own exit status
        { read_source 2>"$secrets/read.err" || echo $? >"$secrets/read.rc"; } |
            { age -d -i "$secrets/identity" 2>"$secrets/age.err" || echo $? >"$secrets/age.rc"; } |
            { tar -x -C "$stage" --no-same-owner -f - 2>"$secrets/tar.err" || echo $? >"$secrets/tar.rc"; }
        # the first stage that failed on its own (not killed by SIGPIPE, 141, as a stage
        # before a failed one is) names the cause
        for step in read age tar read+ age+; do
            rc=$(cat "$secrets/${step%+}.rc" 2>/dev/null || true)
            [ -n "$rc" ] || continue
            [ "$rc" = 141 ] && [ "$step" = "${step%+}" ] && continue
            err=$(tr '\n' ' ' <"$secrets/${step%+}.err")
            case $step in
            read*) echo "cannot read $source: $err" >&2 ;;
            age*) echo "cannot decrypt $source with etcd_restore_age_identity: $err" >&2 ;;
            tar) echo "$source is not a readable backup archive: $err" >&2 ;;
            esac
            exit 1
        done
        [ -f "$stage/snapshot.db" ] || { echo "$source holds no snapshot.db" >&2 && exit 1; }
        ;;
    *)
        if ! err=$(read_source 2>&1 >"$stage/snapshot.db"); then
            echo "cannot read $source: $(echo "$err" | tr '\n' ' ')" >&2
            exit 1
        fi
        ;;
    esac
    chmod -R go-rwx "$stage"
    echo "snapshot:$stage/snapshot.db"
    [ -f "$stage/pki/etcd/ca.crt" ] && echo "ca_crt:yes"
    [ -f "$stage/pki/etcd/ca.key" ] && echo "ca_key:yes"
    [ -f "$stage/cluster.json" ] && echo "cluster_json:$(tr -d '\n' <"$stage/cluster.json")"
    staged=yes
    ;;
discard)
    rm -rf -- "$1"
    ;;
*)
    echo "unknown phase $phase" >&2
    exit 2
    ;;
esac
