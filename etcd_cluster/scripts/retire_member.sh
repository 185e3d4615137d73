# retire-member: take a removed member's etcd out of service, keeping its data.
#
# Arguments: mode (check|retire), systemd unit, data dir, private key paths...
#   check:  print what is left to do (nothing when the host is retired already)
#   retire: stop and disable the unit and its backup timer, move the data dir aside (renamed with a
#           timestamp, never deleted; a data dir that is a mount point stays, its contents go
#           into .removed-<time> inside it), remove the private keys
set -u
mode=$1 unit=$2 data=$3
shift 3
left=""
systemctl is-active --quiet "$unit" 2>/dev/null && left="$left running"
systemctl is-enabled --quiet "$unit" 2>/dev/null && left="$left enabled"
systemctl is-enabled --quiet "$unit-backup.timer" 2>/dev/null && left="$left backups"
[ -d "$data/member" ] && left="$left data"
for key; do [ -e "$key" ] && left="$left $key"; done
if [ "$mode" = check ]; then
    echo "$left"
    exit 0
fi
set -e
systemctl disable --now "$unit" 2>/dev/null || true
systemctl disable --now "$unit-backup.timer" 2>/dev/null || true  # nothing left to snapshot
if [ -d "$data/member" ]; then
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    if mountpoint -q "$data" 2>/dev/null; then # a dedicated disk: a mount point cannot move
        mkdir "$data/.removed-$stamp"
        find "$data" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name '.before-*' \
            ! -name '.removed-*' -exec mv -t "$data/.removed-$stamp" -- {} +
    else
        mv "$data" "$data.removed-$stamp"
    fi
fi
for key; do rm -f "$key"; done
echo "retired:$left"
