# observe-etcd: what this member's etcd runs right now, for the restart decision.
#
# Arguments: runtime (systemd|static-pod), systemd unit, static pod manifest, CRI
# endpoint, then the CA, server and peer certificates etcd is configured with, the
# healthcheck client pair (to complete a TLS handshake), the client and peer
# addresses (host:port, IPv6 in brackets), the snapshot directory, the member name,
# "yes" when the caller fingerprints the certificate files itself, the etcd binary
# the caller asks for its version itself, the snapshot schedule (systemd OnCalendar), and
# the static-pod record of what kubeadm rendered (restart_static_pod writes it).
# stdout, one "key:value" per line:
#   now:<epoch>                    this host's clock
#   pid:/arg:/started:/exe:        systemd: the unit's main process, its argv, start, binary
#   env:<name>                     systemd: each variable of its environment (names only)
#   running_version:               systemd: what that binary says its version is
#   running_binary:yes             systemd: instead, when it runs the binary the caller named
#   need_reload:                   systemd: yes when the unit file changed since systemd read it
#   container:/inspect:/manifest_b64:  static-pod: the running etcd container (crictl inspect,
#                                  base64) and the manifest (base64); runtime_error: when
#                                  crictl cannot reach the container runtime
#   rendered:<config> <manifest>   static-pod: the record's sha256 of the kubeadm config
#                                  kubeadm last rendered from, and of the manifest it wrote
#   ca_mtime:                      when the CA file last changed (etcd reads it at start only)
#   served_client:/served_peer:    sha256 of the certificate served on each port (only when a
#                                  certificate file changed since etcd started)
#   file_server:/file_peer:        sha256 of the certificate files on disk
#   snapshot:<file> <mtime>        this member's newest scheduled snapshot (etcd-backup), by
#                                  its time on disk
#   backup_Result:/backup_ExecMainStatus:/backup_ExecMainExitTimestamp:  the last run of
#                                  <unit>-backup.service (systemctl show, @epoch)
#   backup_due:<epoch>             when the schedule has come due twice since that snapshot
#                                  (none yet: since the timer started)
set -u
export LC_ALL=C
runtime=$1 unit=$2 manifest=$3 endpoint=$4 ca=$5 server=$6 peer=$7
client_cert=$8 client_key=$9
shift 9
client_addr=$1 peer_addr=$2 backup_dir=${3:-} member=${4:-} files_read=${5:-} binary=${6:-}
schedule=${7:-} record=${8:-}

fingerprint() { openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
served() {
    timeout 5 openssl s_client -connect "$1" -cert "$client_cert" -key "$client_key" \
        -CAfile "$ca" </dev/null 2>/dev/null | fingerprint
}

echo "now:$(date +%s.%N)"
# One systemctl for the unit and its backup service (each process is a good part of what a
# survey costs): their properties as Key=value lines, a blank line between the two units.
units=$unit.service
[ -n "$backup_dir" ] && units="$units $unit-backup.service"
# shellcheck disable=SC2086 # one word per unit
shown=$(systemctl show --timestamp=unix -p MainPID -p NeedDaemonReload -p Result \
    -p ExecMainStatus -p ExecMainExitTimestamp $units 2>/dev/null)
block=1 pid=0 need_reload= backup=
while IFS= read -r line; do
    case "$block:$line" in
    *:) block=$((block + 1)) ;;
    1:MainPID=*) pid=${line#*=} ;;
    1:NeedDaemonReload=*) need_reload=${line#*=} ;;
    2:Result=* | 2:ExecMainStatus=* | 2:ExecMainExitTimestamp=*)
        backup="${backup}backup_${line%%=*}:${line#*=}
" ;;
    esac
done <<EOF
$shown
EOF
if [ "$runtime" = systemd ]; then
    echo "pid:${pid:-0}"
    echo "need_reload:$need_reload"
    if [ "${pid:-0}" -gt 0 ] 2>/dev/null && [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' '\n' <"/proc/$pid/cmdline" | sed 's/^/arg:/'
        tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^\([^=]*\)=.*/env:\1/p'
        # boot time to the hundredth (now less uptime): /proc/stat's btime is whole seconds,
        # and a start up to a second too early made a ca.crt written just before it newer
        # (the clock read right before the uptime, in one awk: a gap between them would put
        # the start early by as much)
        boot=$(awk 'BEGIN { "date +%s.%N" | getline now; getline up <"/proc/uptime"
            split(up, u, " "); printf "%.2f", now - u[1] }')
        # the start in clock ticks since boot: field 22, counted after the name's ")"
        started=$(awk -v hz="$(getconf CLK_TCK)" -v boot="$boot" \
            '{ sub(/.*\) /, ""); printf "%.2f", boot + $20 / hz }' "/proc/$pid/stat")
        echo "started:$started"
        exe=$(readlink "/proc/$pid/exe")
        echo "exe:$exe"
        if [ -n "$binary" ] && [ "$exe" = "$binary" ]; then
            echo "running_binary:yes"  # the survey asked this binary for its version already
        else
            echo "running_version:$("/proc/$pid/exe" --version 2>/dev/null | head -n 1)"
        fi
    fi
else
    if ids=$(crictl --runtime-endpoint "$endpoint" ps -q --name '^etcd$' --state running 2>&1); then
        id=$(echo "$ids" | head -n 1)
        if [ -n "$id" ]; then
            echo "container:$id"
            echo "inspect:$(crictl --runtime-endpoint "$endpoint" inspect "$id" 2>/dev/null | base64 -w0)"
        fi
    else
        echo "runtime_error:$(echo "$ids" | tr '\n' ' ')"
    fi
    [ -f "$manifest" ] && echo "manifest_b64:$(base64 -w0 "$manifest")"
    [ -n "$record" ] && [ -f "$record" ] && echo "rendered:$(head -n 1 "$record")"
fi
# the three files' times in one stat
mtimes=$(stat -c '%.9Y %n' -- "$ca" "$server" "$peer" 2>/dev/null)
mtime() { # sets $found to the mtime of file $1 in $mtimes, "" if it is not there
    found=
    while read -r time name; do
        [ "$name" = "$1" ] && found=$time
    done <<EOF
$mtimes
EOF
}
mtime "$ca"
[ -n "$found" ] && echo "ca_mtime:$found"
if [ "$files_read" != yes ]; then
    [ -f "$server" ] && echo "file_server:$(fingerprint <"$server")"
    [ -f "$peer" ] && echo "file_peer:$(fingerprint <"$peer")"
fi
# etcd loads its certificates at start and on each new handshake: what it serves can only
# differ from the files if they changed since it started (systemd: the process's start;
# static-pod: always asked). Both handshakes at once, each printing one line.
newer=yes
if [ -n "${started:-}" ]; then
    newer=
    for f in "$server" "$peer"; do
        mtime "$f"
        [ -n "$found" ] && [ "${found%.*}" -ge "${started%.*}" ] && newer=yes
    done
fi
if [ -n "$newer" ]; then
    echo "served_client:$(served "$client_addr")" &
    echo "served_peer:$(served "$peer_addr")" &
    wait
fi
if [ -n "$backup_dir" ]; then
    # Newest by time on disk: a name carries the clock of its moment, which may have stepped.
    d8='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' d6='[0-9][0-9][0-9][0-9][0-9][0-9]'
    newest=
    # shellcheck disable=SC2086 # the pattern must stay a glob
    for f in "$backup_dir"/etcd-snapshot-"$member"-${d8}T${d6}Z.db; do
        [ -f "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
    done
    base=
    if [ -n "$newest" ]; then
        base=$(stat -c %Y "$newest")
        echo "snapshot:${newest##*/} $base"
    fi
    printf '%s' "$backup"
    [ -n "$base" ] || base=$(systemctl show --timestamp=unix -p ActiveEnterTimestamp --value \
        "$unit-backup.timer" 2>/dev/null)
    base=${base#@}
    if [ -n "$schedule" ] && [ -n "$base" ]; then
        due=$(TZ=UTC systemd-analyze calendar --iterations=2 --base-time="@$base" "$schedule" \
            2>/dev/null | sed -n 's/^ *Iter\. #2: //p')
        [ -n "$due" ] && echo "backup_due:$(date -u -d "$due" +%s)"
    fi
fi
exit 0
