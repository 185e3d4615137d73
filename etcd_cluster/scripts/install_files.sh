# install-files: install several files at once, for remote.write_files.
#
# stdin: two lines per file: "<mode> <user> <group> <path>", then the content
# base64-encoded on one line, or "-" to keep the content and fix mode and owner only
# (a symbolic link is then replaced by a regular file with the content it points to).
# Every new content is staged first (a temp file beside the target, mode and owner
# set before the content lands), and only once all are staged are they renamed into
# place, one right after the other, so a certificate and its key change together.
# Any failure removes the staged files and exits non-zero, old files left as they were.
set -eu
staged=$(mktemp)
cleanup() {
    while IFS= read -r f; do rm -f "$f.tmp-etcd-deploy"; done <"$staged"
    rm -f "$staged"
}
trap cleanup EXIT
umask 077
while IFS=' ' read -r mode owner group path; do
    IFS= read -r body
    if [ "$body" = "-" ] && [ ! -L "$path" ]; then
        chown "$owner:$group" "$path"
        chmod "$mode" "$path"
        continue
    fi
    case "$path" in  # its directory made as kubeadm makes them (0755) when missing
    */*) dir=${path%/*} ;;
    *) dir=. ;;
    esac
    [ -d "${dir:-/}" ] || (umask 022 && mkdir -p "$dir")
    temp="$path.tmp-etcd-deploy"
    printf '%s\n' "$path" >>"$staged"
    : >"$temp"
    chown "$owner:$group" "$temp"
    chmod "$mode" "$temp"
    if [ "$body" = "-" ]; then  # a link: never chmod or chown through it; a regular file
        cat -- "$path" >"$temp"  # with its target's content and time replaces it
        touch -r "$path" "$temp"
    else
        printf '%s' "$body" | base64 -d >"$temp"
    fi
done
while IFS= read -r f; do mv -f "$f.tmp-etcd-deploy" "$f"; done <"$staged"
: >"$staged"
