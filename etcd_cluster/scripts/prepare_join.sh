# prepare-join: make a host ready to join as a new member (systemd runtime: stop its etcd).
#
# Arguments: runtime, systemd unit, data dir. Whatever an earlier life left in the data
# dir (a member dir without a WAL, a lost member's remains) is moved aside, never
# deleted: a joining member must start empty and receive the data from the leader.
set -eu
runtime=$1 unit=$2 data=$3
# Only once etcd is stopped: moving member/ from under a running etcd would lose what it
# writes and leave it serving from a directory it no longer owns. A stop that failed
# is fine only when the unit is down anyway (never started, not installed).
if [ "$runtime" = systemd ] && ! err=$(systemctl stop "$unit" 2>&1); then
    state=$(systemctl show -p ActiveState --value "$unit" 2>/dev/null || true)
    case $state in
    inactive | failed | "") ;;
    *)
        echo "stopping $unit failed (it is $state): $err; $data/member left in place" >&2
        exit 1
        ;;
    esac
fi
if [ -e "$data/member" ]; then
    aside="$data.before-join-$(date -u +%Y%m%dT%H%M%SZ)"
    # a data dir that is its own mount (a dedicated disk): keep the old data on that disk
    mountpoint -q "$data" 2>/dev/null && aside="$data/.before-join-${aside##*-}"
    mkdir -p "$aside"
    mv "$data/member" "$aside/"
    echo "moved $data/member aside to $aside"
fi
