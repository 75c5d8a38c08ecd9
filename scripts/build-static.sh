#!/usr/bin/env bash
# Builds the release binaries exactly as the Dockerfile does (static, musl, release profile):
# the operator and the kubectl plugin (kubectl-ssm_contacts); checks that each is static (no
# ELF interpreter, no DT_NEEDED), runs it when this machine can, and prints its size. No
# Docker engine needed.
#
#   scripts/build-static.sh                  x86_64-unknown-linux-musl (linux/amd64)
#   scripts/build-static.sh TARGET...        x86_64-unknown-linux-musl and/or
#                                            aarch64-unknown-linux-musl (amd64/arm64 work too)
#
# The build machine's own architecture builds with musl-gcc (musl-tools); the other one is
# cross-built with Debian's cross gcc (gcc-aarch64-linux-gnu on x86_64) as C compiler for
# aws-lc-sys and as linker; Rust's own musl (self-contained crt and libc.a) makes the binary
# static either way. Missing packages are installed with apt-get (as root). The binaries land
# in $(cargo_target_dir)/TARGET/release/ (ssm-contacts-operator, kubectl-ssm_contacts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/cargo-bins.sh
source scripts/lib/cargo-bins.sh

log() { echo "build-static: $*" >&2; }

apt_install() {
  if [[ $(id -u) != 0 ]]; then
    log "missing $*: install it (apt-get install $*) or run as root"
    exit 1
  fi
  # Once per run: an install on a machine whose package lists are stale or absent.
  if [[ -z ${apt_updated:-} ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

targets=()
for arg in "${@:-x86_64-unknown-linux-musl}"; do
  case "$arg" in
    amd64 | x86_64 | x86_64-unknown-linux-musl) targets+=(x86_64-unknown-linux-musl) ;;
    arm64 | aarch64 | aarch64-unknown-linux-musl) targets+=(aarch64-unknown-linux-musl) ;;
    -h | --help)
      # The comment at the top of this file.
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      log "unknown target '$arg' (x86_64-unknown-linux-musl or aarch64-unknown-linux-musl)"
      exit 2
      ;;
  esac
done

command -v readelf >/dev/null 2>&1 || apt_install binutils
target_dir=$(cargo_target_dir)

# What each target needs: its Rust standard library, and a C compiler and linker.
declare -A machine_of
for target in "${targets[@]}"; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  arch=${target%%-*}
  case "$arch" in
    x86_64) machine_of[$target]="Advanced Micro Devices X86-64" cross_pkgs=(gcc-x86-64-linux-gnu libc6-dev-amd64-cross) ;;
    aarch64) machine_of[$target]="AArch64" cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
  esac
  if [[ "$arch" == "$(uname -m)" ]]; then
    # musl-gcc: the C compiler aws-lc-sys (the TLS crypto library) is built with; the cc
    # crate picks it up by name for a native musl target.
    command -v musl-gcc >/dev/null 2>&1 || apt_install musl-tools
  else
    # Another architecture: Debian's cross gcc compiles the C code and links; Rust's own
    # musl (self-contained crt objects and libc.a) still makes the binary static.
    command -v "$arch-linux-gnu-gcc" >/dev/null 2>&1 || apt_install "${cross_pkgs[@]}"
    env_triple=${target//-/_}
    linker_var="CARGO_TARGET_${env_triple^^}_LINKER"
    export "$linker_var=${!linker_var:-$arch-linux-gnu-gcc}"
    cc_var="CC_$env_triple" ar_var="AR_$env_triple"
    export "$cc_var=${!cc_var:-$arch-linux-gnu-gcc}" "$ar_var=${!ar_var:-$arch-linux-gnu-ar}"
  fi
done

# C build stamps (the cc crate, for aws-lc-sys) read SOURCE_DATE_EPOCH and cargo rebuilds
# everything above them when it changes; every caller (build-image.sh, CI's background build,
# a person) builds with the last commit's time, as the image does, so one build serves all.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]] && epoch=$(git log -1 --format=%ct 2>/dev/null); then
  export SOURCE_DATE_EPOCH=$epoch
fi

# One cargo run for every target: build scripts and proc macros are compiled once for all of
# them, and the targets' last crates (codegen-units = 1) build side by side on two cores.
target_flags=()
for target in $(printf '%s\n' "${targets[@]}" | sort -u); do target_flags+=(--target "$target"); done
start=$SECONDS
# Each binary from its own package: the plugin is a workspace member, not the root package.
cargo build --release --locked "${target_flags[@]}" \
  -p ssm-contacts-operator --bin ssm-contacts-operator \
  -p kubectl-ssm-contacts --bin kubectl-ssm_contacts
log "${targets[*]}: cargo build --release took $((SECONDS - start)) s"

for target in "${targets[@]}"; do
  arch=${target%%-*}
  machine=${machine_of[$target]}
  for name in ssm-contacts-operator kubectl-ssm_contacts; do
    binary="$target_dir/$target/release/$name"

    # Static: no program interpreter (ld.so) and no shared library needed. readelf reads any
    # architecture, unlike ldd, which would have to run the binary's loader.
    headers=$(readelf -hlW "$binary")
    if ! grep -q "Machine: *$machine\$" <<<"$headers"; then
      log "$binary is not an $machine ELF:"
      grep 'Machine:' <<<"$headers" >&2
      exit 1
    fi
    if grep -q 'INTERP' <<<"$headers" || readelf -dW "$binary" | grep -q '(NEEDED)'; then
      log "$binary is dynamically linked:"
      readelf -lW "$binary" | grep -A1 INTERP >&2 || true
      readelf -dW "$binary" | grep '(NEEDED)' >&2 || true
      exit 1
    fi
    if [[ "$arch" == "$(uname -m)" ]]; then
      "$binary" --version
    elif command -v "qemu-$arch" >/dev/null 2>&1; then
      "qemu-$arch" "$binary" --version
    fi
    echo "build-static: $binary is a static $machine ELF, $(stat -c %s "$binary") bytes"
  done
done
