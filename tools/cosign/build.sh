#!/usr/bin/env bash
# Builds the pinned cosign (github.com/sigstore/cosign/v3/cmd/cosign, see go.mod) from the Go
# module proxy, once per machine, and prints its path (tools/lib/go-tool.sh). The release
# signs the image, the chart and the SBOMs with it; the release test verifies them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=cosign
package=github.com/sigstore/cosign/v3/cmd/cosign
inputs=("$here/build.sh" "$here/go.mod" "$here/go.sum")
version=$(sed -nE 's#^\s*github.com/sigstore/cosign/v3 (v[^ ]+).*#\1#p' "$here/go.mod")
note="building cosign ${version} (a few minutes cold)"
# shellcheck source=tools/lib/go-tool.sh
source "$here/../lib/go-tool.sh"
