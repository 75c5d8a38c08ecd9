#!/usr/bin/env bash
# Lints and renders charts/ssm-contacts-operator with its default values and with
# ci/nondefault-values.yaml, and checks what the renders contain: the RBAC shape (ClusterRole
# when watching the cluster, one Role per watched namespace otherwise, the same least
# privilege rules either way), the Pod Security "restricted" fields of the Deployment, the
# operator's environment, and that the values schema refuses bad values. No cluster needed:
# objects are queried with `kubectl annotate --local -o jsonpath`, which never calls a server.
# Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart="$root/charts/ssm-contacts-operator"
nondefault="$chart/ci/nondefault-values.yaml"
bin=$(bash "$root/tools/testenv/build.sh" | tail -n 1)
helm="$bin/helm"
kubectl="$bin/kubectl"
export KUBECONFIG=/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }
# expect DESCRIPTION ACTUAL WANTED
expect() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
# query FILE JSONPATH: the JSONPATH of every object in FILE, one line per object.
query() { "$kubectl" annotate --local -f "$1" lint=1 -o "jsonpath=$2{\"\\n\"}"; }
render() { "$helm" template ssm-contacts-operator "$chart" --namespace ssm-contacts-operator "$@"; }
# show TEMPLATE [ARGS]: one template rendered alone.
show() { local template=$1; shift; render --show-only "templates/$template" "$@"; }

echo "== helm lint --strict"
if "$helm" lint --strict "$chart" >"$tmp/lint.log" 2>&1; then pass "lint (default values)"; else cat "$tmp/lint.log"; fail "lint (default values)"; fi
if "$helm" lint --strict "$chart" -f "$nondefault" >"$tmp/lint.log" 2>&1; then pass "lint (ci/nondefault-values.yaml)"; else cat "$tmp/lint.log"; fail "lint (ci/nondefault-values.yaml)"; fi

echo "== render"
render >"$tmp/default.yaml" || { fail "helm template (default values)"; exit 1; }
render -f "$nondefault" >"$tmp/nondefault.yaml" || { fail "helm template (nondefault)"; exit 1; }
render --include-crds >"$tmp/crds.yaml" || fail "helm template --include-crds"
pass "helm template with both value files"

kinds() { query "$1" '{.kind} {.metadata.namespace} {.metadata.name}' | sort; }
kinds "$tmp/default.yaml" >"$tmp/default.kinds"
kinds "$tmp/nondefault.yaml" >"$tmp/nondefault.kinds"
expect "default render: objects" "$(cut -d' ' -f1 "$tmp/default.kinds" | sort | tr '\n' ' ')" \
  "ClusterRole ClusterRoleBinding Deployment Role RoleBinding Service ServiceAccount "
expect "nondefault render: objects" "$(cut -d' ' -f1 "$tmp/nondefault.kinds" | sort | tr '\n' ' ')" \
  "Deployment NetworkPolicy PodDisruptionBudget Role Role Role RoleBinding RoleBinding RoleBinding Service ServiceAccount ServiceMonitor "
expect "--include-crds adds the CRD" "$(grep -c '^kind: CustomResourceDefinition$' "$tmp/crds.yaml")" 1

echo "== RBAC"
# {.rules} prints the rules as compact JSON (keys sorted), and nothing for a binding.
rules='{.rules}'
want_rules='[{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations"],"verbs":["get","list","watch"]},{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations/status"],"verbs":["update","patch"]},{"apiGroups":["events.k8s.io"],"resources":["events"],"verbs":["create","patch"]}]'
want_lease='[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},{"apiGroups":["coordination.k8s.io"],"resourceNames":["ssm-contacts-operator"],"resources":["leases"],"verbs":["get","patch"]}]'
show rbac.yaml >"$tmp/rbac-default.yaml"
expect "ClusterRole grants exactly the operator's calls" \
  "$(query "$tmp/rbac-default.yaml" "{.kind}:$rules" | grep '^ClusterRole:')" "ClusterRole:$want_rules"
expect "ClusterRoleBinding binds the ServiceAccount" \
  "$(query "$tmp/rbac-default.yaml" '{.kind}:{.subjects[*].kind}/{.subjects[*].namespace}/{.subjects[*].name}' | grep '^ClusterRoleBinding:')" \
  "ClusterRoleBinding:ServiceAccount/ssm-contacts-operator/ssm-contacts-operator"
show leader-election-rbac.yaml >"$tmp/lease.yaml"
expect "leader Role: create leases, get/patch only the named Lease" \
  "$(query "$tmp/lease.yaml" "{.kind}:$rules" | grep '^Role:')" "Role:$want_lease"

show rbac.yaml -f "$nondefault" >"$tmp/rbac-ns.yaml"
expect "watchNamespaces: no ClusterRole for the CRD rules" "$(grep -c '^kind: ClusterRole' "$tmp/rbac-ns.yaml" || true)" 0
expect "watchNamespaces: one Role per watched namespace" \
  "$(query "$tmp/rbac-ns.yaml" '{.kind}/{.metadata.namespace}' | grep '^Role/' | sort | tr '\n' ' ')" \
  "Role/team-payments Role/team-search "
expect "watchNamespaces: one RoleBinding per watched namespace, to the ServiceAccount" \
  "$(query "$tmp/rbac-ns.yaml" '{.kind}/{.metadata.namespace}:{.subjects[0].namespace}/{.subjects[0].name}' | grep '^RoleBinding/' | sort | tr '\n' ' ')" \
  "RoleBinding/team-payments:ssm-contacts-operator/ssm-contacts RoleBinding/team-search:ssm-contacts-operator/ssm-contacts "
expect "watchNamespaces: the Roles grant what the ClusterRole grants" \
  "$(query "$tmp/rbac-ns.yaml" "{.kind}:$rules" | grep '^Role:' | sort -u)" "Role:$want_rules"
show leader-election-rbac.yaml -f "$nondefault" >"$tmp/lease-ns.yaml"
expect "leader Role follows leaderElection.leaseName" \
  "$(query "$tmp/lease-ns.yaml" "{.kind}:$rules" | grep '^Role:')" "Role:${want_lease//\"ssm-contacts-operator\"/\"ssm-contacts-operator-leader\"}"
if grep -Eq '"\*"|- \*$|\[\*\]' "$tmp/default.yaml" "$tmp/nondefault.yaml"; then fail "no wildcard in any rule"; else pass "no wildcard in any rule"; fi
expect "leaderElection.enabled=false: no lease Role" \
  "$(render --set leaderElection.enabled=false | grep -c 'leader-election' || true)" 0

echo "== Deployment: Pod Security restricted"
for values in default nondefault; do
  args=()
  [[ $values == nondefault ]] && args=(-f "$nondefault")
  show deployment.yaml "${args[@]}" >"$tmp/deploy-$values.yaml"
  pod='.spec.template.spec'
  container="$pod.containers[0]"
  got=$(query "$tmp/deploy-$values.yaml" "\
{$pod.securityContext.runAsNonRoot} \
{$pod.securityContext.runAsUser} \
{$pod.securityContext.seccompProfile.type} \
{$container.securityContext.allowPrivilegeEscalation} \
{$container.securityContext.readOnlyRootFilesystem} \
{$container.securityContext.capabilities.drop} \
{$container.securityContext.capabilities.add}\
{$container.securityContext.privileged}\
{$pod.hostNetwork}{$pod.hostPID}{$pod.hostIPC}{$pod.volumes}{$container.ports[*].hostPort}")
  expect "$values: runAsNonRoot, UID 65532, RuntimeDefault seccomp, no escalation, read-only root, drop ALL, nothing host" \
    "$got" 'true 65532 RuntimeDefault false true ["ALL"] '
  got=$(query "$tmp/deploy-$values.yaml" "\
{$container.livenessProbe.httpGet.path} {$container.readinessProbe.httpGet.path} \
{$container.ports[0].containerPort} {$pod.terminationGracePeriodSeconds}")
  expect "$values: /livez and /readyz on 8080, 70 s grace (above the 55 s drain)" "$got" "/livez /readyz 8080 70"
done

echo "== Deployment: operator environment"
env_of() { query "$1" '{range .spec.template.spec.containers[0].env[*]}{.name}={.value}{.valueFrom.fieldRef.fieldPath} {end}'; }
default_env=$(env_of "$tmp/deploy-default.yaml")
nondefault_env=$(env_of "$tmp/deploy-nondefault.yaml")
has() { # has DESCRIPTION ENV ENTRY
  if [[ " $2 " == *" $3 "* ]]; then pass "$1"; else fail "$1: '$3' not in: $2"; fi
}
has_not() { # has_not DESCRIPTION ENV PREFIX
  if [[ " $2 " == *" $3"* ]]; then fail "$1: '$3' in: $2"; else pass "$1"; fi
}
has_not "default: SSMC_WATCH_NAMESPACES unset (whole cluster)" "$default_env" "SSMC_WATCH_NAMESPACES="
has_not "default: AWS_ENDPOINT_URL_SSM_CONTACTS unset" "$default_env" "AWS_ENDPOINT_URL_SSM_CONTACTS="
has_not "default: AWS_EC2_METADATA_DISABLED left to extraEnv" "$default_env" "AWS_EC2_METADATA_DISABLED="
has "default: leader election on" "$default_env" "SSMC_LEADER_ELECTION=true"
has "default: POD_NAMESPACE from the downward API" "$default_env" "POD_NAMESPACE=metadata.namespace"
has "default: POD_NAME from the downward API" "$default_env" "POD_NAME=metadata.name"
has "default: admin address" "$default_env" "SSMC_ADMIN_ADDR=0.0.0.0:8080"
has "default: RUST_LOG" "$default_env" "RUST_LOG=info"
has "nondefault: watched namespaces" "$nondefault_env" "SSMC_WATCH_NAMESPACES=team-payments,team-search"
has "nondefault: lease name" "$nondefault_env" "SSMC_LEASE_NAME=ssm-contacts-operator-leader"
has "nondefault: lease duration" "$nondefault_env" "SSMC_LEASE_DURATION_SECONDS=20"
has "nondefault: json logs" "$nondefault_env" "SSMC_LOG_FORMAT=json"
has "nondefault: hold on unknown outcome" "$nondefault_env" "SSMC_ON_UNKNOWN_OUTCOME=hold"
has "nondefault: send rate" "$nondefault_env" "SSMC_SEND_RATE=2.5"
has "nondefault: AWS_REGION" "$nondefault_env" "AWS_REGION=eu-west-1"
has "nondefault: extraEnv endpoint" "$nondefault_env" "AWS_ENDPOINT_URL_SSM_CONTACTS=http://ssm-contacts-emulator.ssm-contacts-emulator.svc:4566"
expect "nondefault: 2 replicas" "$(query "$tmp/deploy-nondefault.yaml" '{.spec.replicas}')" 2
expect "nondefault: IRSA annotation" \
  "$(show serviceaccount.yaml -f "$nondefault" | query - '{.metadata.annotations.eks\.amazonaws\.com/role-arn}')" \
  "arn:aws:iam::111122223333:role/ssm-contacts-operator"
expect "metrics Service port" \
  "$(show service.yaml | query - '{.spec.ports[0].name}:{.spec.ports[0].port}->{.spec.ports[0].targetPort}')" "metrics:8080->admin"

echo "== values the chart must refuse"
refuse() { # refuse DESCRIPTION HELM-ARGS...
  local description=$1; shift
  if render "$@" >/dev/null 2>"$tmp/refused.log"; then fail "refuses $description"; else pass "refuses $description ($(grep -m1 -oE "(at '[^']*'|execution error).*" "$tmp/refused.log" | cut -c1-80))"; fi
}
refuse "an unknown top-level key" --set bogus=1
refuse "an unknown onUnknownOutcome" --set onUnknownOutcome=maybe
refuse "an unknown logFormat" --set logFormat=xml
refuse "a malformed duration" --set pacing.backoffBase=soon
refuse "concurrency 0" --set concurrency=0
refuse "a namespace listed twice" --set 'watchNamespaces={a,a}'
refuse "a lease grace not below the lease duration" --set leaderElection.leaseGraceSeconds=15
refuse "two replicas without leader election" --set replicaCount=2 --set leaderElection.enabled=false
refuse "serviceAccount.create=false without a name" --set serviceAccount.create=false

echo
if [[ $failures -gt 0 ]]; then
  echo "lint-chart: $failures check(s) failed" >&2
  exit 1
fi
echo "lint-chart: all checks passed"
