# sections: run several commands at once and print their outputs one after the other, each
# after a "@@section@@NAME" line, in argument order (for member_survey: one round trip, and
# as long as the slowest part rather than all of them).
#
# Arguments: NAME COMMAND pairs; each COMMAND runs under sh -c. stderr: theirs, in order.
# Outputs wait in a private temporary directory (removed on exit); none is secret.
set -u
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
count=0
while [ $# -ge 2 ]; do
    count=$((count + 1))
    printf '%s\n' "$1" >"$dir/$count.name"
    sh -c "$2" >"$dir/$count.out" 2>"$dir/$count.err" &
    shift 2
done
wait
i=0
while [ "$i" -lt "$count" ]; do
    i=$((i + 1))
    echo "@@section@@$(cat "$dir/$i.name")"
    cat "$dir/$i.out"
    cat "$dir/$i.err" >&2
done
