#!/usr/bin/env bash
# Builds the pinned helm-docs (github.com/norwoodj/helm-docs/cmd/helm-docs, see go.mod) from
# the Go module proxy, once per machine, and prints its path (tools/lib/go-tool.sh).
# scripts/chart-docs.sh renders the chart's README with it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=helm-docs
package=github.com/norwoodj/helm-docs/cmd/helm-docs
inputs=("$here/build.sh" "$here/go.mod" "$here/go.sum")
version=$(sed -nE 's#^\s*github.com/norwoodj/helm-docs (v[^ ]+).*#\1#p' "$here/go.mod")
note="building helm-docs ${version}"
ldflags="-s -w -X main.version=${version#v}"
# shellcheck source=tools/lib/go-tool.sh
source "$here/../lib/go-tool.sh"
