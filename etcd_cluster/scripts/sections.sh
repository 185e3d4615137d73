# sections: run several commands at once and print their outputs one after the other, each
# after a "@@section@@NAME" line, in argument order (for member_survey: one round trip, and
# as long as the slowest part rather than all of them).
#
# Arguments: NAME COMMAND pairs; each COMMAND is evaluated in a subshell of this one, as
# sh -c would run it but with no sh to start: none of the variables, options or arguments
# here are left to it. stderr: theirs, in order.
# Outputs wait in a private temporary directory (removed on exit); none is secret. Each part
# writes its own heading, so one cat prints them all (a process each is what a survey costs);
# stderr is printed only when a part wrote any.
set -u
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
count=0
while [ $# -ge 2 ]; do
    count=$((count + 1))
    case $count in ?) part=$dir/00$count ;; ??) part=$dir/0$count ;; *) part=$dir/$count ;; esac
    (
        echo "@@section@@$1"
        sections_command=$2
        shift $#
        unset dir count part
        set +u
        eval "unset sections_command; $sections_command"
    ) >"$part.out" 2>"$part.err" &
    shift 2
done
wait
[ "$count" -gt 0 ] || exit 0
cat "$dir"/*.out
for err in "$dir"/*.err; do
    if [ -s "$err" ]; then
        cat "$dir"/*.err >&2
        break
    fi
done
