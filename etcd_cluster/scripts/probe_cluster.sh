# probe-cluster: every endpoint's /health and status, asked of all endpoints at once, for
# status.parse_probe; with "members", also the live member list and the alarms.
#
# Arguments: curl's --max-time, the CA, the healthcheck client's certificate and key,
# "members" or "", then the client endpoints (https://host:port, IPv6 in brackets).
# stdout: one line per endpoint, "<endpoint>\t<health body or error>\t<status body or error>"
# (in endpoint order); with "members", then "members\t<endpoint>\t<body>" and
# "alarms\t<endpoint>\t<body>" of the first endpoint that listed the members, healthy
# endpoints first.
# One curl per endpoint, all at once, each asking its questions over one TLS connection;
# the first failed request ends that curl (--fail-early): a member that cannot be reached
# costs one timeout, not one per question. The member list comes before the alarms: a
# member without quorum still lists the members, but may not answer for the alarms.
set -u
max_time=$1 ca=$2 cert=$3 key=$4 with_members=$5
shift 5

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT

ask() { # ask endpoint $1, writing the answers to $2.<question>
    ep=$1 out=$2
    set -- --fail-early \
        -gsS --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
        -o "$out.health" "$ep/health" \
        --next -gsS --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
        -X POST -d '{}' -o "$out.status" "$ep/v3/maintenance/status"
    if [ "$with_members" = members ]; then
        set -- "$@" \
            --next -gsS --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
            -f -X POST -d '{}' -o "$out.members" "$ep/v3/cluster/member/list" \
            --next -gsS --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
            -X POST -d '{"action":"GET"}' -o "$out.alarms" "$ep/v3/maintenance/alarm"
    fi
    curl "$@" 2>"$out.err"
}

tab=$(printf '\t')
answer() { # sets $said: the body in $1 on one line, else the first error its curl printed
    # (shell builtins only: each process is a good part of what a survey costs)
    said=
    if [ -s "$1" ]; then
        while IFS= read -r line || [ -n "$line" ]; do said=$said$line; done <"$1"
    else
        IFS= read -r said <"$2" || true
    fi
    while :; do
        case "$said" in
        *"$tab"*) said=${said%%"$tab"*}${said#*"$tab"} ;;
        *) break ;;
        esac
    done
}

i=0
for ep in "$@"; do
    i=$((i + 1))
    ask "$ep" "$dir/$i" &
done
wait

i=0
healthy= others=
for ep in "$@"; do
    i=$((i + 1))
    answer "$dir/$i.health" "$dir/$i.err"
    health=$said
    answer "$dir/$i.status" "$dir/$i.err"
    printf '%s\t%s\t%s\n' "$ep" "$health" "$said"
    case "$health" in
    *'"health":"true"'*) [ -s "$dir/$i.health" ] && healthy="$healthy $i" || others="$others $i" ;;
    *) others="$others $i" ;;
    esac
done

[ "$with_members" = members ] || exit 0
for i in $healthy $others; do
    [ -s "$dir/$i.members" ] || continue
    eval "ep=\${$i}"
    answer "$dir/$i.members" /dev/null
    printf 'members\t%s\t%s\n' "$ep" "$said"
    answer "$dir/$i.alarms" "$dir/$i.err"
    printf 'alarms\t%s\t%s\n' "$ep" "$said"
    break
done
exit 0
