#!/usr/bin/env bash
# Runs the Argo CD health check (examples/argocd/health.lua) against the sample objects in
# examples/argocd/testdata/, in real Lua 5.1 and 5.4 interpreters (lupa), with pytest.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
"$python" -m pip install -q --disable-pip-version-check lupa pyyaml pytest jsonschema
cd "$root"
exec "$python" -m pytest -q -p no:cacheprovider examples/argocd
