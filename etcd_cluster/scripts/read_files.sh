# read-files: print each existing regular file named in the arguments, for remote.read_files.
#
# Arguments: "<kind>:<path>", kind "content" (certificates, configs: the bytes are
# printed, hex-encoded) or "key" (private keys: only the sha256 of the DER public
# key is printed, so key material never leaves the host).
# stdout: per existing file a header "@@file@@ <mode> <user> <group> <path>" ("@@link@@"
# and the link's own mode and owner for a symbolic link to a regular file) and a body
# line: "k:<sha256 hex, empty when unreadable>" for a key; "b:<base64>" for the content of
# a link (read alone: the deploy replaces links); else "s:<size>": the file's bytes are
# the next <size> of the "c:" line printed after the last file (od's hex, " xx" a byte:
# one od reads every such file, in order; no "c:" line when there is no "s:"). Then
# "@@end@@". Any failure exits non-zero before "@@end@@", so a partial read cannot pass;
# a file whose size changed between the stat and the od leaves the "c:" bytes disagreeing
# with the sizes, which the reader refuses.
# The public-key hashes are one command for all keys, through remember.sh ($ETCD_REMEMBER,
# the memo directory in $ETCD_MEMO_DIR: only the survey keeps them).
set -eu
public_keys='for key; do
    hash=$(openssl pkey -in "$key" -pubout -outform DER 2>/dev/null | sha256sum)
    case "$hash" in
    # the sha256 of nothing: openssl printed no public key, the key is unreadable
    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855*) hash=- ;;
    esac
    echo "${hash%% *} $key"
done'
for item; do
    case "$item" in
    content:* | key:*) ;;
    *)
        echo "read-files: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done
# Each process is a good part of a survey's cost: the argument lists below are built in
# the subshell that then becomes the command ("set --" keeps any path one argument).
hashes=$(
    for item; do
        shift
        case "$item" in key:*) [ -f "${item#key:}" ] && set -- "$@" "${item#key:}" ;; esac
    done
    exec sh -c "$ETCD_REMEMBER" remember public-keys "$public_keys" "$@"
)
modes=$(
    for item; do
        shift
        [ -f "${item#*:}" ] && set -- "$@" "${item#*:}"
    done
    if [ $# -gt 0 ]; then exec stat -c '%a %U %G %s %n' -- "$@"; fi
)
# Both outputs are in argument order, a line per file: each line is taken by its argument in
# turn (dash's read costs a system call per byte); a file without a stat line was absent.
nl='
'
modes="$modes$nl" hashes="$hashes$nl" total=0 count=0
for item; do
    kind=${item%%:*}
    path=${item#*:}
    hash=
    line=${hashes%%"$nl"*}
    if [ "$kind" = key ] && [ "${line#* }" = "$path" ]; then
        hash=${line%% *} hashes=${hashes#*"$nl"}
    fi
    line=${modes%%"$nl"*}
    mode=${line%% *} line=${line#* }
    user=${line%% *} line=${line#* }
    group=${line%% *} line=${line#* }
    size=${line%% *}
    [ "${line#* }" = "$path" ] || continue
    modes=${modes#*"$nl"}
    if [ -L "$path" ]; then mark=@@link@@; else mark=@@file@@; fi
    echo "$mark $mode $user $group $path"
    if [ "$kind" = key ]; then
        echo "k:${hash#-}"
    elif [ "$mark" = @@link@@ ]; then # never in place: the deploy replaces it
        printf 'b:'
        base64 -w0 "$path"
        echo
    else
        echo "s:$size"
        total=$((total + size)) count=$((count + 1))
    fi
done
if [ "$count" -gt 0 ] && [ "$total" -eq 0 ]; then
    echo 'c:'
elif [ "$count" -gt 0 ]; then
    printf 'c:'
    (
        for item; do
            shift
            case "$item" in
            content:*) [ -f "${item#*:}" ] && [ ! -L "${item#*:}" ] && set -- "$@" "${item#*:}" ;;
            esac
        done
        [ $# -gt 0 ] || exit 1 # gone since: od would read stdin
        # one line: bytes the stat did not count spill onto another
        exec od -A n -t x1 -v --width="$total" -- "$@"
    )
fi
echo '@@end@@'
