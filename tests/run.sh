#!/usr/bin/env bash
# The test command (README, .ci/run): on a fresh Debian bookworm machine, as root.
#
# Installs what is missing (docker.io, debootstrap, the venv), starts dockerd if it
# is not running, builds the host image, runs the checks, the unit tests and the
# end-to-end tests on real systemd containers, then removes every container and
# network the tests made (and stops dockerd again if this script started it).
# Extra arguments go to pytest, e.g. `tests/run.sh -k three`.
# Test files run on ETCD_TEST_WORKERS pytest-xdist workers (3 by default; 1 runs them one
# after the other): each e2e module has its own bed, names and subnet, and most of its time
# is spent waiting on etcd, so three modules at once roughly third the wall time on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dockerd_was_running=false
docker info >/dev/null 2>&1 && dockerd_was_running=true

cleanup() {
    .venv/bin/python - <<'PY' || true
from sandbox import bed
for prefix in bed.beds():
    if prefix.startswith("etcd-e2e-"):
        bed.down(prefix)
PY
    if [[ $dockerd_was_running == false ]] && [[ -f /var/run/docker.pid ]]; then
        echo "[tests] stopping the dockerd this run started"
        kill "$(cat /var/run/docker.pid)" 2>/dev/null || true
    fi
}
trap cleanup EXIT

bash scripts/bootstrap.sh
echo "[tests] static checks"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
echo "[tests] host image"
.venv/bin/python -m sandbox build
echo "[tests] unit and end-to-end tests"
.venv/bin/pytest -ra -n "${ETCD_TEST_WORKERS:-3}" --dist loadfile "$@"
