#!/usr/bin/env bash
# Prepare this machine for the demo and the tests; safe to run again and again.
#
# On a fresh Debian bookworm machine (as root): installs docker.io and
# debootstrap if missing, makes the venv .venv with the project's requirements
# (reinstalled only when requirements*.txt change) and makes sure dockerd
# answers.  The host image itself is built on first use by `python -m sandbox`
# or the tests (sandbox.image.ensure_image), since not every caller needs it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"
cd "$ROOT"

log() { echo "[bootstrap] $*"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[[ -x "$VENV/bin/python" ]] || { log "creating $VENV"; python3 -m venv "$VENV"; }
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]]; then
    log "installing requirements into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
    echo "$wanted" >"$STAMP"
fi

"$VENV/bin/python" -c 'from sandbox.image import ensure_dockerd; ensure_dockerd()'
