#!/usr/bin/env bash
# Builds the kstatus checker (main.go: sigs.k8s.io/cli-utils' kstatus, pinned in go.mod, the
# library Flux computes health with) from the Go module proxy, once per machine, and prints
# its path as the last line. The cache key is a hash of this script, main.go, go.mod and
# go.sum: changing the pin or the program rebuilds, an unchanged one is a no-op.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

key=$(cat "$here/build.sh" "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}
bin="$root/$key/kstatus"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

# Two cold builds at once (test processes, scripts/test.sh) must not race on the same file.
mkdir -p "$root/$key"
exec 9>"$root/$key.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "tools/kstatus/build.sh: needs Go (1.26, the module's go line) on PATH" >&2
  exit 1
fi
version=$(sed -nE 's#^\s*sigs.k8s.io/cli-utils (v[^ ]+).*#\1#p' "$here/go.mod")
echo "kstatus: building the checker on cli-utils ${version} (1 to 3 minutes cold on 2 busy cores)" >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.partial" .)
mv "$bin.partial" "$bin"
echo "$bin"
