#!/usr/bin/env bash
# Publishes a release: the multi-arch image, the Helm chart as an OCI artifact, the CycloneDX
# SBOM of each binary attached to the image as OCI referrers, and cosign signatures of all of
# them, made with a key from the environment. See docs/release.md.
#
#   scripts/release.sh [--plain-http] [--chart-repo REPO] [--out DIR] REGISTRY/REPOSITORY:VERSION
#
#   REGISTRY/REPOSITORY:VERSION  where the image goes, e.g.
#                                ghcr.io/oncall-dev/ssm-contacts-operator:0.1.0; VERSION must be
#                                Cargo.toml's version and the chart's version and appVersion
#   --chart-repo REPO            where the chart goes (default: the image's repository with its
#                                last part replaced by `charts`, e.g. ghcr.io/oncall-dev/charts;
#                                the chart is then ghcr.io/oncall-dev/charts/ssm-contacts-operator)
#   --plain-http                 talk HTTP, not HTTPS, to the registry (a test registry)
#   --out DIR                    also write there what a release page carries: release.txt
#                                (what went where, with digests), cosign.pub, the SBOMs and
#                                the provenance
#
# Environment:
#   COSIGN_PRIVATE_KEY   the cosign private key (PEM, as `cosign generate-key-pair` writes it)
#   COSIGN_PASSWORD      its password (empty for a key without one)
#   HELM                 a helm binary to use (default: the pinned one tools/testenv builds)
# Registry credentials: crane, oras, cosign and helm read ~/.docker/config.json (`crane auth
# login`); helm also reads its own (`helm registry login`).
#
# What it does, in order, stopping at the first failure:
#   1. builds the image (scripts/build-image.sh --check: static musl binaries for
#      linux/amd64 and linux/arm64, validated, rebuilt once to prove the digest reproducible)
#      and pushes it to REGISTRY/REPOSITORY:VERSION;
#   2. writes the SBOM of both binaries in each platform's image (cargo-cyclonedx, pinned in
#      tools/cargo-cyclonedx: every crate compiled in for that target, build dependencies
#      included, with Cargo.lock's checksums) and attaches it to that platform's manifest
#      (oras attach, artifact type application/vnd.cyclonedx+json);
#   3. packages the chart (its default image repository set to REPOSITORY when it differs)
#      and pushes it (helm push);
#   4. signs the image index and each platform manifest (cosign sign --recursive), the chart
#      and each SBOM, offline: no transparency log, no certificate authority; and attests the
#      index's build provenance (SLSA v1 predicate: the commit, Cargo.lock's digest, the
#      toolchain, who ran it), signed the same way (cosign attest);
#   5. verifies each signature and the attestation with the public key, as a user would.
# The tools are pinned and built from the registries (tools/): crane, oras, cosign,
# cargo-cyclonedx, helm.
set -euo pipefail
caller_pwd=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/lib/platforms.sh
source scripts/lib/platforms.sh

log() { echo "release: $*" >&2; }
die() {
  log "$*"
  exit 1
}
usage() { die "usage: scripts/release.sh [--plain-http] [--chart-repo REPO] [--out DIR] REGISTRY/REPOSITORY:VERSION (see --help)"; }

plain_http=0
chart_repo=
out=
ref=
while (($#)); do
  case "$1" in
    --plain-http) plain_http=1 ;;
    --chart-repo)
      [[ $# -ge 2 && -n "$2" ]] || die "--chart-repo needs a repository"
      chart_repo=$2
      shift
      ;;
    --out)
      [[ $# -ge 2 && -n "$2" ]] || die "--out needs a folder"
      out=$(cd "$caller_pwd" && realpath -m -- "$2")
      shift
      ;;
    -h | --help)
      # The comment at the top of this file.
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      [[ -z "$ref" ]] || usage
      ref=$1
      ;;
  esac
  shift
done
[[ -n "$ref" ]] || usage

# --- what is released, checked before anything is built ----------------------------------------
# REGISTRY/PATH:VERSION, where REGISTRY has a dot or a port or is localhost (as Docker reads it).
if [[ ! "$ref" =~ ^(([a-z0-9.-]+\.[a-z0-9.-]+|[a-z0-9.-]+:[0-9]+|localhost)(:[0-9]+)?)/([a-z0-9._/-]+):([0-9A-Za-z.+-]+)$ ]]; then
  die "'$ref' is not REGISTRY/REPOSITORY:VERSION (e.g. ghcr.io/oncall-dev/ssm-contacts-operator:0.1.0)"
fi
registry=${BASH_REMATCH[1]}
repository=${BASH_REMATCH[4]}
version=${BASH_REMATCH[5]}
image_repo="$registry/$repository"
if [[ -z "$chart_repo" ]]; then
  parent=$(dirname "$repository")
  chart_repo="$registry/$([[ "$parent" == . ]] || echo "$parent/")charts"
fi
chart_name=ssm-contacts-operator
chart_ref="$chart_repo/$chart_name"

cargo_version=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c '
import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ssm-contacts-operator"))')
chart_dir=charts/$chart_name
chart_version=$(sed -nE 's/^version: *"?([^"]+)"?$/\1/p' "$chart_dir/Chart.yaml")
app_version=$(sed -nE 's/^appVersion: *"?([^"]+)"?$/\1/p' "$chart_dir/Chart.yaml")
[[ "$version" == "$cargo_version" ]] ||
  die "the tag says $version, Cargo.toml says $cargo_version: bump Cargo.toml (and the chart) first"
[[ "$version" == "$chart_version" && "$version" == "$app_version" ]] ||
  die "the tag says $version, $chart_dir/Chart.yaml has version $chart_version, appVersion $app_version"
[[ -n "${COSIGN_PRIVATE_KEY:-}" ]] ||
  die "COSIGN_PRIVATE_KEY is not set: the release signs with it (cosign generate-key-pair makes one)"
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-}
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  die "the work tree has uncommitted changes: a release is built from a commit"
fi
revision=$(git rev-parse HEAD)

work=$(mktemp -d "${TMPDIR:-/tmp}/release.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- the tools -----------------------------------------------------------------------------------
start=$SECONDS
crane=$(bash tools/crane/build.sh | tail -n 1)
oras=$(bash tools/oras/build.sh | tail -n 1)
cosign=$(bash tools/cosign/build.sh | tail -n 1)
cyclonedx=$(bash tools/cargo-cyclonedx/build.sh | tail -n 1)
helm=${HELM:-$(bash tools/testenv/build.sh | tail -n 1)/helm}
log "tools ready ($((SECONDS - start)) s): $("$cosign" version 2>&1 | sed -nE 's/^GitVersion: *//p') cosign, $("$oras" version | sed -nE 's/^Version: *//p') oras, $("$helm" version --short) helm"

crane_flags=() oras_flags=() helm_flags=() cosign_flags=()
if ((plain_http)); then
  crane_flags=(--insecure)
  oras_flags=(--plain-http)
  helm_flags=(--plain-http)
  cosign_flags=(--allow-http-registry --allow-insecure-registry)
fi
# cosign keeps its TUF cache under $HOME; an offline release never needs one.
export TUF_ROOT="$work/tuf"

# --- 1. the image --------------------------------------------------------------------------------
start=$SECONDS
layout="$work/layout"
bash scripts/build-image.sh --check --out "$layout"
"$crane" push "${crane_flags[@]}" "$layout" "$image_repo:$version" >"$work/pushed" 2>>"$work/crane.log" ||
  die "crane push to $image_repo:$version failed: $(cat "$work/crane.log")"
index_digest=$(sed -nE 's/.*@(sha256:[0-9a-f]{64})$/\1/p' "$work/pushed")
[[ -n "$index_digest" ]] || die "crane push gave no digest: $(cat "$work/pushed" "$work/crane.log")"
log "1/5 image $image_repo:$version @ $index_digest ($((SECONDS - start)) s)"

# --- 2. the SBOMs --------------------------------------------------------------------------------
start=$SECONDS
# cargo-cyclonedx writes next to every Cargo.toml of the workspace: it runs on a copy of the
# committed tree, never in the checkout.
mkdir -p "$work/src"
git archive HEAD | tar -x -C "$work/src"
sbom_digests=()
for arch in "${image_archs[@]}"; do
  target=${rust_target_of[$arch]}
  (cd "$work/src" && "$cyclonedx" cyclonedx --quiet --format json --spec-version 1.5 \
    --describe binaries --target "$target" --target-in-filename)
  mkdir -p "$work/sbom-$arch"
  # The image's two binaries: the operator and the kubectl plugin.
  cp "$work/src/ssm-contacts-operator_bin_$target.cdx.json" \
    "$work/sbom-$arch/ssm-contacts-operator.cdx.json"
  cp "$work/src/plugin/kubectl-ssm_contacts_bin_$target.cdx.json" \
    "$work/sbom-$arch/kubectl-ssm_contacts.cdx.json"
  manifest_digest=$("$crane" digest "${crane_flags[@]}" --platform "linux/$arch" "$image_repo@$index_digest")
  (cd "$work/sbom-$arch" && "$oras" attach "${oras_flags[@]}" --no-tty \
    --artifact-type application/vnd.cyclonedx+json \
    --annotation "org.opencontainers.image.version=$version" \
    --annotation "org.opencontainers.image.revision=$revision" \
    --format go-template='{{.digest}}' \
    "$image_repo@$manifest_digest" \
    ssm-contacts-operator.cdx.json:application/vnd.cyclonedx+json \
    kubectl-ssm_contacts.cdx.json:application/vnd.cyclonedx+json) >"$work/attached-$arch"
  sbom_digest=$(grep -oE 'sha256:[0-9a-f]{64}' "$work/attached-$arch" | tail -n 1)
  [[ -n "$sbom_digest" ]] || die "oras attach gave no digest: $(cat "$work/attached-$arch")"
  sbom_digests+=("$sbom_digest")
  log "2/5 SBOM of linux/$arch ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["components"]))' \
    "$work/sbom-$arch/ssm-contacts-operator.cdx.json") crates in the operator) attached to $manifest_digest as $sbom_digest"
done
log "2/5 SBOMs done ($((SECONDS - start)) s)"

# --- 3. the chart --------------------------------------------------------------------------------
start=$SECONDS
cp -r "$chart_dir" "$work/chart"
default_repo=$(sed -nE 's/^  repository: *"?([^"]+)"?$/\1/p' "$chart_dir/values.yaml" | head -n 1)
if [[ "$default_repo" != "$image_repo" ]]; then
  # The chart a registry serves installs the image that registry serves.
  sed -i -E "0,/^  repository: /s#^  repository: .*#  repository: $image_repo#" "$work/chart/values.yaml"
  grep -q "^  repository: $image_repo\$" "$work/chart/values.yaml" ||
    die "could not point the chart's image.repository at $image_repo"
  log "3/5 the packaged chart's image.repository is $image_repo (the source's: $default_repo)"
fi
mkdir -p "$work/package"
"$helm" package "$work/chart" --destination "$work/package" >/dev/null
package="$work/package/$chart_name-$version.tgz"
[[ -f "$package" ]] || die "helm package wrote no $package"
"$helm" push "${helm_flags[@]}" "$package" "oci://$chart_repo" >"$work/helm-push" 2>&1 ||
  die "helm push failed: $(cat "$work/helm-push")"
chart_digest=$(sed -nE 's/^Digest: *(sha256:[0-9a-f]{64}).*/\1/p' "$work/helm-push")
[[ -n "$chart_digest" ]] || die "helm push gave no digest: $(cat "$work/helm-push")"
log "3/5 chart oci://$chart_ref:$version @ $chart_digest ($((SECONDS - start)) s)"

# --- 4. the signatures -----------------------------------------------------------------------------
start=$SECONDS
# A signing config with no services (no Fulcio certificate, no Rekor entry, no timestamp
# authority) and an empty trusted root: the key alone signs, and cosign asks no TUF
# repository for Sigstore's public keys.
"$cosign" signing-config create --out "$work/signing-config.json"
"$cosign" trusted-root create --out "$work/trusted-root.json"
sign() {
  "$cosign" sign --yes "${cosign_flags[@]}" --key env://COSIGN_PRIVATE_KEY \
    --signing-config "$work/signing-config.json" --trusted-root "$work/trusted-root.json" \
    -a "org.opencontainers.image.version=$version" -a "org.opencontainers.image.revision=$revision" \
    "$@" 2>>"$work/cosign.log" || die "cosign sign $* failed: $(tail -n 20 "$work/cosign.log")"
}
sign --recursive "$image_repo@$index_digest"
sign "$chart_ref@$chart_digest"
for digest in "${sbom_digests[@]}"; do sign "$image_repo@$digest"; done
# Build provenance of the index, in SLSA v1's shape: what was built (the commit; Cargo.lock,
# which pins every crate), with what, by whom. It claims no SLSA level.
source_url=$("$crane" config "${crane_flags[@]}" --platform linux/amd64 "$image_repo@$index_digest" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["Labels"]["org.opencontainers.image.source"])')
python3 - "$work/provenance.json" <<PYTHON
import hashlib, json, os, sys
github = os.environ.get("GITHUB_ACTIONS") == "true"
run = os.environ.get("GITHUB_SERVER_URL", "") + "/" + os.environ.get("GITHUB_REPOSITORY", "")
predicate = {
    "buildDefinition": {
        "buildType": "$source_url/blob/$revision/scripts/release.sh",
        "externalParameters": {"image": "$image_repo:$version", "chart": "oci://$chart_ref:$version"},
        "internalParameters": {
            "rustc": """$(rustc -V)""",
            "cargo": """$(cargo -V)""",
            "go": """$(go version)""",
            "SOURCE_DATE_EPOCH": "${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}",
        },
        "resolvedDependencies": [
            {"uri": "git+$source_url@$revision", "digest": {"gitCommit": "$revision"}},
            {"name": "Cargo.lock",
             "digest": {"sha256": hashlib.sha256(open("Cargo.lock", "rb").read()).hexdigest()}},
        ],
    },
    "runDetails": {
        "builder": {"id": (run + "/.github/workflows/release.yaml") if github else "scripts/release.sh"},
        "metadata": {"invocationId": (run + "/actions/runs/" + os.environ.get("GITHUB_RUN_ID", "")) if github else ""},
    },
}
json.dump(predicate, open(sys.argv[1], "w"), indent=1)
PYTHON
"$cosign" attest --yes "${cosign_flags[@]}" --key env://COSIGN_PRIVATE_KEY \
  --signing-config "$work/signing-config.json" --trusted-root "$work/trusted-root.json" \
  --type slsaprovenance1 --predicate "$work/provenance.json" "$image_repo@$index_digest" \
  2>>"$work/cosign.log" || die "cosign attest failed: $(tail -n 20 "$work/cosign.log")"
log "4/5 signed the image (index and both platforms), the chart and ${#sbom_digests[@]} SBOMs; attested the build provenance ($((SECONDS - start)) s)"

# --- 5. verified as a user would -------------------------------------------------------------------
start=$SECONDS
"$cosign" public-key --key env://COSIGN_PRIVATE_KEY --outfile "$work/cosign.pub" 2>>"$work/cosign.log"
for subject in "$image_repo@$index_digest" "$chart_ref@$chart_digest" "${sbom_digests[@]/#/$image_repo@}"; do
  "$cosign" verify "${cosign_flags[@]}" --key "$work/cosign.pub" --insecure-ignore-tlog=true \
    -a "org.opencontainers.image.revision=$revision" "$subject" >/dev/null 2>>"$work/cosign.log" ||
    die "cosign verify $subject failed: $(tail -n 20 "$work/cosign.log")"
done
"$cosign" verify-attestation "${cosign_flags[@]}" --key "$work/cosign.pub" --insecure-ignore-tlog=true \
  --type slsaprovenance1 "$image_repo@$index_digest" >/dev/null 2>>"$work/cosign.log" ||
  die "cosign verify-attestation failed: $(tail -n 20 "$work/cosign.log")"
log "5/5 every signature and the provenance verify with the public key ($((SECONDS - start)) s)"

summary() {
  cat <<EOF
ssm-contacts-operator $version ($revision)
image  $image_repo:$version
       $image_repo@$index_digest
chart  oci://$chart_ref --version $version
       $chart_ref@$chart_digest
sboms  ${sbom_digests[*]}
verify cosign verify --key cosign.pub --insecure-ignore-tlog=true $image_repo:$version
EOF
}
summary
if [[ -n "$out" ]]; then
  mkdir -p "$out"
  summary >"$out/release.txt"
  cp "$work/cosign.pub" "$out/cosign.pub"
  cp "$work/provenance.json" "$out/provenance.json"
  for arch in "${image_archs[@]}"; do
    for file in "$work/sbom-$arch"/*.cdx.json; do
      cp "$file" "$out/$(basename "$file" .cdx.json)-linux-$arch.cdx.json"
    done
  done
  log "release page files in $out"
fi
