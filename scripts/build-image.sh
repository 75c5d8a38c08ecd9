#!/usr/bin/env bash
# Builds the operator's OCI image for linux/amd64 and linux/arm64 without a Docker engine:
# the static musl binaries (scripts/build-static.sh), then, with crane (go-containerregistry,
# pinned in tools/crane), one image per platform FROM scratch and a multi-arch index, written
# as an OCI image layout. The reference build; the Dockerfile builds the same image with
# Docker. See docs/image.md.
#
#   scripts/build-image.sh               build, validate, print the index digest
#   scripts/build-image.sh --check       the same, then build the image a second time and
#                                        require the same digest (reproducible); for CI
#   scripts/build-image.sh --push REF    build, validate, then `crane push` the layout to REF
#                                        (e.g. registry.example.com/ssm-contacts-operator:0.1.0;
#                                        credentials: `crane auth login` or ~/.docker/config.json)
#   scripts/build-image.sh --out DIR     write the layout to DIR
#                                        (default: $(cargo_target_dir)/oci/ssm-contacts-operator)
#   scripts/build-image.sh --rootfs DIR  only write the image's base files (CA bundle, passwd,
#                                        group, /tmp) into DIR; the Dockerfile uses this
#
# Each image has two layers: the base files (identical on both platforms, so one blob) and
# the binaries: /ssm-contacts-operator and the kubectl plugin /usr/local/bin/kubectl-ssm_contacts
# (both 0755, owned by root; the plugin is on the image's PATH). Config: User 65532:65532, Entrypoint
# ["/ssm-contacts-operator"], ports 8080/tcp and 8081/tcp, Docker's default PATH, OCI labels (source,
# version, revision, licenses, title, description). The config's created time and every
# file's mtime are SOURCE_DATE_EPOCH (default: the last commit's time), so a commit gives
# the same digests.
#
# crane talks only to registries it starts itself on 127.0.0.1, except for --push.
set -euo pipefail
caller_pwd=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "build-image: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# Writes the files every image carries into $1, with the modes they have in the image
# (all owned by root): the Debian ca-certificates package's Mozilla roots, passwd and group
# with root, nobody and nonroot (65532), and an empty /tmp. The bundle is made from the
# package's own files, so CAs added locally on the build machine are left out.
write_rootfs() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if ! dpkg -s ca-certificates >/dev/null 2>&1; then
    [[ $(id -u) == 0 ]] || die "needs Debian's ca-certificates package (apt-get install ca-certificates)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null
  fi
  local certs
  certs=$(dpkg -L ca-certificates | grep -E '^/usr/share/ca-certificates/mozilla/.+\.crt$' | LC_ALL=C sort)
  [[ -n "$certs" ]] || die "the ca-certificates package lists no certificate"
  install -d -m 0755 "$dir/etc" "$dir/etc/ssl" "$dir/etc/ssl/certs"
  install -d -m 1777 "$dir/tmp"
  local cert
  for cert in $certs; do
    # shellcheck disable=SC1003 # sed's "append" with nothing: ends the file with a newline
    sed -e '$a\' "$cert"
  done >"$dir/etc/ssl/certs/ca-certificates.crt"
  printf '%s\n' \
    'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >"$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$dir/etc/group"
  chmod 0644 "$dir/etc/ssl/certs/ca-certificates.crt" "$dir/etc/passwd" "$dir/etc/group"
}

check=0
push_ref=
out=
while (($#)); do
  case "$1" in
    --check) check=1 ;;
    --push)
      [[ $# -ge 2 && -n "$2" ]] || die "--push needs an image reference"
      push_ref=$2
      shift
      ;;
    --out)
      [[ $# -ge 2 && -n "$2" ]] || die "--out needs a folder"
      out=$(cd "$caller_pwd" && realpath -m -- "$2")
      shift
      ;;
    --rootfs)
      [[ $# -ge 2 && -n "$2" ]] || die "--rootfs needs a folder"
      write_rootfs "$(cd "$caller_pwd" && realpath -m -- "$2")"
      exit 0
      ;;
    -h | --help)
      # The comment at the top of this file.
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

# shellcheck source=scripts/lib/cargo-bins.sh
source scripts/lib/cargo-bins.sh
total_start=$SECONDS

# --- what goes into the labels ---------------------------------------------------------------
metadata=$(cargo metadata --format-version 1 --no-deps --locked)
read_package() {
  python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "ssm-contacts-operator")
print(pkg.get(sys.argv[1]) or "")' "$1" <<<"$metadata"
}
version=$(read_package version)
description=$(read_package description)
licenses=$(read_package license)
# The repository the chart's default image (ghcr.io/oncall-dev/...) is published from;
# Cargo.toml's `repository`, when set, wins.
source_url=$(read_package repository)
source_url=${source_url:-https://github.com/oncall-dev/ssm-contacts-operator}
target_dir=$(cargo_target_dir)
out=${out:-$target_dir/oci/ssm-contacts-operator}

if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
  epoch=$SOURCE_DATE_EPOCH
else
  epoch=$(git log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
[[ "$epoch" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970, not '$epoch'"
export SOURCE_DATE_EPOCH=$epoch
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
revision=${IMAGE_REVISION:-$(git rev-parse HEAD 2>/dev/null)} ||
  die "not a git checkout: set IMAGE_REVISION to the source revision"
if [[ -z "${IMAGE_REVISION:-}" ]] && [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  log "warning: the work tree has uncommitted changes; the image is labelled $revision all the same"
fi

# --- the binaries ----------------------------------------------------------------------------
# shellcheck source=scripts/lib/platforms.sh
source scripts/lib/platforms.sh
declare -A elf_machine=([amd64]="Advanced Micro Devices X86-64" [arm64]=AArch64)
start=$SECONDS
bash scripts/build-static.sh "${rust_target_of[@]}"
log "binaries for ${image_archs[*]}: $((SECONDS - start)) s"

start=$SECONDS
crane=$(bash tools/crane/build.sh)
log "crane $("$crane" version) at $crane ($((SECONDS - start)) s)"

work=$(mktemp -d "${TMPDIR:-/tmp}/build-image.XXXXXX")
# shellcheck source=scripts/lib/registry.sh
source scripts/lib/registry.sh
trap 'stop_registries; rm -rf "$work"' EXIT

# A reproducible layer tarball of everything under $1: sorted, owned by 0:0 with no names,
# every mtime SOURCE_DATE_EPOCH, modes as on disk. crane gzips it (deterministically).
pack_layer() {
  python3 - "$1" "$2" "$epoch" <<'EOF'
import os, stat, sys, tarfile
src, dst, mtime = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = []
for root, dirs, files in os.walk(src):
    for name in dirs + files:
        paths.append(os.path.relpath(os.path.join(root, name), src))
with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tar:
    for rel in sorted(paths):
        full = os.path.join(src, rel)
        info = tar.gettarinfo(full, arcname=rel)
        if not (info.isdir() or info.isfile()):
            sys.exit(f"pack_layer: {full} is neither a file nor a folder")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = mtime
        info.mode = stat.S_IMODE(os.stat(full).st_mode)
        if info.isfile():
            with open(full, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
EOF
}

# An empty image for linux/$2 whose config carries the created time (crane's own empty base
# has none), written as an OCI layout in $1: the FROM scratch of each platform.
write_scratch_layout() {
  python3 - "$1" "$2" "$created" <<'EOF'
import hashlib, json, os, sys
out, arch, created = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
config = blob(dumps({"architecture": arch, "os": "linux", "created": created,
                     "rootfs": {"type": "layers", "diff_ids": []}, "config": {}}))
manifest = blob(dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                       "layers": []}))
with open(os.path.join(out, "index.json"), "wb") as f:
    f.write(dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest}]}))
with open(os.path.join(out, "oci-layout"), "wb") as f:
    f.write(dumps({"imageLayoutVersion": "1.0.0"}))
EOF
}

# Prints the digest part of crane's "host/repo@sha256:..." answer.
digest_of() { sed -nE 's/.*@(sha256:[0-9a-f]{64})$/\1/p' <<<"$1" | tail -1; }

mkdir -p "$work/base-rootfs"
write_rootfs "$work/base-rootfs"
pack_layer "$work/base-rootfs" "$work/base.tar"
for arch in "${image_archs[@]}"; do
  mkdir -p "$work/bin-$arch"
  install -m 0755 "$target_dir/${rust_target_of[$arch]}/release/ssm-contacts-operator" "$work/bin-$arch/"
  # The folders get explicit modes: pack_layer copies modes from disk, whatever the umask.
  install -d -m 0755 "$work/bin-$arch/usr" "$work/bin-$arch/usr/local" "$work/bin-$arch/usr/local/bin"
  install -m 0755 "$target_dir/${rust_target_of[$arch]}/release/kubectl-ssm_contacts" "$work/bin-$arch/usr/local/bin/"
  pack_layer "$work/bin-$arch" "$work/bin-$arch.tar"
  write_scratch_layout "$work/scratch-$arch" "$arch"
done

# Builds the index in a fresh registry and writes it as an OCI layout to $1; sets
# $assembled to the index digest.
assemble() {
  local layout=$1 arch ref scratch refs=() index
  start_registry
  for arch in "${image_archs[@]}"; do
    scratch="$registry/scratch:$arch"
    "$crane" push "$work/scratch-$arch" "$scratch" 2>>"$work/crane.log" >/dev/null
    ref=$("$crane" append --base "$scratch" \
      --new_layer "$work/base.tar" --new_layer "$work/bin-$arch.tar" \
      --new_tag "$registry/ssm-contacts-operator:$arch" 2>>"$work/crane.log")
    ref=$("$crane" mutate "$ref" \
      --user 65532:65532 \
      --entrypoint /ssm-contacts-operator \
      --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --exposed-ports 8080/tcp,8081/tcp \
      --label org.opencontainers.image.title=ssm-contacts-operator \
      --label "org.opencontainers.image.description=$description" \
      --label "org.opencontainers.image.source=$source_url" \
      --label "org.opencontainers.image.version=$version" \
      --label "org.opencontainers.image.revision=$revision" \
      --label "org.opencontainers.image.licenses=$licenses" \
      --tag "$registry/ssm-contacts-operator:$arch" 2>>"$work/crane.log")
    refs+=(--manifest "$registry/ssm-contacts-operator@$(digest_of "$ref")")
  done
  index=$("$crane" index append "${refs[@]}" --tag "$registry/ssm-contacts-operator:$version" 2>>"$work/crane.log")
  # Replaced whole, but only if it is a layout (or empty): --out may be mistyped.
  if [[ -e "$layout" && ! -e "$layout/oci-layout" && -n "$(ls -A "$layout")" ]]; then
    die "$layout exists and is not an OCI image layout; not overwriting it"
  fi
  rm -rf "$layout"
  mkdir -p "$(dirname "$layout")"
  "$crane" pull --format=oci "$registry/ssm-contacts-operator:$version" "$layout" 2>>"$work/crane.log"
  stop_registry
  assembled=$(digest_of "$index")
  [[ -n "$assembled" ]] || die "crane gave no index digest: $(cat "$work/crane.log")"
}

start=$SECONDS
assemble "$out"
index_digest=$assembled
log "OCI layout $out written ($((SECONDS - start)) s)"

# --- validation: the layout as a registry would receive it -----------------------------------
start=$SECONDS
start_registry
check_ref="$registry/ssm-contacts-operator"
pushed=$("$crane" push "$out" "$check_ref:$version" 2>>"$work/crane.log")
[[ "$(digest_of "$pushed")" == "$index_digest" ]] ||
  die "the layout pushed as $(digest_of "$pushed"), built as $index_digest"
# Every manifest, config and layer of the index, re-read and re-digested.
"$crane" validate --remote "$check_ref@$index_digest"

# The index: exactly linux/amd64 and linux/arm64, OCI media types.
"$crane" manifest "$check_ref@$index_digest" | python3 -c '
import json, sys
index = json.load(sys.stdin)
assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index.get("mediaType")
platforms = sorted(m["platform"]["os"] + "/" + m["platform"]["architecture"] for m in index["manifests"])
assert platforms == ["linux/amd64", "linux/arm64"], platforms
for m in index["manifests"]:
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m["mediaType"]
'
for arch in "${image_archs[@]}"; do
  "$crane" config --platform "linux/$arch" "$check_ref@$index_digest" |
    python3 -c '
import json, sys
arch, created, version, revision, source = sys.argv[1:]
cfg = json.load(sys.stdin)
c = cfg["config"]
assert (cfg["os"], cfg["architecture"]) == ("linux", arch), (cfg["os"], cfg["architecture"])
assert cfg["created"] == created, cfg["created"]
assert c["User"] == "65532:65532", c.get("User")
assert c["Entrypoint"] == ["/ssm-contacts-operator"], c.get("Entrypoint")
assert not c.get("Cmd"), c.get("Cmd")
labels = c["Labels"]
for key, want in [("source", source), ("version", version), ("revision", revision),
                  ("licenses", "Apache-2.0")]:
    got = labels.get("org.opencontainers.image." + key)
    assert got == want, (key, got, want)
' "$arch" "$created" "$version" "$revision" "$source_url"

  # The image's filesystem, as a runtime unpacks it.
  fs="$work/fs-$arch"
  mkdir -p "$fs"
  "$crane" export --platform "linux/$arch" "$check_ref@$index_digest" - | tar -x -C "$fs"
  binary="$fs/ssm-contacts-operator"
  [[ "$(stat -c '%a %u:%g' "$binary")" == "755 0:0" ]] ||
    die "linux/$arch: /ssm-contacts-operator is $(stat -c '%a %u:%g' "$binary"), not 755 0:0"
  grep -qx 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' "$fs/etc/passwd" ||
    die "linux/$arch: no nonroot user in /etc/passwd"
  certs=$(grep -c 'BEGIN CERTIFICATE' "$fs/etc/ssl/certs/ca-certificates.crt") ||
    die "linux/$arch: no CA bundle at /etc/ssl/certs/ca-certificates.crt"
  headers=$(readelf -hlW "$binary")
  grep -q "Machine: *${elf_machine[$arch]}\$" <<<"$headers" ||
    die "linux/$arch: /ssm-contacts-operator is not an ${elf_machine[$arch]} ELF"
  if grep -q INTERP <<<"$headers" || readelf -dW "$binary" | grep -q '(NEEDED)'; then
    die "linux/$arch: /ssm-contacts-operator is not static"
  fi
  plugin="$fs/usr/local/bin/kubectl-ssm_contacts"
  [[ "$(stat -c '%a %u:%g' "$plugin" 2>/dev/null)" == "755 0:0" ]] ||
    die "linux/$arch: /usr/local/bin/kubectl-ssm_contacts is missing or not 755 0:0"
  plugin_headers=$(readelf -hlW "$plugin")
  grep -q "Machine: *${elf_machine[$arch]}\$" <<<"$plugin_headers" ||
    die "linux/$arch: /usr/local/bin/kubectl-ssm_contacts is not an ${elf_machine[$arch]} ELF"
  if grep -q INTERP <<<"$plugin_headers" || readelf -dW "$plugin" | grep -q '(NEEDED)'; then
    die "linux/$arch: /usr/local/bin/kubectl-ssm_contacts is not static"
  fi
  if [[ "$arch" == amd64 && "$(uname -m)" == x86_64 ]]; then
    # Run it inside the unpacked filesystem as the image's user, when root can chroot;
    # otherwise straight from the folder.
    if [[ $(id -u) == 0 ]]; then
      ran=$(chroot --userspec=65532:65532 "$fs" /ssm-contacts-operator --version)
    else
      ran=$("$binary" --version)
    fi
    [[ "$ran" == *"$version"* ]] || die "linux/amd64: --version printed '$ran', not $version"
    log "linux/amd64: /ssm-contacts-operator --version as 65532: $ran"
    if [[ $(id -u) == 0 ]]; then
      ran=$(chroot --userspec=65532:65532 "$fs" /usr/local/bin/kubectl-ssm_contacts --version)
    else
      ran=$("$plugin" --version)
    fi
    [[ "$ran" == *"$version"* ]] || die "linux/amd64: kubectl-ssm_contacts --version printed '$ran', not $version"
  fi
  log "linux/$arch: static ${elf_machine[$arch]} ELFs (operator and plugin), $certs CA certificates, user 65532, labels ok"
done
log "validated ($((SECONDS - start)) s)"

# --- reproducible? -----------------------------------------------------------------------------
if ((check)); then
  start=$SECONDS
  assemble "$work/again"
  [[ "$assembled" == "$index_digest" ]] ||
    die "not reproducible: a second build of the same binaries gave $assembled, the first $index_digest"
  log "rebuilt from the same binaries: same index digest ($((SECONDS - start)) s)"
fi

# --- sizes -------------------------------------------------------------------------------------
for arch in "${image_archs[@]}"; do
  "$crane" manifest --platform "linux/$arch" "$check_ref@$index_digest" | python3 -c '
import json, sys
m = json.load(sys.stdin)
layers = [l["size"] for l in m["layers"]]
total = sum(layers) + m["config"]["size"]
print("build-image: linux/%s: %d bytes compressed (layers %s), binary %s bytes"
      % (sys.argv[1], total, " + ".join(map(str, layers)), sys.argv[2]), file=sys.stderr)
' "$arch" "$(stat -c %s "$target_dir/${rust_target_of[$arch]}/release/ssm-contacts-operator")"
done
log "layout: $(du -sb "$out" | cut -f1) bytes on disk; total $((SECONDS - total_start)) s"

if [[ -n "$push_ref" ]]; then
  log "pushing $out to $push_ref"
  "$crane" push "$out" "$push_ref"
fi

echo "build-image: $out: ssm-contacts-operator $version ($revision), index $index_digest"
