# run-lock: this member's part of the cluster-wide run lock (etcd_cluster/engine/run_lock.py).
#
# Arguments: status DIR
#            acquire DIR TOKEN EXPECT_LAST BREAK_TOKEN KEY=VALUE...
#            release DIR TOKEN [untouched]
# DIR/holder (KEY=VALUE lines, plus since=<this host's clock>) is the lock; DIR/last holds
# the token of the last run that released it. acquire and release work under flock on
# DIR/guard, so checking and taking are one step on this host. status only reads (the
# survey asks it; both files are replaced by rename, never half written). A release
# records TOKEN in DIR/last, unless "untouched" (a run giving back what it took before
# it changed anything).
# stdout: "lock:now=", "lock:last=" and "lock:holder:KEY=VALUE" lines (status; acquire when
# refused, after "lock:refused=held" or "lock:refused=moved"), else "acquired"/"released".
# held (exit 3): another run holds the lock, unless its token is BREAK_TOKEN (a stale lock
# the run takes over); moved (exit 4): DIR/last is no longer EXPECT_LAST (another run took
# and released the lock since the survey read it).
set -u
action=$1 dir=$2
shift 2

show() { # the files are a few short lines: read by builtins (each process costs the survey)
    echo "lock:now=$(date +%s)"
    if [ -f "$dir/last" ]; then
        last=
        { IFS= read -r last || [ -n "$last" ]; } <"$dir/last" && echo "lock:last=$last"
    fi
    if [ -f "$dir/holder" ]; then
        while IFS= read -r line || [ -n "$line" ]; do echo "lock:holder:$line"; done <"$dir/holder"
    fi
    return 0
}

holder_token() { sed -n 's/^token=//p' "$dir/holder" 2>/dev/null; }

if [ "$action" = status ]; then
    show
    exit 0
fi

command -v flock >/dev/null 2>&1 || { echo "flock (util-linux) is missing" >&2; exit 1; }
mkdir -p "$dir" && chmod 700 "$dir" || exit 1
exec 9>>"$dir/guard" || exit 1
flock -w 30 9 || { echo "timed out waiting for $dir/guard" >&2; exit 1; }

case $action in
acquire)
    token=$1 expect_last=$2 break_token=$3
    shift 3
    if [ -f "$dir/holder" ]; then
        current=$(holder_token)
        if [ "$current" = "$token" ]; then
            echo acquired
            exit 0
        fi
        if [ -z "$break_token" ] || [ "$current" != "$break_token" ]; then
            echo "lock:refused=held"
            show
            exit 3
        fi
        rm -f "$dir/holder" || exit 1
    fi
    last=$(cat "$dir/last" 2>/dev/null || true)
    if [ "$last" != "$expect_last" ]; then
        echo "lock:refused=moved"
        show
        exit 4
    fi
    { printf '%s\n' "$@" && echo "since=$(date +%s)"; } >"$dir/holder.tmp" &&
        mv "$dir/holder.tmp" "$dir/holder" || exit 1
    echo acquired
    ;;
release)
    token=$1 untouched=${2:-}
    if [ -f "$dir/holder" ] && [ "$(holder_token)" = "$token" ]; then
        if [ "$untouched" != untouched ]; then
            printf '%s\n' "$token" >"$dir/last.tmp" && mv "$dir/last.tmp" "$dir/last" || exit 1
        fi
        rm -f "$dir/holder" || exit 1
        echo released
    else
        echo "not held by this run"
    fi
    ;;
*)
    echo "run_lock: unknown action $action" >&2
    exit 2
    ;;
esac
