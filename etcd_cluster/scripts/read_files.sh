# read-files: print each existing regular file named in the arguments, for remote.read_files.
#
# Arguments: "<kind>:<path>", kind "content" (certificates, configs: the bytes are
# printed base64-encoded) or "key" (private keys: only the sha256 of the DER public
# key is printed, so key material never leaves the host).
# stdout: per existing file a header "@@file@@ <mode> <user> <group> <path>" ("@@link@@"
# and the link's own mode and owner for a symbolic link to a regular file) and a
# body line "b:<base64>" or "k:<sha256 hex, empty when unreadable>"; then "@@end@@".
# Any failure exits non-zero before "@@end@@", so a partial read cannot pass.
set -eu
for item in "$@"; do
    kind=${item%%:*}
    path=${item#*:}
    [ -f "$path" ] || continue
    if [ -L "$path" ]; then mark=@@link@@; else mark=@@file@@; fi
    stat -c "$mark %a %U %G %n" "$path"
    case "$kind" in
    content)
        printf 'b:'
        base64 -w0 "$path"
        echo
        ;;
    key)
        hash=$(openssl pkey -in "$path" -pubout -outform DER 2>/dev/null | sha256sum)
        case "$hash" in
        # the sha256 of nothing: openssl printed no public key, the key is unreadable
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855*) hash="" ;;
        esac
        echo "k:${hash%% *}"
        ;;
    *)
        echo "read-files: unknown kind in $item" >&2
        exit 2
        ;;
    esac
done
echo '@@end@@'
