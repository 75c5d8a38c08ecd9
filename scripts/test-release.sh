#!/usr/bin/env bash
# The release, end to end, against a registry of its own on 127.0.0.1: scripts/release.sh
# publishes image, chart, SBOMs and signatures with a throwaway cosign key; then, as a platform
# team would, this
#   - installs the chart from oci://127.0.0.1:PORT/... into a real kube-apiserver (testenv) and
#     checks the Deployment runs the image the release pushed, and the CRD is served;
#   - verifies the image and the chart with the public key (cosign verify), and sees
#     another key and a tampered (so unsigned) image refused; verifies the signed build
#     provenance names the pushed index, this commit and Cargo.lock;
#   - fetches each platform's SBOM back through the referrers of its manifest, verifies its
#     signature, and checks it lists exactly the crates of Cargo.lock each binary is built
#     from for that target, at Cargo.lock's versions and checksums.
# Needs a clean work tree (release.sh releases commits). CI runs it (.ci/run); see
# docs/release.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "test-release: $*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/test-release.XXXXXX")
testenv_pid=
cleanup() {
  if [[ -n "$testenv_pid" ]]; then
    kill -TERM "$testenv_pid" 2>/dev/null || true
    wait "$testenv_pid" 2>/dev/null || true
  fi
  stop_registries
  rm -rf "$work"
}
trap cleanup EXIT

crane=$(bash tools/crane/build.sh | tail -n 1)
oras=$(bash tools/oras/build.sh | tail -n 1)
cosign=$(bash tools/cosign/build.sh | tail -n 1)
bin=$(bash tools/testenv/build.sh | tail -n 1)
# shellcheck source=scripts/lib/registry.sh
source scripts/lib/registry.sh
# shellcheck source=scripts/lib/platforms.sh
source scripts/lib/platforms.sh
export TUF_ROOT="$work/tuf"

version=$(sed -nE 's/^appVersion: *"?([^"]+)"?$/\1/p' charts/ssm-contacts-operator/Chart.yaml)

# The published names: the chart's default image, and the chart where release.sh puts it for
# that image, are what the README and the GitOps examples install.
default_image=$(sed -nE 's/^  repository: *"?([^"]+)"?$/\1/p' charts/ssm-contacts-operator/values.yaml | head -n 1)
published_chart="$(dirname "$default_image")/charts/ssm-contacts-operator"
grep -q "url: oci://$published_chart\$" examples/flux/helmrelease.yaml ||
  die "examples/flux/helmrelease.yaml does not install oci://$published_chart"
grep -q "repoURL: $(dirname "$published_chart")\$" examples/argocd/application.yaml ||
  die "examples/argocd/application.yaml does not install from $(dirname "$published_chart")"
grep -q "helm install ssm-contacts-operator oci://$published_chart " README.md ||
  die "the README does not install oci://$published_chart"

start_registry
image_repo="$registry/oncall-dev/ssm-contacts-operator"
chart_ref="$registry/oncall-dev/charts/ssm-contacts-operator"

# --- the release, with a key made for this run ------------------------------------------------------
export COSIGN_PASSWORD
COSIGN_PASSWORD=$(head -c 18 /dev/urandom | base64)
(cd "$work" && "$cosign" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"
start=$SECONDS
COSIGN_PRIVATE_KEY=$(cat "$work/cosign.key") HELM="$bin/helm" \
  bash scripts/release.sh --plain-http "$image_repo:$version" | tee "$work/release.out"
log "release.sh: $((SECONDS - start)) s"

# Everything below asks the registry, not release.sh's own report.
index_digest=$("$crane" digest --insecure "$image_repo:$version")
chart_digest=$("$crane" digest --insecure "$chart_ref:$version")

# --- signatures ----------------------------------------------------------------------------------
verify() {
  local key=$1
  shift
  "$cosign" verify --allow-http-registry --allow-insecure-registry --insecure-ignore-tlog=true \
    --key "$key" "$@" >"$work/verify.out" 2>"$work/verify.err"
}
verify "$work/cosign.pub" "$image_repo:$version" ||
  die "cosign verify of the image failed: $(cat "$work/verify.err")"
python3 - "$work/verify.out" "$index_digest" <<'EOF' || die "the image's signature payload does not name the pushed digest"
import json, sys
payloads = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for p in (x for item in payloads for x in (item if isinstance(item, list) else [item])):
    assert p["critical"]["image"]["docker-manifest-digest"] == sys.argv[2], p
EOF
for arch in "${image_archs[@]}"; do
  digest=$("$crane" digest --insecure --platform "linux/$arch" "$image_repo:$version")
  verify "$work/cosign.pub" "$image_repo@$digest" ||
    die "cosign verify of the linux/$arch manifest failed: $(cat "$work/verify.err")"
done
verify "$work/cosign.pub" "$chart_ref:$version" ||
  die "cosign verify of the chart failed: $(cat "$work/verify.err")"
log "image (index, linux/amd64, linux/arm64) and chart verify with the release's public key"

# The build provenance: signed, about the pushed index, naming this commit and Cargo.lock.
"$cosign" verify-attestation --allow-http-registry --allow-insecure-registry --insecure-ignore-tlog=true \
  --key "$work/cosign.pub" --type slsaprovenance1 "$image_repo:$version" >"$work/attestation.json" 2>"$work/verify.err" ||
  die "cosign verify-attestation failed: $(cat "$work/verify.err")"
python3 - "$work/attestation.json" "$index_digest" "$(git rev-parse HEAD)" <<'EOF' || die "the provenance does not describe this build"
import base64, hashlib, json, sys
path, index_digest, commit = sys.argv[1:]
envelopes = [json.loads(line) for line in open(path) if line.strip()]
assert len(envelopes) == 1, f"{len(envelopes)} attestations"
statement = json.loads(base64.b64decode(envelopes[0]["payload"]))
assert statement["predicateType"] == "https://slsa.dev/provenance/v1", statement["predicateType"]
assert [s["digest"]["sha256"] for s in statement["subject"]] == [index_digest.removeprefix("sha256:")], statement["subject"]
deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
assert any(d.get("digest", {}).get("gitCommit") == commit for d in deps), deps
lock = hashlib.sha256(open("Cargo.lock", "rb").read()).hexdigest()
assert any(d.get("name") == "Cargo.lock" and d["digest"]["sha256"] == lock for d in deps), deps
EOF
log "the build provenance is signed, names the pushed index, this commit and Cargo.lock"

# What must not verify: another key, and an image the release did not sign.
(mkdir -p "$work/other" && cd "$work/other" && COSIGN_PASSWORD= "$cosign" generate-key-pair >/dev/null 2>&1)
if verify "$work/other/cosign.pub" "$image_repo:$version"; then die "the image verified with another key"; fi
if verify "$work/other/cosign.pub" "$chart_ref:$version"; then die "the chart verified with another key"; fi
if "$cosign" verify-attestation --allow-http-registry --allow-insecure-registry --insecure-ignore-tlog=true \
  --key "$work/other/cosign.pub" --type slsaprovenance1 "$image_repo:$version" >/dev/null 2>&1; then
  die "the provenance verified with another key"
fi
"$crane" mutate --insecure "$image_repo@$(
  "$crane" digest --insecure --platform linux/amd64 "$image_repo:$version"
)" --label tampered=yes --tag "$image_repo:tampered" >/dev/null 2>>"$work/crane.log"
if verify "$work/cosign.pub" "$image_repo:tampered"; then die "a tampered image verified"; fi
log "another key, and a tampered image, are refused"

# --- the SBOMs, fetched back ---------------------------------------------------------------------
for arch in "${image_archs[@]}"; do
  target=${rust_target_of[$arch]}
  manifest=$("$crane" digest --insecure --platform "linux/$arch" "$image_repo:$version")
  "$oras" discover --plain-http --format json --artifact-type application/vnd.cyclonedx+json \
    "$image_repo@$manifest" >"$work/discover-$arch.json" ||
    die "oras discover on the linux/$arch manifest failed"
  sbom=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
refs = d.get("referrers") or d.get("manifests") or []
digests = [r["digest"] for r in refs if r.get("artifactType") == "application/vnd.cyclonedx+json"]
assert len(digests) == 1, f"expected one SBOM referrer, found {digests}"
print(digests[0])' "$work/discover-$arch.json") || die "linux/$arch: $(cat "$work/discover-$arch.json")"
  verify "$work/cosign.pub" "$image_repo@$sbom" ||
    die "cosign verify of the linux/$arch SBOM failed: $(cat "$work/verify.err")"
  mkdir -p "$work/sbom-$arch"
  "$oras" pull --plain-http --no-tty -o "$work/sbom-$arch" "$image_repo@$sbom" >/dev/null ||
    die "oras pull of the linux/$arch SBOM failed"
  cargo metadata --format-version 1 --locked --filter-platform "$target" >"$work/metadata-$arch.json"
  python3 - "$work/metadata-$arch.json" Cargo.lock "$work/sbom-$arch" <<'EOF' || die "linux/$arch: the SBOM does not match Cargo.lock"
import json, os, sys, tomllib
metadata = json.load(open(sys.argv[1]))
lock = tomllib.load(open(sys.argv[2], "rb"))
checksums = {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}
nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
packages = {p["id"]: p for p in metadata["packages"]}

def compiled_in(root_name):
    """Every package the binary is built from: normal and build edges, not dev."""
    root = next(i for i, p in packages.items() if p["name"] == root_name and p["source"] is None)
    seen, todo = set(), [root]
    while todo:
        node = nodes[todo.pop()]
        for dep in node["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return {(packages[i]["name"], packages[i]["version"]) for i in seen}

for package, filename in [("ssm-contacts-operator", "ssm-contacts-operator.cdx.json"),
                          ("kubectl-ssm-contacts", "kubectl-ssm_contacts.cdx.json")]:
    bom = json.load(open(os.path.join(sys.argv[3], filename)))
    assert bom["bomFormat"] == "CycloneDX", bom.get("bomFormat")
    listed = {(c["name"], c["version"]) for c in bom["components"]}
    want = compiled_in(package)
    missing, extra = want - listed, listed - want
    assert not missing, f"{filename}: crates built in but not listed: {sorted(missing)[:10]}"
    assert not extra, f"{filename}: listed but not built in: {sorted(extra)[:10]}"
    for c in bom["components"]:
        key = (c["name"], c["version"])
        assert key in checksums, f"{filename}: {key} is not in Cargo.lock"
        sha = [h["content"] for h in c.get("hashes", []) if h["alg"] == "SHA-256"]
        if checksums[key]:
            assert sha == [checksums[key]], f"{filename}: {key} hash {sha}, Cargo.lock {checksums[key]}"
    print(f"{filename}: {len(listed)} crates, each in Cargo.lock with its checksum")
EOF
done
log "the SBOM of each platform lists exactly the crates its binaries are built from"

# --- installed from the registry into a real API server --------------------------------------------
# shellcheck source=scripts/lib/cargo-bins.sh
source scripts/lib/cargo-bins.sh
cargo_build_bins debug
"$cargo_bin/testenv" up --kubeconfig "$work/kubeconfig" --state-dir "$work/testenv" \
  >"$work/testenv.log" 2>&1 &
testenv_pid=$!
for _ in $(seq 1 600); do [[ -s "$work/kubeconfig" ]] && break; sleep 0.2; done
[[ -s "$work/kubeconfig" ]] || die "the control plane did not start: $(tail -n 20 "$work/testenv.log")"
export KUBECONFIG="$work/kubeconfig"
"$bin/helm" install ssm-contacts-operator "oci://$chart_ref" --version "$version" --plain-http \
  --namespace ssm-contacts-operator --create-namespace >"$work/install.out" 2>&1 ||
  die "helm install from oci://$chart_ref failed: $(cat "$work/install.out")"
pulled=$(grep -oE 'sha256:[0-9a-f]{64}' "$work/install.out" | head -n 1)
[[ "$pulled" == "$chart_digest" ]] || die "helm installed chart digest '$pulled', the signed one is $chart_digest"
image=$("$bin/kubectl" -n ssm-contacts-operator get deployment ssm-contacts-operator \
  -o jsonpath='{.spec.template.spec.containers[0].image}')
[[ "$image" == "$image_repo:$version" ]] || die "the Deployment runs '$image', the release pushed $image_repo:$version"
"$bin/kubectl" wait --for=condition=Established --timeout=60s \
  crd/contactchannelactivations.ssmcontacts.oncall.dev >/dev/null
log "helm install from oci://$chart_ref $version: chart $chart_digest, Deployment image $image, CRD established"
log "PASS"
