#!/usr/bin/env bash
# Builds the pinned crane (github.com/google/go-containerregistry/cmd/crane, see go.mod)
# from the Go module proxy, once per machine, and prints its path. The cache key is a hash
# of this script, go.mod and go.sum: changing the pin rebuilds, an unchanged pin is a no-op.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

key=$(cat "$here/build.sh" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}
bin="$root/$key/crane"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

# Two cold builds at once must not race on the same file.
mkdir -p "$root/$key"
exec 9>"$root/$key.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "tools/crane/build.sh: needs Go (1.26, the module's go line) on PATH" >&2
  exit 1
fi
version=$(sed -nE 's#^\s*github.com/google/go-containerregistry (v[^ ]+).*#\1#p' "$here/go.mod")
echo "crane: building go-containerregistry ${version} (about 30 s cold)" >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.partial" \
  github.com/google/go-containerregistry/cmd/crane)
mv "$bin.partial" "$bin"
echo "$bin"
