# Sourced by scripts that run the workspace's own binaries. Builds every binary of every
# workspace member (a plain `cargo build` at the root builds only the root package) and
# sets $cargo_bin to the folder cargo put them in, wherever CARGO_TARGET_DIR or a cargo
# config points: cargo itself is asked, never `target/` assumed.
#
#   cargo_target_dir                             prints the target folder
#   cargo_build_bins [debug|release] [extra cargo args...]
cargo_build_bins() {
  local profile=${1:-debug}
  shift || true
  local flags=(--locked --workspace --bins)
  [[ "$profile" == release ]] && flags+=(--release)
  cargo build --quiet "${flags[@]}" "$@"
  cargo_bin="$(cargo_target_dir)/$profile"
  for name in ssm-contacts-operator ssm-contacts-emulator testenv; do
    if [[ ! -x "$cargo_bin/$name" ]]; then
      echo "cargo build finished but $cargo_bin/$name is missing" >&2
      return 1
    fi
  done
}

cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
