# Sourced by the image and release scripts: the image's platforms (linux/ARCH) and the Rust
# target each one's static binaries are built for. One list, so that the build, the release
# and its test cannot disagree on what an image holds.
# shellcheck disable=SC2034 # read by the scripts that source this
image_archs=(amd64 arm64)
declare -gA rust_target_of=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
