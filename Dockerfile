# syntax=docker/dockerfile:1
# ssm-contacts-operator: a static (musl) binary on distroless, running as UID 65532.
#   docker build -t ssm-contacts-operator .
# The release profile (LTO, one codegen unit, stripped symbols) comes from Cargo.toml.

FROM rust:1.95-bookworm AS builder
ARG TARGET=x86_64-unknown-linux-musl
# musl-tools: the C compiler (musl-gcc) that aws-lc-sys, the TLS crypto library, is built
# with for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$TARGET"
WORKDIR /src
COPY . .
# The cargo registry and target folder live in BuildKit caches, so a rebuild after a source
# change recompiles only this crate; the binary is copied out of the cache to /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "$TARGET" --bin ssm-contacts-operator \
 && install -D -m 0755 "target/$TARGET/release/ssm-contacts-operator" /out/ssm-contacts-operator

# distroless/static: CA certificates (the SDK and kube trust the system roots), tzdata,
# /etc/passwd with nonroot (65532), and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="ssm-contacts-operator" \
      org.opencontainers.image.description="Sends AWS SSM Contacts activation codes for ContactChannelActivation resources" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/ssm-contacts-operator /ssm-contacts-operator
USER 65532:65532
# Admin server: /livez, /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["/ssm-contacts-operator"]
