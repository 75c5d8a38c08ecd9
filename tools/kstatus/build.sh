#!/usr/bin/env bash
# Builds the kstatus checker (main.go: sigs.k8s.io/cli-utils' kstatus, pinned in go.mod, the
# library Flux computes health with) from the Go module proxy, once per machine, and prints
# its path as the last line (tools/lib/go-tool.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=kstatus
package=.
inputs=("$here/build.sh" "$here/main.go" "$here/go.mod" "$here/go.sum")
version=$(sed -nE 's#^\s*sigs.k8s.io/cli-utils (v[^ ]+).*#\1#p' "$here/go.mod")
note="building the checker on cli-utils ${version} (1 to 3 minutes cold on 2 busy cores)"
# shellcheck source=tools/lib/go-tool.sh
source "$here/../lib/go-tool.sh"
