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
#   active:yes                     the systemd unit is active (the survey's etcd_active:
#                                  the survey asks systemd no more)
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
# In the survey ($ETCD_MEMO_DIR set, see remember.sh) the clock ticks a second and backup_due
# are kept there while what they depend on stays the same (this boot; that time, schedule).
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
# Whole numbers that depend on a key alone, kept for the next survey in its memo directory
# (remember.sh's, root's only; none elsewhere): an entry is the key's line, then the answer's,
# written whole under another name, then renamed; one not ours, or not such, is not used.
memo_dir=${ETCD_MEMO_DIR:-}
recall() { # $1: entry, $2: key: sets $recalled to the answer kept for the key; fails if none
    recalled= kept=
    [ -n "$memo_dir" ] && [ -f "$memo_dir/$1" ] && [ -O "$memo_dir/$1" ] || return 1
    { IFS= read -r kept && IFS= read -r recalled; } <"$memo_dir/$1" 2>/dev/null
    if [ "$kept" = "$2" ]; then
        case $recalled in '' | *[!0-9]*) ;; *) return 0 ;; esac
    fi
    recalled=
    return 1
}
keep() { # $1: entry, $2: key, $3: answer
    [ -n "$memo_dir" ] || return 0
    (
        umask 077  # as remember.sh makes the directory and its entries
        set -C
        new=$memo_dir/.$1.$$
        { [ -d "$memo_dir" ] || mkdir -p "$memo_dir"; } &&
            printf '%s\n' "$2" "$3" >"$new" && mv -f "$new" "$memo_dir/$1" || rm -f "$new"
    ) 2>/dev/null
}

# The clock, and the uptime read just before and just after it (builtins: no process), for
# the start below. A busy host can leave the shell waiting tens of ms for date: read again
# (3 times at most) while the two uptimes are more than a hundredth apart. The later one is
# used, so a gap left puts the start early (a handshake more), never late.
tries=3
while :; do
    { read -r before _ </proc/uptime; } 2>/dev/null || before=0
    now=$(date +%s.%N)
    { read -r up _ </proc/uptime; } 2>/dev/null || up=0
    tries=$((tries - 1))
    # in hundredths (/proc/uptime has two decimals); a 1 in front keeps leading zeros decimal
    [ "$tries" -gt 0 ] && [ $((1${up%.*}${up#*.} - 1${before%.*}${before#*.})) -gt 1 ] || break
done
echo "now:$now"
# One systemctl for the unit, its backup service and timer (each process is a good part of
# what a survey costs): their properties as Key=value lines, a blank line after each unit.
units=$unit.service
[ -n "$backup_dir" ] && units="$units $unit-backup.service $unit-backup.timer"
# shellcheck disable=SC2086 # one word per unit
shown=$(systemctl show --timestamp=unix -p MainPID -p NeedDaemonReload -p ActiveState -p Result \
    -p ExecMainStatus -p ExecMainExitTimestamp -p ActiveEnterTimestamp $units 2>/dev/null)
block=1 pid=0 need_reload= backup= timer_started=
while IFS= read -r line; do
    case "$block:$line" in
    *:) block=$((block + 1)) ;;
    1:MainPID=*) pid=${line#*=} ;;
    1:NeedDaemonReload=*) need_reload=${line#*=} ;;
    1:ActiveState=active) echo "active:yes" ;;
    2:Result=* | 2:ExecMainStatus=* | 2:ExecMainExitTimestamp=*)
        backup="${backup}backup_${line%%=*}:${line#*=}
" ;;
    3:ActiveEnterTimestamp=*) timer_started=${line#*=} ;;
    esac
done <<EOF
$shown
EOF
[ "${pid:-0}" -gt 0 ] 2>/dev/null || pid=0
newest=
if [ -n "$backup_dir" ]; then
    # Newest by time on disk: a name carries the clock of its moment, which may have stepped.
    d8='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' d6='[0-9][0-9][0-9][0-9][0-9][0-9]'
    # shellcheck disable=SC2086 # the pattern must stay a glob
    for f in "$backup_dir"/etcd-snapshot-"$member"-${d8}T${d6}Z.db; do
        [ -f "$f" ] || continue
        if [ -z "$newest" ] || [ "$f" -nt "$newest" ]; then newest=$f; fi
    done
fi
# One stat: the three files' times, the newest snapshot's, and the binary etcd runs (the
# target of /proc/PID/exe, as readlink prints it: %N, unquoted, is "link -> target").
exe_link=
[ "$runtime" = systemd ] && [ "$pid" -gt 0 ] && exe_link=/proc/$pid/exe
mtimes=$(QUOTING_STYLE=literal stat -c '%.9Y %N' -- "$ca" "$server" "$peer" \
    ${newest:+"$newest"} ${exe_link:+"$exe_link"} 2>/dev/null)
mtime() { # sets $found to the mtime of file $1 in $mtimes ("" if it is not there), $target
    found= target=  # to what it links to
    while read -r time name; do
        case $name in
        "$1") found=$time ;;
        "$1 -> "*) found=$time target=${name#"$1 -> "} ;;
        esac
    done <<EOF
$mtimes
EOF
}
if [ "$runtime" = systemd ]; then
    echo "pid:$pid"
    echo "need_reload:$need_reload"
    if [ "$pid" -gt 0 ] && [ -r "/proc/$pid/cmdline" ]; then
        # clock ticks a second (the kernel's USER_HZ): the same until the host boots again
        { read -r boot_id </proc/sys/kernel/random/boot_id; } 2>/dev/null || boot_id=
        if [ -n "$boot_id" ] && recall observe-clock-ticks "$boot_id"; then
            hz=$recalled
        else
            hz=$(getconf CLK_TCK)
            [ -n "$boot_id" ] && [ -n "$hz" ] && keep observe-clock-ticks "$boot_id" "$hz"
        fi
        # One awk: the start first, then argv and the environment's names, a line each (a
        # NUL or a newline ends one, as tr turning NULs into lines would). The start: boot
        # time to the hundredth (the clock less the uptime read right after it: a gap
        # between them would put the start early by as much; /proc/stat's btime is whole
        # seconds, and a start up to a second too early made a ca.crt written just before
        # it newer), plus the start in clock ticks since boot: field 22, counted after the
        # name's ")".
        seen=$(awk -v hz="$hz" -v now="$now" -v up="$up" -v pid="$pid" '
            BEGIN {
                if (hz > 0 && (getline stat <("/proc/" pid "/stat")) > 0) {
                    sub(/.*\) /, "", stat)
                    split(stat, field, " ")
                    boot = sprintf("%.2f", now - up)
                    started = sprintf("%.2f", boot + field[20] / hz)
                }
                print "started:" started
                RS = "[\0\n]"
            }
            FILENAME == ARGV[1] { print "arg:" $0; next }
            (i = index($0, "=")) > 0 { print "env:" substr($0, 1, i - 1) }
            ' "/proc/$pid/cmdline" "/proc/$pid/environ")
        started=${seen%%"
"*}
        started=${started#started:}
        printf '%s\n' "$seen"
        mtime "$exe_link"
        exe=$target
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
mtime "$ca"
[ -n "$found" ] && echo "ca_mtime:$found"
if [ "$files_read" != yes ]; then
    [ -f "$server" ] && echo "file_server:$(fingerprint <"$server")"
    [ -f "$peer" ] && echo "file_peer:$(fingerprint <"$peer")"
fi
# etcd loads its certificates at start and on each new handshake: what it serves can only
# differ from the files if they changed since it started (systemd: the process's start;
# static-pod: always asked). Both handshakes at once, each printing one line.
# Compared in hundredths of a second, with 0.05 s to spare for the start's own error (the
# uptime's hundredths, a clock tick): in whole seconds, a first deploy's certificates,
# written in the second etcd started, had every later survey shake hands twice.
hundredths() { # sets $h to the time $1 (seconds, any decimals) in hundredths
    h=${1#*.}
    [ "$h" != "$1" ] || h=
    h=${h}00
    h=${h%"${h#??}"}
    h=$((${1%.*} * 100 + 1$h - 100))
}
newer=yes
case ${started:-} in
[0-9]*.[0-9]*)
    newer=
    hundredths "$started"
    start=$h
    for f in "$server" "$peer"; do
        mtime "$f"
        case $found in
        '') ;;
        *[!0-9.]* | .* | *.*.*) newer=yes ;; # not a time stat prints: ask
        *)
            hundredths "$found"
            [ $((h + 5)) -ge "$start" ] && newer=yes
            ;;
        esac
    done
    ;;
esac
# a unit with no main process: nothing of this member serves (a fresh host's survey asked
# both ports, two openssl processes, a third of its work)
[ "$runtime" = systemd ] && [ "$pid" -eq 0 ] && newer=
if [ -n "$newer" ]; then
    echo "served_client:$(served "$client_addr")" &
    echo "served_peer:$(served "$peer_addr")" &
    wait
fi
if [ -n "$backup_dir" ]; then
    base=
    if [ -n "$newest" ]; then
        mtime "$newest"
        base=${found%.*}  # whole seconds, as stat's %Y
        echo "snapshot:${newest##*/} $base"
    fi
    printf '%s' "$backup"
    [ -n "$base" ] || base=$timer_started
    base=${base#@}
    if [ -n "$schedule" ] && [ -n "$base" ]; then
        # the answer depends on that time and the schedule alone
        key="$base $schedule"
        if recall observe-backup-due "$key"; then
            due=$recalled
        else
            due=$(TZ=UTC systemd-analyze calendar --iterations=2 --base-time="@$base" \
                "$schedule" 2>/dev/null | sed -n 's/^ *Iter\. #2: //p')
            [ -n "$due" ] && due=$(date -u -d "$due" +%s)
            [ -n "$due" ] && keep observe-backup-due "$key" "$due"
        fi
        [ -n "$due" ] && echo "backup_due:$due"
    fi
fi
exit 0
