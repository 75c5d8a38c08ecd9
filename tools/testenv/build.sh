#!/usr/bin/env bash
# Builds a local control plane (etcd, kube-apiserver, kubectl, helm) from the Go modules in
# this folder, once per machine, and prints the folder holding the binaries.
#
#   build.sh                 the default Kubernetes minor (below: default_kube)
#   build.sh --kube 1.33     another supported minor; SSMC_KUBE_VERSION=1.33 does the same
#   build.sh --list          the supported minors and their pinned tags, oldest first
#
# kube-apiserver and kubectl of minor 1.Y come from the module in kube-1.Y/ (k8s.io/kubernetes
# at its pinned tag, every staging module replaced by that tag's release; pin-kube.sh writes
# it). etcd (etcd/) and helm (helm/) are the same for every minor: built once into a folder of
# their own and copied into each minor's folder. A minor's folder is keyed on a hash of this
# script, its kube-1.Y module and the etcd and helm modules, so changing a pin rebuilds what
# it pins and an unchanged pin is a no-op.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Kubernetes <= 1.37 must be built by Go 1.26 (Go 1.27 turns on jsonv2 by default and breaks
# the apiserver's OpenAPI document); never let go switch toolchains. Go 1.26 also builds the
# older minors, whose go.mod asks for Go 1.24 or 1.25 (their godebug lines keep the defaults of
# that Go).
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

default_kube=1.37
helm_version=v3.22.0

# "1.Y vX.Y.Z" for every kube-1.Y/ folder, oldest first.
pins() {
  local dir
  for dir in "$here"/kube-1.*/; do
    dir=${dir%/}
    printf '%s %s\n' "${dir##*/kube-}" \
      "$(sed -nE 's#^[[:space:]]*(require )?k8s\.io/kubernetes (v[^ ]+).*#\2#p' "$dir/go.mod")"
  done | sort -V
}

usage() {
  echo "usage: $0 [--kube 1.Y] [--list]   (supported: $(pins | cut -d' ' -f1 | paste -sd' '))" >&2
  exit 2
}

kube=${SSMC_KUBE_VERSION:-$default_kube}
while (($#)); do
  case $1 in
    --kube) (($# >= 2)) || usage; kube=$2; shift 2 ;;
    --kube=*) kube=${1#--kube=}; shift ;;
    --list) pins; exit 0 ;;
    *) usage ;;
  esac
done

# 1.33, v1.33 and the pinned patch (1.33.13) all name the same folder.
if [[ ! "$kube" =~ ^v?1\.([0-9]+)(\.[0-9]+)?$ ]]; then
  echo "build.sh: '$kube' is not a Kubernetes version (1.Y or 1.Y.Z)" >&2
  usage
fi
minor=${BASH_REMATCH[1]}
patch=${BASH_REMATCH[2]}
kube_dir="$here/kube-1.$minor"
if [[ ! -f "$kube_dir/go.mod" ]]; then
  echo "build.sh: Kubernetes 1.$minor is not pinned here" >&2
  usage
fi
kube_version=$(pins | awk -v m="1.$minor" '$1 == m { print $2 }')
if [[ -n "$patch" && "v${kube#v}" != "$kube_version" ]]; then
  echo "build.sh: Kubernetes 1.$minor is pinned at $kube_version, not ${kube}" >&2
  exit 2
fi

tools_inputs=("$here"/etcd/go.mod "$here"/etcd/go.sum "$here"/etcd/main.go "$here"/helm/go.mod "$here"/helm/go.sum)
key=$(cat "$here"/build.sh "$kube_dir"/go.mod "$kube_dir"/go.sum "${tools_inputs[@]}" | sha256sum | cut -c1-16)
tools_key=$(cat "$here"/build.sh "${tools_inputs[@]}" | sha256sum | cut -c1-16)
root=${SSMC_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/testenv}
bin="$root/$key/bin"
tools="$root/etcd-helm-$tools_key/bin"

complete() { [[ -x "$1/kube-apiserver" && -x "$1/kubectl" && -x "$1/etcd" && -x "$1/helm" ]]; }

if complete "$bin"; then
  echo "$bin"
  exit 0
fi

# Two cold builds at once (tests and the demo) must not race on the same folder.
mkdir -p "$root"
exec 9>"$root/$key.lock"
flock 9
if complete "$bin"; then
  echo "$bin"
  exit 0
fi

go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [[ "$go_minor" != 26 ]]; then
  echo "build.sh: Kubernetes ${kube_version} needs Go 1.26, found $(go env GOVERSION)" >&2
  exit 1
fi

log() { echo "testenv: $*" >&2; }

# etcd and helm: one build for every minor, under a lock of its own (taken after the minor's
# lock, always in that order).
exec 8>"$root/etcd-helm-$tools_key.lock"
flock 8
if [[ ! -x "$tools/etcd" || ! -x "$tools/helm" ]]; then
  helm_ldflags="-s -w \
 -X helm.sh/helm/v3/internal/version.version=${helm_version} \
 -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${default_kube#1.} \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${default_kube#1.}"
  mkdir -p "$tools.partial"
  log "building etcd"
  (cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$tools.partial/etcd" .)
  log "building helm ${helm_version}"
  (cd "$here/helm" && go build -trimpath -ldflags "$helm_ldflags" -o "$tools.partial/helm" helm.sh/helm/v3/cmd/helm)
  rm -rf "$tools"
  mv "$tools.partial" "$tools"
fi
exec 8>&-

kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${kube_version} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=${minor} \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"

rm -rf "$bin.partial"
mkdir -p "$bin.partial"
log "building kubectl ${kube_version}"
(cd "$kube_dir" && go build -trimpath -ldflags "$kube_ldflags" -o "$bin.partial/kubectl" k8s.io/kubernetes/cmd/kubectl)
log "building kube-apiserver ${kube_version} (6-10 minutes cold on 2 cores)"
(cd "$kube_dir" && go build -trimpath -ldflags "$kube_ldflags" -o "$bin.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
for tool in etcd helm; do
  ln -f "$tools/$tool" "$bin.partial/$tool" 2>/dev/null || cp -f "$tools/$tool" "$bin.partial/$tool"
done

rm -rf "$bin"
mv "$bin.partial" "$bin"
echo "$bin"
