#!/usr/bin/env bash
# Installs the pinned cargo-cyclonedx (below) from crates.io with its own Cargo.lock
# (`--locked`), once per machine, and prints the binary's path as the last line. The release
# writes the CycloneDX SBOM of each binary in the image with it.
set -euo pipefail

version=0.5.9
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib/once.sh
source "$here/../lib/once.sh"
key=$(cat "$here/build.sh" "$here/../lib/once.sh" | sha256sum | cut -c1-16)
root=${SSMC_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/tools}/$key

cargo_install() {
  # A target folder of its own: the workspace's CARGO_TARGET_DIR is not touched.
  CARGO_TARGET_DIR="$root/target" cargo install --quiet --locked \
    --version "=$version" --root "$root" cargo-cyclonedx
  rm -rf "$root/target"
}
build_once "$root/bin/cargo-cyclonedx" \
  "cargo-cyclonedx: installing ${version} from crates.io (about 3 minutes cold)" cargo_install
