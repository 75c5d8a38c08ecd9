#!/usr/bin/env bash
# Builds one pinned Go program of tools/ from the Go module proxy, once per machine, and
# prints its path as the last line. Sourced by each tool's build.sh, which sets:
#   here     the tool's folder (go.mod, go.sum)
#   name     the binary's name
#   package  what `go build` builds, in that folder
#   inputs   the files whose content is the cache key (the build.sh, go.mod, go.sum, sources)
#   note     what the build says it is doing
# Changing a pin or a source rebuilds; an unchanged one is a no-op.
set -euo pipefail

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

key=$(cat "${inputs[@]}" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}
bin="$root/$key/$name"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

# Two cold builds at once (test processes, scripts) must not race on the same file.
mkdir -p "$root/$key"
exec 9>"$root/$key.lock"
flock 9
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "tools/$name: needs Go (1.26, the module's go line) on PATH" >&2
  exit 1
fi
echo "$name: $note" >&2
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin.partial" "$package")
mv "$bin.partial" "$bin"
echo "$bin"
