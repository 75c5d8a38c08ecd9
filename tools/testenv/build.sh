#!/usr/bin/env bash
# Builds the pinned local control plane (etcd, kube-apiserver, kubectl, helm)
# from the Go modules in this folder, once per machine, and prints the folder
# holding the binaries. The cache key is a hash of every go.mod/go.sum here, so
# changing a pin rebuilds and an unchanged pin is a no-op.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Kubernetes 1.37 must be built by Go 1.26 (Go 1.27 turns on jsonv2 by default
# and breaks the apiserver's OpenAPI document); never let go switch toolchains.
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

kube_version=v1.37.2
helm_version=v3.22.0

key=$(cat "$here"/build.sh "$here"/*/go.mod "$here"/*/go.sum "$here"/etcd/main.go | sha256sum | cut -c1-16)
root=${SSMC_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ssm-contacts-operator/testenv}
bin="$root/$key/bin"

if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" && -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi

# Two cold builds at once (tests and the demo) must not race on the same folder.
mkdir -p "$root"
exec 9>"$root/$key.lock"
flock 9
if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" && -x "$bin/helm" ]]; then
  echo "$bin"
  exit 0
fi

go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [[ "$go_minor" != 26 ]]; then
  echo "build.sh: Kubernetes ${kube_version} needs Go 1.26, found $(go env GOVERSION)" >&2
  exit 1
fi

mkdir -p "$bin.partial"
log() { echo "testenv: $*" >&2; }

kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${kube_version} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=37 \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
helm_ldflags="-s -w \
 -X helm.sh/helm/v3/internal/version.version=${helm_version} \
 -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"

log "building etcd"
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$bin.partial/etcd" .)
log "building helm ${helm_version}"
(cd "$here/helm" && go build -trimpath -ldflags "$helm_ldflags" -o "$bin.partial/helm" helm.sh/helm/v3/cmd/helm)
log "building kubectl ${kube_version}"
(cd "$here/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$bin.partial/kubectl" k8s.io/kubernetes/cmd/kubectl)
log "building kube-apiserver ${kube_version} (6-10 minutes cold on 2 cores)"
(cd "$here/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$bin.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)

rm -rf "$bin"
mv "$bin.partial" "$bin"
echo "$bin"
