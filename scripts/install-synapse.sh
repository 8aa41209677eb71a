#!/usr/bin/env bash
# Installs Synapse (the Matrix homeserver readsim's Matrix tests and runs start) into a
# Python venv, and prints the venv's path on stdout (everything else goes to stderr).
#   scripts/install-synapse.sh [VENV]
# VENV defaults to where readsim looks when neither --synapse-venv nor READSIM_SYNAPSE_VENV
# is given: $XDG_CACHE_HOME/readsim/synapse-venv, else ~/.cache/readsim/synapse-venv.
# Idempotent: a venv that already imports synapse is reused as it is. Needs python3 with
# the venv module (Debian: python3-venv) and network access to PyPI (~30 s, ~240 MB).
set -euo pipefail

# The version readsim was developed and measured against (docs/matrix.md).
SYNAPSE_VERSION=1.163.2

if [[ -n "${1:-}" ]]; then
    venv="$1"
elif [[ -n "${XDG_CACHE_HOME:-}" && "${XDG_CACHE_HOME}" == /* ]]; then
    venv="$XDG_CACHE_HOME/readsim/synapse-venv"
elif [[ -n "${HOME:-}" ]]; then
    venv="$HOME/.cache/readsim/synapse-venv"
else
    echo "neither XDG_CACHE_HOME nor HOME is set: pass the venv path as the argument" >&2
    exit 2
fi

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c 'import synapse' 2>/dev/null; then
    have=$("$venv/bin/python" -c 'import synapse; print(synapse.__version__)')
    echo "Synapse $have is already installed in $venv" >&2
    echo "$venv"
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
    exit 2
fi
mkdir -p "$(dirname "$venv")"
echo "creating a venv in $venv and installing matrix-synapse==$SYNAPSE_VERSION" >&2
python3 -m venv "$venv" >&2 || {
    echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 2
}
"$venv/bin/pip" install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION" >&2
"$venv/bin/python" -c 'import synapse' >&2
echo "Synapse $SYNAPSE_VERSION installed in $venv" >&2
echo "$venv"
