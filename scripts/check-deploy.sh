#!/usr/bin/env bash
# Fails, with a diff, when deploy/ or the chart's CRD copy is out of sync with its source:
#   charts/ssm-contacts-operator/files/crds/contactchannelactivations.yaml == crds/contactchannelactivations.yaml
#   deploy/ssm-contacts-operator.yaml == a fresh scripts/render-deploy.sh
# and checks that `kubectl kustomize deploy/` renders. Fix drift with scripts/render-deploy.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(bash "$root/tools/testenv/build.sh" | tail -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

if ! diff -u "$root/crds/contactchannelactivations.yaml" \
  "$root/charts/ssm-contacts-operator/files/crds/contactchannelactivations.yaml" >"$tmp/crd.diff"; then
  cat "$tmp/crd.diff"
  echo "check-deploy: the chart's CRD differs from crds/; run scripts/render-deploy.sh" >&2
  status=1
fi

bash "$root/scripts/render-deploy.sh" "$tmp/ssm-contacts-operator.yaml"
if ! diff -u "$root/deploy/ssm-contacts-operator.yaml" "$tmp/ssm-contacts-operator.yaml" >"$tmp/deploy.diff"; then
  cat "$tmp/deploy.diff"
  echo "check-deploy: deploy/ssm-contacts-operator.yaml is stale; run scripts/render-deploy.sh" >&2
  status=1
fi

if ! "$bin/kubectl" kustomize "$root/deploy" >"$tmp/kustomized.yaml"; then
  echo "check-deploy: kubectl kustomize deploy/ failed" >&2
  exit 1
fi
if grep -qx "kind: CustomResourceDefinition" "$tmp/kustomized.yaml"; then
  echo "check-deploy: deploy/ must not hold the CRD (kubectl delete -k deploy/ would delete every object)" >&2
  status=1
fi
for kind in Namespace ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding Service Deployment \
  ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding; do
  if ! grep -qx "kind: $kind" "$tmp/kustomized.yaml"; then
    echo "check-deploy: kubectl kustomize deploy/ has no $kind" >&2
    status=1
  fi
done

if [[ $status -eq 0 ]]; then
  echo "check-deploy: deploy/ and the chart's CRD are in sync; kustomize renders $(grep -cx -- '---' "$tmp/kustomized.yaml" | awk '{print $1 + 1}') objects"
fi
exit $status
