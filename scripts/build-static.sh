#!/usr/bin/env bash
# Builds the release binary exactly as the Dockerfile does (static, musl, release profile),
# checks that it is static and runs, and prints its size. No Docker engine needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=x86_64-unknown-linux-musl

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
if ! command -v musl-gcc >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null
fi
cargo build --release --locked --target "$target" --bin ssm-contacts-operator
# shellcheck source=scripts/lib/cargo-bins.sh
source scripts/lib/cargo-bins.sh
binary="$(cargo_target_dir)/$target/release/ssm-contacts-operator"

if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "build-static: $binary is dynamically linked:" >&2
  ldd "$binary" >&2
  exit 1
fi
"$binary" --version
echo "build-static: $binary is static, $(stat -c %s "$binary") bytes"
