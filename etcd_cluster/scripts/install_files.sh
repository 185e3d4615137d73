# install-files: install several files at once, for remote.write_files.
#
# stdin: two lines per file: "<mode> <user> <group> <path>", then ":" and the content
# as printf %b escapes on one line (remote.printf_escapes), or "-" to keep the content
# and fix mode and owner only (a symbolic link is then replaced by a regular file with
# the content it points to). The shell's builtin printf writes the content: no process
# per file (a first start writes a dozen and a half, on the way to etcd's start), and a
# key is on no command line.
# Every new content is staged first, in a temp file beside the target made under umask
# 077 (the deploying user's alone, whatever it holds); once all are staged they get their
# modes and owners (one chmod per mode, one chown per owner: a process per file was most
# of a first start's upload), and only then are they renamed into place, one right after
# the other, so a certificate and its key change together.
# Any failure removes the staged files and exits non-zero, old files left as they were.
set -eu
staged=$(mktemp)  # "<mode> <user> <group> <path>" of each staged file
cleanup() {
    while IFS=' ' read -r _ _ _ f; do rm -f "$f.tmp-etcd-deploy"; done <"$staged"
    rm -f "$staged"
}
trap cleanup EXIT
umask 077
modes= owners=  # each one once, space-separated (neither holds a space: read split there)
while IFS=' ' read -r mode owner group path; do
    IFS= read -r body
    case $body in
    - | :*) ;;
    *) echo "install-files: no content line for $path" >&2; exit 2 ;;
    esac
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
    printf '%s %s %s %s\n' "$mode" "$owner" "$group" "$path" >>"$staged"
    case " $modes " in *" $mode "*) ;; *) modes="$modes $mode" ;; esac
    case " $owners " in *" $owner:$group "*) ;; *) owners="$owners $owner:$group" ;; esac
    if [ "$body" = "-" ]; then  # a link: never chmod or chown through it; a regular file
        cat -- "$path" >"$temp"  # with its target's content and time replaces it
        touch -r "$path" "$temp"
    else
        printf '%b' "${body#:}" >"$temp"
    fi
done
set_on_staged() { # $1: chmod or chown, then each mode or owner once: one process each, for
    # every staged file that wants it (the list is expanded before set -- reuses "$@")
    verb=$1
    shift
    for wanted; do
        set --
        while IFS=' ' read -r mode owner group f; do
            case $verb in chmod) have=$mode ;; *) have=$owner:$group ;; esac
            if [ "$have" = "$wanted" ]; then set -- "$@" "$f.tmp-etcd-deploy"; fi
        done <"$staged"
        "$verb" "$wanted" -- "$@"
    done
}
# shellcheck disable=SC2086 # each a word: neither list holds anything but its values
set_on_staged chmod $modes
set_on_staged chown $owners
while IFS=' ' read -r _ _ _ f; do mv -f "$f.tmp-etcd-deploy" "$f"; done <"$staged"
: >"$staged"
