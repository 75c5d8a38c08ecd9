#!/usr/bin/env bash
# Writes the Go module that builds kube-apiserver and kubectl of one Kubernetes release:
# tools/testenv/kube-1.Y/go.mod and go.sum for k8s.io/kubernetes v1.Y.Z.
#
#   tools/testenv/pin-kube.sh v1.33.6
#
# The module copies what the tag's own go.mod says: its `go` and `godebug` lines and its list of
# staging modules, each replaced by the k8s.io/X v0.Y.Z release of that tag (the list changes
# between releases, so it is never copied from another version). go.sum comes from
# `go mod tidy` with GOTOOLCHAIN=local. Re-pinning a minor to a new patch rewrites its folder;
# build.sh then builds it into a new cache folder (the key is a hash of these files).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${1:-}
if [[ ! "$version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "usage: $0 v1.Y.Z   (a k8s.io/kubernetes tag served by the Go module proxy)" >&2
  exit 2
fi
minor=${BASH_REMATCH[1]}
patch=${BASH_REMATCH[2]}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

modfile=$(cd "$here" && go mod download -json "k8s.io/kubernetes@$version" |
  sed -nE 's/^[[:space:]]*"GoMod": "(.*)",?$/\1/p')
if [[ ! -f "$modfile" ]]; then
  echo "pin-kube.sh: could not download k8s.io/kubernetes@$version" >&2
  exit 1
fi
go_line=$(sed -nE 's/^go ([0-9.]+)$/\1/p' "$modfile")
godebug=$(grep -E '^godebug ' "$modfile" || true)
staging=$(sed -n '/^replace (/,/^)/p' "$modfile" | awk '$2 == "=>" { print $1 }' | sort)
if [[ -z "$go_line" || -z "$staging" ]]; then
  echo "pin-kube.sh: $modfile has no go line or no replace block" >&2
  exit 1
fi

dir="$here/kube-1.$minor"
mkdir -p "$dir"
{
  echo "module ssm-contacts-operator/tools/testenv/kube-1.$minor"
  echo
  echo "go $go_line"
  if [[ -n "$godebug" ]]; then
    echo
    echo "$godebug"
  fi
  echo
  echo "tool ("
  printf '\tk8s.io/kubernetes/cmd/kube-apiserver\n'
  printf '\tk8s.io/kubernetes/cmd/kubectl\n'
  echo ")"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "// k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with"
  echo "// ./staging paths; a consumer must pin each to the tag matching the release."
  echo "replace ("
  for module in $staging; do
    printf '\t%s => %s v0.%s.%s\n' "$module" "$module" "$minor" "$patch"
  done
  echo ")"
} >"$dir/go.mod"
rm -f "$dir/go.sum"
(cd "$dir" && go mod tidy)
echo "pinned k8s.io/kubernetes $version in $dir (go $go_line${godebug:+, $godebug})" >&2
