# read-files: print each existing regular file named in the arguments, for remote.read_files.
#
# Arguments: "<kind>:<path>", kind "content" (certificates, configs: the bytes are
# printed base64-encoded) or "key" (private keys: only the sha256 of the DER public
# key is printed, so key material never leaves the host).
# stdout: per existing file a header "@@file@@ <mode> <user> <group> <path>" ("@@link@@"
# and the link's own mode and owner for a symbolic link to a regular file) and a
# body line "b:<base64>" or "k:<sha256 hex, empty when unreadable>"; then "@@end@@".
# Any failure exits non-zero before "@@end@@", so a partial read cannot pass.
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
key_files() {
    for item in "$@"; do
        case "$item" in key:*) [ -f "${item#key:}" ] && printf '%s\n' "${item#key:}" ;; esac
    done
}
IFS='
'
set -f
# shellcheck disable=SC2046 # one word per line: the key paths
hashes=$(sh -c "$ETCD_REMEMBER" remember public-keys "$public_keys" \
    $(key_files "$@"))
unset IFS
set +f
# one stat for every file (each process is a good part of a survey's cost)
modes=$(for item in "$@"; do
    [ -f "${item#*:}" ] && printf '%s\0' "${item#*:}"
done | xargs -0 -r stat -c '%a %U %G %n' --)
for item in "$@"; do
    kind=${item%%:*}
    path=${item#*:}
    [ -f "$path" ] || continue
    if [ -L "$path" ]; then mark=@@link@@; else mark=@@file@@; fi
    found=
    while read -r mode user group name; do
        [ "$name" = "$path" ] && found="$mode $user $group $name"
    done <<EOF
$modes
EOF
    [ -n "$found" ] || exit 1 # gone since: a partial read cannot pass
    echo "$mark $found"
    case "$kind" in
    content)
        printf 'b:'
        base64 -w0 "$path"
        echo
        ;;
    key)
        hash=
        while read -r digest file; do
            [ "$file" = "$path" ] && hash=$digest
        done <<EOF
$hashes
EOF
        echo "k:${hash#-}"
        ;;
    *)
        echo "read-files: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done
echo '@@end@@'
