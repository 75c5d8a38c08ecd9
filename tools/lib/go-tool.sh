#!/usr/bin/env bash
# Builds one pinned Go program of tools/ from the Go module proxy, once per machine, and
# prints its path as the last line. Sourced by each tool's build.sh, which sets:
#   here     the tool's folder (go.mod, go.sum)
#   name     the binary's name
#   package  what `go build` builds, in that folder
#   inputs   the files whose content is the cache key (the build.sh, go.mod, go.sum, sources)
#   note     what the build says it is doing
#   ldflags  (optional) the linker flags, `-s -w` by default
# Changing a pin or a source rebuilds; an unchanged one is a no-op.
set -euo pipefail

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
lib=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tools/lib/once.sh
source "$lib/once.sh"
ldflags=${ldflags:--s -w}

key=$( (cat "${inputs[@]}" "${BASH_SOURCE[0]}" "$lib/once.sh"; echo "$ldflags") | sha256sum | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}
bin="$root/$key/$name"

go_build() {
  if ! command -v go >/dev/null 2>&1; then
    echo "tools/$name: needs Go (1.26, the module's go line) on PATH" >&2
    return 1
  fi
  (cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$bin.partial" "$package")
  mv "$bin.partial" "$bin"
}
build_once "$bin" "$name: $note" go_build
