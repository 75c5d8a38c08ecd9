#!/usr/bin/env bash
# Builds the pinned crane (github.com/google/go-containerregistry/cmd/crane, see go.mod)
# from the Go module proxy, once per machine, and prints its path (tools/lib/go-tool.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=crane
package=github.com/google/go-containerregistry/cmd/crane
inputs=("$here/build.sh" "$here/go.mod" "$here/go.sum")
version=$(sed -nE 's#^\s*github.com/google/go-containerregistry (v[^ ]+).*#\1#p' "$here/go.mod")
note="building go-containerregistry ${version} (about 30 s cold)"
# shellcheck source=tools/lib/go-tool.sh
source "$here/../lib/go-tool.sh"
