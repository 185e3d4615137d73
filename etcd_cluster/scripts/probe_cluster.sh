# probe-cluster: every endpoint's /health and status, asked of all endpoints at once, for
# status.parse_probe; with "members", then the live member list and the alarms.
#
# Arguments: curl's --max-time, the CA, the healthcheck client's certificate and key,
# "members" or "", then the client endpoints (https://host:port, IPv6 in brackets).
# stdout: one line per endpoint, "<endpoint>\t<health body or error>\t<status body or error>"
# (in any order); with "members", "members\t<endpoint>\t<body>" and "alarms\t<endpoint>\t<body>"
# from the first endpoint that lists the members, healthy endpoints asked first.
set -u
max_time=$1 ca=$2 cert=$3 key=$4 with_members=$5
shift 5

ask() { curl -gsS --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" "$@"; }
flat() { tr -d '\n\t'; }

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
i=0
for ep in "$@"; do
    i=$((i + 1))
    (
        h=$(ask "$ep/health" 2>&1 | flat)
        s=$(ask -X POST -d '{}' "$ep/v3/maintenance/status" 2>&1 | flat)
        printf '%s\t%s\t%s\n' "$ep" "$h" "$s"
    ) >"$dir/$i" &
done
wait
cat "$dir"/* 2>/dev/null

[ "$with_members" = members ] || exit 0
healthy=$(grep -h '"health":"true"' "$dir"/* 2>/dev/null | cut -f1)
for ep in $healthy "$@"; do
    m=$(ask -f -X POST -d '{}' "$ep/v3/cluster/member/list" 2>/dev/null | flat) && [ -n "$m" ] || continue
    a=$(ask -X POST -d '{"action":"GET"}' "$ep/v3/maintenance/alarm" 2>&1 | flat)
    printf 'members\t%s\t%s\nalarms\t%s\t%s\n' "$ep" "$m" "$ep" "$a"
    break
done
exit 0
