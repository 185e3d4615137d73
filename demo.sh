#!/usr/bin/env bash
# Local demo: an etcd cluster deployed by pyinfra onto systemd containers.
#
#   ./demo.sh                              up (3 members) + deploy
#   ./demo.sh up [--members N] [--ipv6]    (re)create the sandbox hosts
#   ./demo.sh deploy [pyinfra args]        deploy onto the sandbox (sandbox/inventory.py)
#   ./demo.sh status                       show the sandbox hosts
#   ./demo.sh down                         remove the sandbox
#
# Needs root on Debian bookworm; scripts/bootstrap.sh installs the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }

command=${1:-all}
[[ $# -gt 0 ]] && shift
case "$command" in
    -h | --help | help) usage; exit 0 ;;
    all | up | deploy | status | down) ;;
    *) usage >&2; exit 2 ;;
esac

bash scripts/bootstrap.sh

deploy() { .venv/bin/pyinfra -y sandbox/inventory.py deploy.py "$@"; }

case "$command" in
    all) .venv/bin/python -m sandbox up && deploy ;;
    up | status | down) .venv/bin/python -m sandbox "$command" "$@" ;;
    deploy) deploy "$@" ;;
esac
