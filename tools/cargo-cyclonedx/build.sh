#!/usr/bin/env bash
# Installs the pinned cargo-cyclonedx (below) from crates.io with its own Cargo.lock
# (`--locked`), once per machine, and prints the binary's path as the last line. The release
# writes the CycloneDX SBOM of each binary in the image with it.
set -euo pipefail

version=0.5.9
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
key=$(sha256sum "$here/build.sh" | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}
bin="$root/$key/bin/cargo-cyclonedx"

if [[ ! -x "$bin" ]]; then
  # Two cold builds at once must not race on the same folder.
  mkdir -p "$root"
  exec 9>"$root/$key.lock"
  flock 9
  if [[ ! -x "$bin" ]]; then
    echo "cargo-cyclonedx: installing ${version} from crates.io (about 3 minutes cold)" >&2
    # A target folder of its own: the workspace's CARGO_TARGET_DIR is not touched.
    CARGO_TARGET_DIR="$root/$key/target" cargo install --quiet --locked \
      --version "=$version" --root "$root/$key" cargo-cyclonedx
    rm -rf "$root/$key/target"
  fi
fi
echo "$bin"
