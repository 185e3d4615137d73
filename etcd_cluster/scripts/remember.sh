# remember: the output of a command that reads only the files it is given, kept while none of
# them changed, so a converged run does not hash etcd's binaries (tens of MB) and derive every
# key's public key again on each survey: that was most of a no-op run's remote CPU.
#
# A memo entry holds the files' device, inode, size, mtime, ctime (ns) and name. Any write
# to a file, a rename over it or a chmod sets its ctime to now, and no system call sets it
# back, so an unchanged stamp means unchanged bytes. A file changed in the last 2 s is not
# remembered (a write in the same clock tick as the stamp could not be told apart). Only the
# survey sets a directory, $ETCD_MEMO_DIR (root-only, made here); without one the command
# just runs. Deleting the directory costs one slower run.
#
# An entry is data, never run: the output, then a key of the memo name, the command's text
# and the stamps, each whole (a changed command never reuses an old output), then an end
# line. A hit compares the entry's end with what it must be for this call: a stat and a cat
# in all. An entry is written under another name and renamed into place; one not ours, of
# another format, for other files or cut short is a miss, and is written again.
#
# Arguments: memo name (any text but "", "." or ".." which are not remembered; one entry per
# name), command (run as: sh -c COMMAND remember FILE...), then the files it reads.
# stdout: the command's output, text (remembered only when it exited 0); exit: its status.
set -u
dir=${ETCD_MEMO_DIR:-} name=$1 cmd=$2
shift 2
# the entry's file: the name with each byte other than A-Z a-z 0-9 . _ - made a _
file= rest=$name
while :; do
    case $rest in
    *[!A-Za-z0-9._-]*)
        keep=${rest%%[!A-Za-z0-9._-]*}
        file=$file${keep}_
        rest=${rest#"$keep"?}
        ;;
    *) break ;;
    esac
done
file=$file$rest
case $file in '' | . | ..) dir= ;; esac
[ -n "$dir" ] || exec sh -c "$cmd" remember "$@"
entry=$dir/$file
stamps=$(stat -L -c '%d:%i:%s:%.9Y:%.9Z %Z %n' -- "$@" 2>&1)
# The key goes after the output: dash takes a suffix off a long string in one pass but a
# prefix in a pass per byte (the package's key, a stamp per file, is tens of KB). Its
# first line gives the lengths of the texts after it, so it cannot be read two ways.
key="
@@remember.sh memo entry, format 3: ${#name} ${#cmd} ${#stamps}
$name
$cmd
$stamps
@@end of memo entry"
if [ -f "$entry" ] && [ -O "$entry" ] && stored=$(cat -- "$entry" && echo .); then
    case $stored in
    *"$key".)
        printf '%s' "${stored%"$key".}"
        exit 0
        ;;
    esac
fi
output=$(sh -c "$cmd" remember "$@"; echo ".$?")
status=${output##*.} output=${output%.*}
printf '%s' "$output"
[ "$status" -eq 0 ] || exit "$status"
# remembered only when every file's ctime (the seconds after the stamp) is 2 s old
settled=$(date -d '2 seconds ago' +%s) newest=0
set -f
IFS='
'
for line in $stamps; do
    ctime=${line#* }
    ctime=${ctime%% *}
    case $ctime in '' | *[!0-9]*) ;; *) [ "$ctime" -le "$newest" ] || newest=$ctime ;; esac
done
unset IFS
[ "$newest" -le "$settled" ] || exit 0
umask 077
new=$dir/.$file.$$
[ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || exit 0
set -C
if printf '%s%s' "$output" "$key" 2>/dev/null >"$new"; then
    mv -f "$new" "$entry" 2>/dev/null && exit 0
fi
rm -f "$new"
exit 0
