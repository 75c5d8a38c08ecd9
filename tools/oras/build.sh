#!/usr/bin/env bash
# Builds the pinned oras (oras.land/oras/cmd/oras, see go.mod) from the Go module proxy, once
# per machine, and prints its path (tools/lib/go-tool.sh). The release attaches the SBOMs to
# the image with it, as OCI referrers.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=oras
package=oras.land/oras/cmd/oras
inputs=("$here/build.sh" "$here/go.mod" "$here/go.sum")
version=$(sed -nE 's#^\s*oras.land/oras (v[^ ]+).*#\1#p' "$here/go.mod")
note="building oras ${version} (about a minute cold)"
# shellcheck source=tools/lib/go-tool.sh
source "$here/../lib/go-tool.sh"
