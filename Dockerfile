# syntax=docker/dockerfile:1
# ssm-contacts-operator: a static (musl) binary FROM scratch, running as UID 65532: the same
# image as scripts/build-image.sh, the reference build that CI runs (docs/image.md). Same
# binary build (scripts/build-static.sh), same base files (scripts/build-image.sh --rootfs:
# Debian's CA bundle, passwd/group with nonroot, /tmp), same user, entrypoint, port and
# labels, and the kubectl plugin at /usr/local/bin/kubectl-ssm_contacts; only the layer
# digests differ (Docker packs its own tarballs). For people with
# Docker (BuildKit):
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" \
#     -t registry.example.com/ssm-contacts-operator:0.1.0 --push .
#
# VERSION is the package version in Cargo.toml. The release profile (LTO, one codegen unit,
# stripped symbols) comes from Cargo.toml.

# The builder runs on the build machine's own platform and cross-compiles to the target's
# (no emulation): build-static.sh picks musl-gcc or Debian's cross gcc.
FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS builder
ARG TARGETARCH
# musl-tools: musl-gcc, the C compiler aws-lc-sys (the TLS crypto library) is built with
# for a native musl target; gcc-*-linux-gnu: the C compiler and linker for the other one.
# python3: scripts/lib/cargo-bins.sh reads `cargo metadata` with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools python3 ca-certificates \
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-x86-64-linux-gnu libc6-dev-amd64-cross \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
WORKDIR /src
COPY . .
# The cargo registry and target folder live in BuildKit caches, so a rebuild after a source
# change recompiles only this crate; the binary is copied out of the cache to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-musl ;; \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && CARGO_TARGET_DIR=/src/target bash scripts/build-static.sh "$target" \
 && install -D -m 0755 "target/$target/release/ssm-contacts-operator" /out/ssm-contacts-operator \
 && install -D -m 0755 "target/$target/release/kubectl-ssm_contacts" /out/kubectl-ssm_contacts \
 && bash scripts/build-image.sh --rootfs /rootfs

# No base image: the CA bundle (Debian's ca-certificates), /etc/passwd and /etc/group with
# nonroot (65532), /tmp, and the binary; no shell, no package manager, no tzdata.
FROM scratch
# Passed with --build-arg (see the top); SOURCE_DATE_EPOCH, also a build argument, is read by
# BuildKit itself for the created time.
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="ssm-contacts-operator" \
      org.opencontainers.image.description="Kubernetes operator that sends AWS SSM Contacts activation codes for ContactChannelActivation resources" \
      org.opencontainers.image.source="https://github.com/oncall-dev/ssm-contacts-operator" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /rootfs/ /
COPY --from=builder /out/ssm-contacts-operator /ssm-contacts-operator
# The kubectl plugin, on the image's PATH: `kubectl ssm-contacts` from a debug container or
# a copy out of the image (`crane export`).
COPY --from=builder /out/kubectl-ssm_contacts /usr/local/bin/kubectl-ssm_contacts
USER 65532:65532
# /metrics on 8080, the probes (/livez, /readyz) on 8081.
EXPOSE 8080 8081
ENTRYPOINT ["/ssm-contacts-operator"]
