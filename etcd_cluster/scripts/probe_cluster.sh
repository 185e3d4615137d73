# probe-cluster: every endpoint's /health and status, asked of all endpoints at once, for
# status.parse_probe; with "members", also the live member list and the alarms.
#
# Arguments: curl's --max-time, the CA, the healthcheck client's certificate and key,
# "members" or "", then the client endpoints (https://host:port, IPv6 in brackets).
# stdout: one line per endpoint, "<endpoint>\t<health body or error>\t<status body or error>"
# (in endpoint order); with "members", then "members\t<endpoint>\t<body>" and
# "alarms\t<endpoint>\t<body>" of the first endpoint whose member list answered, healthy
# endpoints first. An error is "curl: (<code>) <message>" of that very request.
# One curl asks every question of every endpoint at once (--parallel, curl >= 7.67 for
# --no-progress-meter, which 7.88's -s alone does not silence there); HTTP/2 puts an
# endpoint's questions on one TLS connection. As all requests run at once, a member that
# cannot be reached costs one timeout, not one per question. Each request's --write-out
# line names its endpoint and question, so an error goes to the request it belongs to
# (%{exitcode}, %{errormsg}: curl >= 7.75; an older curl leaves errors empty, which
# parse_probe reads as "no answer"). If curl printed none (it could not start, or did not
# know an option), its first stderr line is every endpoint's error.
set -u
max_time=$1 ca=$2 cert=$3 key=$4 with_members=$5
shift 5
n=$#

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM # the EXIT trap still cleans up

# curl's transfers go after the endpoints in "$@" (dash has no arrays): per endpoint i,
# question q (h: health, s: status, m: member list, a: alarms), the body to $dir/$i.$q
# and the line "<i> <q> <exit code> <error message>" to stdout.
wrote='%{exitcode} %{errormsg}\n'
i=0 next=
for ep in "$@"; do
    i=$((i + 1))
    set -- "$@" ${next:+--next} \
        -g --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
        -o "$dir/$i.h" -w "$i h $wrote" "$ep/health" \
        --next -g --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
        -X POST -d '{}' -o "$dir/$i.s" -w "$i s $wrote" "$ep/v3/maintenance/status"
    if [ "$with_members" = members ]; then
        set -- "$@" \
            --next -g --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
            -f -X POST -d '{}' -o "$dir/$i.m" -w "$i m $wrote" "$ep/v3/cluster/member/list" \
            --next -g --max-time "$max_time" --cacert "$ca" --cert "$cert" --key "$key" \
            -X POST -d '{"action":"GET"}' -o "$dir/$i.a" -w "$i a $wrote" "$ep/v3/maintenance/alarm"
    fi
    next=yes
done

ask() { # the transfers, without the endpoints in front; global options before the first
    shift "$n"
    curl --parallel --parallel-max $((n * 4)) --no-progress-meter -s "$@"
}
ask "$@" >"$dir/outcomes" 2>"$dir/err"

# error_<i>_<q>: "curl: (<code>) <message>" of each request that failed
failed=
while read -r index question code message || [ -n "${index:-}" ]; do
    case "$index" in '' | *[!0-9]*) continue ;; esac
    case "$question:$code" in
    [hsma]:[1-9]*) eval "error_${index}_$question=\"curl: (\$code) \$message\"" ;;
    esac
done <"$dir/outcomes"
[ -s "$dir/outcomes" ] || IFS= read -r failed <"$dir/err" || true

tab='	' # a tab character, kept literal: $(printf) would cost a fork
answer() { # sets $said: the body of request $1 ("<i>.<q>") on one line, else its error
    # (shell builtins only: each process is a good part of what a survey costs)
    said=
    if [ -s "$dir/$1" ]; then
        while IFS= read -r line || [ -n "$line" ]; do said=$said$line; done <"$dir/$1"
    else
        eval "said=\${error_${1%.*}_${1#*.}:-\$failed}"
    fi
    while :; do
        case "$said" in
        *"$tab"*) said=${said%%"$tab"*}${said#*"$tab"} ;;
        *) break ;;
        esac
    done
}

i=0
healthy= others=
for ep in "$@"; do
    i=$((i + 1))
    [ "$i" -le "$n" ] || break
    answer "$i.h"
    health=$said
    answer "$i.s"
    # both unanswered: the health error says why (curl blames the requests that waited
    # on that connection for something else, "Failed to resolve host ... after 0 ms")
    [ -s "$dir/$i.s" ] || [ -s "$dir/$i.h" ] || said=$health
    printf '%s\t%s\t%s\n' "$ep" "$health" "$said"
    case "$health" in
    *'"health":"true"'*) [ -s "$dir/$i.h" ] && healthy="$healthy $i" || others="$others $i" ;;
    *) others="$others $i" ;;
    esac
done

[ "$with_members" = members ] || exit 0
for i in $healthy $others; do
    # a member list that failed half-way (a timeout mid-body) is no member list
    eval "[ -s \"\$dir/$i.m\" ] && [ -z \"\${error_${i}_m:-}\" ]" || continue
    eval "ep=\${$i}"
    answer "$i.m"
    printf 'members\t%s\t%s\n' "$ep" "$said"
    answer "$i.a"
    printf 'alarms\t%s\t%s\n' "$ep" "$said"
    break
done
exit 0
