#!/usr/bin/env bash
# Lints and renders charts/ssm-contacts-operator with its default values and with
# ci/nondefault-values.yaml, and checks what the renders contain: the RBAC shape (ClusterRole
# when watching the cluster, one Role per watched namespace otherwise, the same least
# privilege rules either way), the Pod Security "restricted" fields of the Deployment, the
# operator's environment, the image reference (tag or digest), the metrics and health ports
# (metrics.port, health.port, service.port) wherever they appear, probes, extra volumes and
# topology spread, the NetworkPolicy rules, the ClusterRoles aggregated into view/edit/admin,
# the ValidatingAdmissionPolicy of the tenancy guards and its binding, the Secret permissions
# that activation.secrets.enabled turns on and off,
# the `helm test` hook (the operator's own image, no token and no RBAC, its Pod Security
# fields, what it checks), that no render holds an image other than the operator's, Chart.yaml
# (kubeVersion, home, sources, Artifact Hub annotations against the CRD), the templated CRD
# (crds.enabled, crds.keep) and its byte-identical copy of crds/, the Deployment and pod knobs
# (commonLabels, deploymentAnnotations, strategy, revisionHistoryLimit, extraArgs, hostUsers,
# automountServiceAccountToken), AWS credentials from a Secret, extraObjects, the monitoring
# objects (ServiceMonitor relabelings, the PrometheusRule and Grafana dashboard ConfigMap built
# from byte-identical copies of examples/monitoring/), the NOTES.txt warnings, that every value is
# in values.schema.json and that the schema refuses bad values, and that the chart's README is
# what helm-docs renders (scripts/chart-docs.sh --check). Every check looks at a render with
# the values that must change its outcome. No cluster needed: objects are queried with
# `kubectl annotate --local -o jsonpath`, which never calls a server.
# Exits non-zero on any failure.
#
# SSMC_LINT_CHART=DIR lints a copy of the chart instead (to see a check fail on a broken copy).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart=${SSMC_LINT_CHART:-$root/charts/ssm-contacts-operator}
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
# restricted_volumes DESCRIPTION FILE PATH: the volumes at PATH use only the types the Pod
# Security "restricted" profile allows.
restricted_volumes() {
  local bad
  bad=$(gquery "$2" "{{range $3}}{{range \$k, \$v := .}}{{\$k}} {{end}}{{end}}" | tr ' ' '\n' |
    grep -vxE 'name|configMap|csi|downwardAPI|emptyDir|ephemeral|persistentVolumeClaim|projected|secret|' || true)
  expect "$1: only volume types the restricted profile allows" "$bad" ""
}
# restricted_pod NAME DESCRIPTION FILE POD [FIELDS WANT]: the pod spec at jsonpath POD in FILE
# and its first container meet the Pod Security "restricted" profile (non-root, RuntimeDefault
# seccomp, no privilege escalation, read-only root, drop ALL and add nothing, not privileged,
# nothing of the host), and FIELDS, a jsonpath printed after those, prints WANT (DESCRIPTION);
# its volumes are of the types the profile allows (NAME).
restricted_pod() {
  local pod=$4 container="$4.containers[0]"
  expect "$2" "$(query "$3" "\
{$pod.securityContext.runAsNonRoot} \
{$pod.securityContext.seccompProfile.type} \
{$container.securityContext.allowPrivilegeEscalation} \
{$container.securityContext.readOnlyRootFilesystem} \
{$container.securityContext.capabilities.drop} \
{$container.securityContext.capabilities.add}\
{$container.securityContext.privileged}\
{$pod.hostNetwork}{$pod.hostPID}{$pod.hostIPC}{$container.ports[*].hostPort}${5:-}")" \
    "true RuntimeDefault false true [\"ALL\"] ${6:-}"
  restricted_volumes "$1" "$3" "$pod.volumes"
}
# query FILE JSONPATH: the JSONPATH of every object in FILE, one line per object.
query() { "$kubectl" annotate --local -f "$1" lint=1 -o "jsonpath=$2{\"\\n\"}"; }
# gquery FILE GO-TEMPLATE: the same with a Go template (for map keys, which jsonpath cannot list).
gquery() { "$kubectl" annotate --local -f "$1" lint=1 -o "go-template=$2{{\"\\n\"}}"; }
render() { "$helm" template ssm-contacts-operator "$chart" --namespace ssm-contacts-operator "$@"; }
# show TEMPLATE [ARGS]: one template rendered alone.
show() { local template=$1; shift; render --show-only "templates/$template" "$@"; }

echo "== helm lint --strict"
if "$helm" lint --strict "$chart" >"$tmp/lint.log" 2>&1; then pass "lint (default values)"; else cat "$tmp/lint.log"; fail "lint (default values)"; fi
if "$helm" lint --strict "$chart" -f "$nondefault" >"$tmp/lint.log" 2>&1; then pass "lint (ci/nondefault-values.yaml)"; else cat "$tmp/lint.log"; fail "lint (ci/nondefault-values.yaml)"; fi

echo "== render"
# --skip-tests: the objects of an install; the test hook has a section of its own below.
render --skip-tests >"$tmp/default.yaml" || { fail "helm template (default values)"; exit 1; }
render --skip-tests -f "$nondefault" >"$tmp/nondefault.yaml" || { fail "helm template (nondefault)"; exit 1; }
pass "helm template with both value files"

kinds() { query "$1" '{.kind} {.metadata.namespace} {.metadata.name}' | sort; }
kinds "$tmp/default.yaml" >"$tmp/default.kinds"
kinds "$tmp/nondefault.yaml" >"$tmp/nondefault.kinds"
expect "default render: objects" "$(cut -d' ' -f1 "$tmp/default.kinds" | sort | tr '\n' ' ')" \
  "ClusterRole ClusterRole ClusterRole ClusterRoleBinding CustomResourceDefinition Deployment Role Role RoleBinding RoleBinding Service ServiceAccount ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding "
expect "nondefault render: objects" "$(cut -d' ' -f1 "$tmp/nondefault.kinds" | sort | tr '\n' ' ')" \
  "ClusterRole ClusterRole ClusterRole ClusterRoleBinding CustomResourceDefinition Deployment NetworkPolicy PodDisruptionBudget Role Role Role Role RoleBinding RoleBinding RoleBinding RoleBinding Service ServiceAccount ServiceMonitor ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding "
if grep -q 'helm.sh/hook' "$tmp/default.yaml" "$tmp/nondefault.yaml"; then fail "--skip-tests leaves no hook"; else pass "--skip-tests leaves no hook"; fi
bash "$root/scripts/render-deploy.sh" "$tmp/deploy-manifest.yaml"
expect "deploy/ render (scripts/render-deploy.sh): no helm test hook" "$(grep -c 'helm.sh/hook' "$tmp/deploy-manifest.yaml" || true)" 0
expect "deploy/ render (scripts/render-deploy.sh): no CRD (installed apart from crds/)" "$(grep -c '^kind: CustomResourceDefinition$' "$tmp/deploy-manifest.yaml" || true)" 0

echo "== CRD (crds.enabled, crds.keep)"
crd_file="$chart/files/crds/contactchannelactivations.yaml"
if [[ -z ${SSMC_LINT_CHART:-} ]]; then
  if cmp -s "$root/crds/contactchannelactivations.yaml" "$crd_file"; then pass "files/crds/ is byte-identical to crds/"; else fail "files/crds/ is byte-identical to crds/ (run scripts/render-deploy.sh)"; fi
fi
if [[ -e "$chart/crds" ]]; then fail "no crds/ folder (helm would install the CRD a second time, and never upgrade it)"; else pass "no crds/ folder: the CRD is a template"; fi
show crds.yaml >"$tmp/crd-default.yaml"
expect "crds.enabled (default): the release renders the CRD once, keep annotation, the chart's labels" \
  "$(query "$tmp/crd-default.yaml" '{.kind}/{.metadata.name} {.metadata.annotations.helm\.sh/resource-policy} {.metadata.labels.app\.kubernetes\.io/managed-by}')" \
  "CustomResourceDefinition/$(query "$crd_file" '{.metadata.name}') keep Helm"
# The template emits the file as is: the same spec, field for field (numbers compared as JSON).
expect "crds.enabled: the rendered spec is the file's spec" \
  "$(query "$tmp/crd-default.yaml" '{.spec}')" "$(query "$crd_file" '{.spec}')"
expect "crds.keep=false: no resource-policy annotation" \
  "$(show crds.yaml --set crds.keep=false | query - '[{.metadata.annotations.helm\.sh/resource-policy}]')" "[]"
expect "crds.enabled=false: no CRD in the release" \
  "$(render --set crds.enabled=false | grep -c '^kind: CustomResourceDefinition$' || true)" 0

echo "== RBAC"
# {.rules} prints the rules as compact JSON (keys sorted), and nothing for a binding.
rules='{.rules}'
# Without Secrets (activation.secrets.enabled=false, as in ci/nondefault-values.yaml) ...
want_rules_no_secrets='[{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations"],"verbs":["get","list","watch"]},{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations/status"],"verbs":["update"]},{"apiGroups":["events.k8s.io"],"resources":["events"],"verbs":["create","patch"]}]'
# ... and with them (the default): the code Secrets are read and watched, never written.
want_secrets='{"apiGroups":[""],"resources":["secrets"],"verbs":["get","list","watch"]}'
want_rules="${want_rules_no_secrets%]},$want_secrets]"
# Namespaces (their allowed-accounts annotation), metadata only: all of them cluster-wide.
want_namespaces='{"apiGroups":[""],"resources":["namespaces"],"verbs":["list","watch"]}'
want_lease='[{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},{"apiGroups":["coordination.k8s.io"],"resourceNames":["ssm-contacts-operator"],"resources":["leases"],"verbs":["get","patch"]}]'
show rbac.yaml >"$tmp/rbac-default.yaml"
expect "ClusterRole grants exactly the operator's calls" \
  "$(query "$tmp/rbac-default.yaml" "{.kind}:$rules" | grep '^ClusterRole:')" "ClusterRole:${want_rules%]},$want_namespaces]"
expect "ClusterRoleBinding binds the ServiceAccount" \
  "$(query "$tmp/rbac-default.yaml" '{.kind}:{.subjects[*].kind}/{.subjects[*].namespace}/{.subjects[*].name}' | grep '^ClusterRoleBinding:')" \
  "ClusterRoleBinding:ServiceAccount/ssm-contacts-operator/ssm-contacts-operator"
show leader-election-rbac.yaml >"$tmp/lease.yaml"
expect "leader Role: create leases, get/patch only the named Lease" \
  "$(query "$tmp/lease.yaml" "{.kind}:$rules" | grep '^Role:')" "Role:$want_lease"

show rbac.yaml -f "$nondefault" >"$tmp/rbac-ns.yaml"
expect "watchNamespaces: the only ClusterRole reads the watched Namespaces by name" \
  "$(query "$tmp/rbac-ns.yaml" "{.kind}:$rules" | grep '^ClusterRole:')" \
  'ClusterRole:[{"apiGroups":[""],"resourceNames":["team-payments","team-search"],"resources":["namespaces"],"verbs":["list","watch"]}]'
expect "watchNamespaces: its ClusterRoleBinding binds the ServiceAccount" \
  "$(query "$tmp/rbac-ns.yaml" '{.kind}:{.subjects[*].kind}' | grep -c '^ClusterRoleBinding:ServiceAccount$')" 1
expect "watchNamespaces: one Role per watched namespace" \
  "$(query "$tmp/rbac-ns.yaml" '{.kind}/{.metadata.namespace}' | grep '^Role/' | sort | tr '\n' ' ')" \
  "Role/team-payments Role/team-search "
expect "watchNamespaces: one RoleBinding per watched namespace, to the ServiceAccount" \
  "$(query "$tmp/rbac-ns.yaml" '{.kind}/{.metadata.namespace}:{.subjects[0].namespace}/{.subjects[0].name}' | grep '^RoleBinding/' | sort | tr '\n' ' ')" \
  "RoleBinding/team-payments:ssm-contacts-operator/ssm-contacts RoleBinding/team-search:ssm-contacts-operator/ssm-contacts "
expect "watchNamespaces: the Roles grant what the ClusterRole grants (nondefault: no Secrets)" \
  "$(query "$tmp/rbac-ns.yaml" "{.kind}:$rules" | grep '^Role:' | sort -u)" "Role:$want_rules_no_secrets"
expect "watchNamespaces, activation.secrets.enabled=true: the Roles read and watch Secrets" \
  "$(show rbac.yaml -f "$nondefault" --set activation.secrets.enabled=true | query - "{.kind}:$rules" | grep '^Role:' | sort -u)" "Role:$want_rules"
expect "activation.secrets.enabled=false: the ClusterRole grants no Secret permission" \
  "$(show rbac.yaml --set activation.secrets.enabled=false | query - "{.kind}:$rules" | grep '^ClusterRole:')" "ClusterRole:${want_rules_no_secrets%]},$want_namespaces]"
# Every rule of every role the chart renders (operator, lease, aggregated), for
# both forms: no Secret anywhere once the feature is off.
for values in "" "-f $nondefault"; do
  # shellcheck disable=SC2086 # $values is empty or two words on purpose
  secret_rules=$(render $values --set activation.secrets.enabled=false |
    gquery - '{{range .rules}}{{range .resources}}{{.}} {{end}}{{end}}' | tr ' ' '\n' | grep -c '^secrets$' || true)
  expect "activation.secrets.enabled=false${values:+ ($values)}: no role names secrets" "$secret_rules" 0
done
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
  restricted_pod "$values" "$values: runAsNonRoot, UID 65532, RuntimeDefault seccomp, no escalation, read-only root, drop ALL, nothing host" \
    "$tmp/deploy-$values.yaml" "$pod" " {$pod.securityContext.runAsUser}" ' 65532'
  got=$(query "$tmp/deploy-$values.yaml" "\
{$container.livenessProbe.httpGet.path}:{$container.livenessProbe.httpGet.port} \
{$container.readinessProbe.httpGet.path}:{$container.readinessProbe.httpGet.port} \
{range $container.ports[*]}{.name}:{.containerPort}/{.protocol} {end}{$pod.terminationGracePeriodSeconds}")
  if [[ $values == default ]]; then ports="metrics:8080/TCP health:8081/TCP"; else ports="metrics:9100/TCP health:9101/TCP"; fi
  expect "$values: /livez and /readyz on the health port, container ports metrics and health ($ports), 70 s grace (above the 55 s drain)" \
    "$got" "/livez:health /readyz:health $ports 70"
done
expect "container ports and probes follow metrics.port and health.port" \
  "$(show deployment.yaml --set metrics.port=9402,health.port=9403 | query - '{range .spec.template.spec.containers[0].ports[*]}{.name}:{.containerPort} {end}{.spec.template.spec.containers[0].livenessProbe.httpGet.port} {.spec.template.spec.containers[0].readinessProbe.httpGet.port}')" \
  "metrics:9402 health:9403 health health"
probes() { query "$1" '{range .spec.template.spec.containers[0].livenessProbe}{.initialDelaySeconds} {.periodSeconds} {.timeoutSeconds} {.failureThreshold}{end} / {range .spec.template.spec.containers[0].readinessProbe}{.initialDelaySeconds} {.periodSeconds} {.timeoutSeconds} {.failureThreshold}{end}'; }
expect "default: probe timings (liveness / readiness: delay period timeout failures)" "$(probes "$tmp/deploy-default.yaml")" "0 10 2 3 / 0 5 2 3"
expect "nondefault: probe timings follow livenessProbe.* and readinessProbe.*" "$(probes "$tmp/deploy-nondefault.yaml")" "5 20 3 6 / 2 10 4 2"

echo "== Deployment: image, extra volumes, topology spread"
image_of() { query "$1" '{.spec.template.spec.containers[0].image}'; }
app_version=$("$helm" show chart "$chart" | sed -nE "s/^appVersion: ['\"]?([^'\"]*)['\"]?\$/\\1/p")
expect "default: image tag is the appVersion" "$(image_of "$tmp/deploy-default.yaml")" "ghcr.io/oncall-dev/ssm-contacts-operator:$app_version"
expect "image.tag replaces the appVersion" "$(show deployment.yaml --set image.tag=9.9.9 | image_of -)" "ghcr.io/oncall-dev/ssm-contacts-operator:9.9.9"
expect "nondefault: image.digest wins over image.tag (repository@digest)" "$(image_of "$tmp/deploy-nondefault.yaml")" \
  "registry.example.com/platform/ssm-contacts-operator@sha256:4f5a2b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809102"
mounts='{range .spec.template.spec.containers[0].volumeMounts[*]}{.name}:{.mountPath}:{.subPath}:{.readOnly} {end}'
volumes='{range .spec.template.spec.volumes[*]}{.name}:{.configMap.name} {end}'
expect "default: no volumes, no mounts" "$(query "$tmp/deploy-default.yaml" "$volumes$mounts")" ""
expect "nondefault: extraVolumes (the CA bundle ConfigMap)" "$(query "$tmp/deploy-nondefault.yaml" "$volumes")" "corporate-ca:corporate-ca-bundle "
expect "nondefault: extraVolumeMounts (one file next to the image's roots in /etc/ssl/certs)" \
  "$(query "$tmp/deploy-nondefault.yaml" "$mounts")" "corporate-ca:/etc/ssl/certs/corporate-ca.crt:ca.crt:true "
spread='{range .spec.template.spec.topologySpreadConstraints[*]}{.topologyKey}:{.whenUnsatisfiable}:{.maxSkew}:{.labelSelector.matchLabels} {end}'
selector=$(query "$tmp/deploy-nondefault.yaml" '{.spec.selector.matchLabels}')
expect "default: no topologySpreadConstraints" "$(query "$tmp/deploy-default.yaml" "$spread")" ""
expect "nondefault: a constraint without labelSelector gets the pods' selector labels" \
  "$(query "$tmp/deploy-nondefault.yaml" "$spread")" "topology.kubernetes.io/zone:ScheduleAnyway:1:$selector "
expect "a constraint's own labelSelector is kept" \
  "$(show deployment.yaml --set 'topologySpreadConstraints[0].maxSkew=2,topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname,topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule,topologySpreadConstraints[0].labelSelector.matchLabels.team=a' | query - "$spread")" \
  'kubernetes.io/hostname:DoNotSchedule:2:{"team":"a"} '

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
has "default: /metrics on metrics.port" "$default_env" "SSMC_METRICS_ADDR=0.0.0.0:8080"
has "default: the probes on health.port" "$default_env" "SSMC_HEALTH_ADDR=0.0.0.0:8081"
has_not "default: no single admin address (metrics and health apart)" "$default_env" "SSMC_ADMIN_ADDR="
has "nondefault: SSMC_METRICS_ADDR follows metrics.port" "$nondefault_env" "SSMC_METRICS_ADDR=0.0.0.0:9100"
has "nondefault: SSMC_HEALTH_ADDR follows health.port" "$nondefault_env" "SSMC_HEALTH_ADDR=0.0.0.0:9101"
has "default: JSON logs (the chart's default; the binary's is text)" "$default_env" "SSMC_LOG_FORMAT=json"
has "default: RUST_LOG" "$default_env" "RUST_LOG=info"
has "nondefault: watched namespaces" "$nondefault_env" "SSMC_WATCH_NAMESPACES=team-payments,team-search"
has_not "default: code Secrets on (SSMC_CODE_SECRETS left to its default, true)" "$default_env" "SSMC_CODE_SECRETS="
has "nondefault: activation.secrets.enabled=false turns the Secret watch off" "$nondefault_env" "SSMC_CODE_SECRETS=false"
has "nondefault: tenancy.allowedAccounts" "$nondefault_env" "SSMC_ALLOWED_ACCOUNTS=111122223333,210987654321"
has "nondefault: lease name" "$nondefault_env" "SSMC_LEASE_NAME=ssm-contacts-operator-leader"
has "nondefault: lease duration" "$nondefault_env" "SSMC_LEASE_DURATION_SECONDS=20"
has "nondefault: logFormat=text" "$nondefault_env" "SSMC_LOG_FORMAT=text"
has "nondefault: hold on unknown outcome" "$nondefault_env" "SSMC_ON_UNKNOWN_OUTCOME=hold"
has "nondefault: send rate" "$nondefault_env" "SSMC_SEND_RATE=2.5"
has "nondefault: AWS_REGION" "$nondefault_env" "AWS_REGION=eu-west-1"
has "nondefault: extraEnv endpoint" "$nondefault_env" "AWS_ENDPOINT_URL_SSM_CONTACTS=http://ssm-contacts-emulator.ssm-contacts-emulator.svc:4566"
expect "nondefault: 2 replicas" "$(query "$tmp/deploy-nondefault.yaml" '{.spec.replicas}')" 2
expect "nondefault: IRSA annotation" \
  "$(show serviceaccount.yaml -f "$nondefault" | query - '{.metadata.annotations.eks\.amazonaws\.com/role-arn}')" \
  "arn:aws:iam::111122223333:role/ssm-contacts-operator"
service_ports='{range .spec.ports[*]}{.name}:{.port}->{.targetPort}/{.protocol} {end}'
expect "default: Service ports metrics (service.port) and health (health.port), to the named container ports" \
  "$(show service.yaml | query - "$service_ports")" "metrics:8080->metrics/TCP health:8081->health/TCP "
expect "nondefault: the Service's ports follow service.port and health.port" \
  "$(show service.yaml -f "$nondefault" | query - "$service_ports")" "metrics:9090->metrics/TCP health:9101->health/TCP "
expect "ServiceMonitor scrapes /metrics on the Service's metrics port" \
  "$(show servicemonitor.yaml -f "$nondefault" | query - '{.spec.endpoints[0].port} {.spec.endpoints[0].path}')" "metrics /metrics"

echo "== Deployment and pod knobs"
show deployment.yaml >"$tmp/knobs-default.yaml"
knobs='{.spec.revisionHistoryLimit} [{.spec.strategy}] [{.metadata.annotations}] {.spec.template.spec.automountServiceAccountToken} [{.spec.template.spec.hostUsers}] [{.spec.template.spec.containers[0].args}]'
expect "default: 3 old ReplicaSets, Kubernetes' strategy, no annotation, token mounted, hostUsers and args left out" \
  "$(query "$tmp/knobs-default.yaml" "$knobs" | sed 's/{"lint":"1"}//')" "3 [] [] true [] []"
show deployment.yaml --set revisionHistoryLimit=0 --set strategy.type=RollingUpdate,strategy.rollingUpdate.maxSurge=0,strategy.rollingUpdate.maxUnavailable=1 \
  --set-string deploymentAnnotations.reloader\\.stakater\\.com/auto=true --set hostUsers=false --set automountServiceAccountToken=false \
  --set 'extraArgs={--send-rate=5,--concurrency=4}' >"$tmp/knobs-set.yaml"
expect "revisionHistoryLimit=0, strategy, deploymentAnnotations, automountServiceAccountToken=false, hostUsers=false, extraArgs as args" \
  "$(query "$tmp/knobs-set.yaml" "$knobs" | sed 's/"lint":"1",//')" \
  '0 [{"rollingUpdate":{"maxSurge":0,"maxUnavailable":1},"type":"RollingUpdate"}] [{"reloader.stakater.com/auto":"true"}] false [false] [["--send-rate=5","--concurrency=4"]]'
expect "hostUsers=true is emitted too" "$(show deployment.yaml --set hostUsers=true | query - '{.spec.template.spec.hostUsers}')" true
expect "extraArgs leave the chart's environment alone" "$(env_of "$tmp/knobs-set.yaml")" "$(env_of "$tmp/knobs-default.yaml")"
expect "leaderElection.enabled=false: Recreate, also with strategy.type=Recreate set" \
  "$(show deployment.yaml --set leaderElection.enabled=false | query - '{.spec.strategy.type}') $(show deployment.yaml --set leaderElection.enabled=false --set strategy.type=Recreate | query - '{.spec.strategy.type}')" "Recreate Recreate"
expect "serviceAccount.automountServiceAccountToken: true by default, false when set" \
  "$(show serviceaccount.yaml | query - '{.automountServiceAccountToken}') $(show serviceaccount.yaml --set serviceAccount.automountServiceAccountToken=false | query - '{.automountServiceAccountToken}')" "true false"

echo "== AWS credentials from a Secret"
expect "default: no static credentials" "$(env_of "$tmp/knobs-default.yaml" | grep -oE 'AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=' || true)" ""
secret_env='{range .spec.template.spec.containers[0].env[?(@.valueFrom.secretKeyRef)]}{.name}<-{.valueFrom.secretKeyRef.name}/{.valueFrom.secretKeyRef.key} {end}'
expect "aws.credentials.secretName: the two keys through secretKeyRef" \
  "$(show deployment.yaml --set aws.credentials.secretName=aws-keys | query - "$secret_env")" \
  "AWS_ACCESS_KEY_ID<-aws-keys/AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY<-aws-keys/AWS_SECRET_ACCESS_KEY "
expect "aws.credentials: key names and a session token" \
  "$(show deployment.yaml --set aws.credentials.secretName=aws-keys,aws.credentials.accessKeyIdKey=id,aws.credentials.secretAccessKeyKey=secret,aws.credentials.sessionTokenKey=token | query - "$secret_env")" \
  "AWS_ACCESS_KEY_ID<-aws-keys/id AWS_SECRET_ACCESS_KEY<-aws-keys/secret AWS_SESSION_TOKEN<-aws-keys/token "

echo "== commonLabels"
# Every object of every template (the CRD and the helm test objects included) and the pods.
common=$(render -f "$nondefault" --set commonLabels.team=platform --set commonLabels.cost-center=oncall --set test.enabled=true |
  query - '{.kind}/{.metadata.name}:{.metadata.labels.team}:{.metadata.labels.cost-center}')
expect "commonLabels on every object (nondefault, with the test hook)" "$(grep -vc ':platform:oncall$' <<<"$common" || true)" 0
expect "commonLabels: as many objects as without them" "$(wc -l <<<"$common")" "$(render -f "$nondefault" --set test.enabled=true | query - '{.kind}' | wc -l)"
expect "commonLabels on the operator pods; selector labels and podLabels win over them" \
  "$(show deployment.yaml -f "$nondefault" --set commonLabels.team=other,commonLabels.cost-center=oncall,commonLabels.app\\.kubernetes\\.io/name=x |
    query - '{.spec.template.metadata.labels.team} {.spec.template.metadata.labels.cost-center} {.spec.template.metadata.labels.app\.kubernetes\.io/name} {.metadata.labels.app\.kubernetes\.io/name}')" \
  "platform oncall ssm-contacts-operator ssm-contacts-operator"

echo "== extraObjects"
render --skip-tests -f "$nondefault" --set-json 'extraObjects=[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{ .Release.Name }}-extra","namespace":"{{ .Release.Namespace }}"},"data":{"a":"b"}},"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-a-string\n  labels:\n    release: {{ .Release.Name | quote }}\n"]' >"$tmp/extra.yaml"
expect "extraObjects: a map and a string, both through tpl" \
  "$(query "$tmp/extra.yaml" '{.kind}/{.metadata.namespace}/{.metadata.name}/{.metadata.labels.release}' | grep '^ConfigMap/' | tr '\n' ' ')" \
  "ConfigMap/ssm-contacts-operator/ssm-contacts-operator-extra/ ConfigMap//from-a-string/ssm-contacts-operator "
expect "extraObjects: added to the release's objects" "$(query "$tmp/extra.yaml" '{.kind}' | wc -l)" "$(($(wc -l <"$tmp/nondefault.kinds") + 2))"
expect "default: no extra object" "$(show extra-objects.yaml 2>/dev/null | grep -c '^kind:' || true)" 0

echo "== monitoring: ServiceMonitor, PrometheusRule, Grafana dashboard"
for file in prometheusrule.yaml grafana-dashboard.json; do
  if [[ -n ${SSMC_LINT_CHART:-} ]] || cmp -s "$root/examples/monitoring/$file" "$chart/files/monitoring/$file"; then
    pass "files/monitoring/$file is byte-identical to examples/monitoring/$file"
  else
    fail "files/monitoring/$file is byte-identical to examples/monitoring/$file (copy it over)"
  fi
done
sm='{.spec.endpoints[0].honorLabels} {.spec.endpoints[0].relabelings} {.spec.endpoints[0].metricRelabelings} {.metadata.labels.release}'
expect "nondefault ServiceMonitor: honorLabels false, no relabelings, serviceMonitor.labels" \
  "$(show servicemonitor.yaml -f "$nondefault" | query - "$sm")" "false   kube-prometheus-stack"
expect "serviceMonitor.honorLabels, relabelings, metricRelabelings" \
  "$(show servicemonitor.yaml -f "$nondefault" --set serviceMonitor.honorLabels=true \
    --set-json 'serviceMonitor.relabelings=[{"sourceLabels":["__meta_kubernetes_pod_node_name"],"targetLabel":"node"}]' \
    --set-json 'serviceMonitor.metricRelabelings=[{"sourceLabels":["__name__"],"regex":"go_.*","action":"drop"}]' | query - "$sm")" \
  'true [{"sourceLabels":["__meta_kubernetes_pod_node_name"],"targetLabel":"node"}] [{"action":"drop","regex":"go_.*","sourceLabels":["__name__"]}] kube-prometheus-stack'
expect "serviceMonitor.labels win over commonLabels" \
  "$(show servicemonitor.yaml -f "$nondefault" --set commonLabels.release=other,commonLabels.team=a | query - '{.metadata.labels.release} {.metadata.labels.team}')" "kube-prometheus-stack a"
expect "default: no PrometheusRule, no dashboard" "$(query "$tmp/default.yaml" '{.kind}' | grep -cE '^(PrometheusRule|ConfigMap)$' || true)" 0
show prometheusrule.yaml --set prometheusRule.enabled=true --set prometheusRule.additionalLabels.release=kube-prometheus-stack >"$tmp/rule.yaml"
expect "prometheusRule.enabled: the release's PrometheusRule, with additionalLabels" \
  "$(query "$tmp/rule.yaml" '{.apiVersion}/{.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.labels.release} {.metadata.labels.app\.kubernetes\.io/instance}')" \
  "monitoring.coreos.com/v1/PrometheusRule/ssm-contacts-operator/ssm-contacts-operator kube-prometheus-stack ssm-contacts-operator"
expect "prometheusRule: its rules are the example's, field for field" \
  "$(query "$tmp/rule.yaml" '{.spec}')" "$(query "$root/examples/monitoring/prometheusrule.yaml" '{.spec}')"
expect "prometheusRule: every alert of the example" \
  "$(query "$tmp/rule.yaml" '{.spec.groups[*].rules[*].alert}')" "$(query "$root/examples/monitoring/prometheusrule.yaml" '{.spec.groups[*].rules[*].alert}')"
show grafana-dashboard.yaml --set grafanaDashboard.enabled=true >"$tmp/dashboard.yaml"
expect "grafanaDashboard.enabled: a ConfigMap in the release namespace with the sidecar label grafana_dashboard=1" \
  "$(query "$tmp/dashboard.yaml" '{.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.labels.grafana_dashboard}')" \
  "ConfigMap/ssm-contacts-operator/ssm-contacts-operator-dashboard 1"
query "$tmp/dashboard.yaml" '{.data.ssm-contacts-operator\.json}' | head -c -1 >"$tmp/dashboard.json"
if cmp -s "$tmp/dashboard.json" "$root/examples/monitoring/grafana-dashboard.json"; then pass "grafanaDashboard: the ConfigMap holds the example dashboard byte for byte"; else fail "grafanaDashboard: the ConfigMap holds the example dashboard byte for byte"; fi
expect "grafanaDashboard: sidecarLabel, sidecarLabelValue, annotations, namespace" \
  "$(show grafana-dashboard.yaml --set grafanaDashboard.enabled=true,grafanaDashboard.sidecarLabel=dashboards,grafanaDashboard.sidecarLabelValue=ops,grafanaDashboard.namespace=monitoring,grafanaDashboard.annotations.grafana_folder=Operators |
    query - '{.metadata.namespace} {.metadata.labels.dashboards} {.metadata.labels.grafana_dashboard} {.metadata.annotations.grafana_folder}')" "monitoring ops  Operators"

echo "== NOTES.txt warnings"
# notes HELM-ARGS: NOTES.txt as helm renders it, through a scratch copy that prints it in a ConfigMap.
notes_chart="$tmp/notes/ssm-contacts-operator"
mkdir -p "$tmp/notes"
cp -R "$chart" "$notes_chart"
{ echo '{{- define "lint.notes" -}}'; cat "$chart/templates/NOTES.txt"; echo '{{- end }}'; } >"$notes_chart/templates/_lint-notes.tpl"
printf '%s\n' 'apiVersion: v1' 'kind: ConfigMap' 'metadata:' '  name: notes' 'data:' '  notes: {{ include "lint.notes" . | quote }}' >"$notes_chart/templates/lint-notes.yaml"
notes() { "$helm" template ssm-contacts-operator "$notes_chart" --namespace ssm-contacts-operator --show-only templates/lint-notes.yaml "$@" | query - '{.data.notes}'; }
warnings() { notes "$@" | grep -c '^WARNING' || true; }
expect "NOTES: serviceMonitor.enabled on a cluster without monitoring.coreos.com/v1 warns" \
  "$(notes --set serviceMonitor.enabled=true | grep -c '^WARNING: ServiceMonitor rendered, but this cluster serves no monitoring.coreos.com/v1' || true)" 1
expect "NOTES: prometheusRule.enabled too, named in the same warning" \
  "$(notes --set serviceMonitor.enabled=true --set prometheusRule.enabled=true | grep -c '^WARNING: ServiceMonitor and PrometheusRule rendered' || true)" 1
expect "NOTES: no monitoring warning where monitoring.coreos.com/v1 is served" \
  "$(notes --set serviceMonitor.enabled=true --set prometheusRule.enabled=true --api-versions monitoring.coreos.com/v1 | grep -c 'monitoring.coreos.com/v1:' || true)" 0
expect "NOTES: empty tenancy.allowedAccounts while edit may create objects warns" \
  "$(notes | grep -c '^WARNING: tenancy.allowedAccounts is empty' || true)" 1
expect "NOTES: no tenancy warning with allowed accounts, nor without the aggregated roles" \
  "$(warnings --set-json 'tenancy.allowedAccounts=["111122223333"]') $(warnings --set rbac.aggregateClusterRoles=false)" "0 0"
expect "NOTES: automountServiceAccountToken=false without a token mount warns" \
  "$(notes -f "$nondefault" --set automountServiceAccountToken=false | grep -c '^WARNING: automountServiceAccountToken is false' || true)" 1
expect "NOTES: nondefault values (allowlist, no aggregated-role risk) and a mounted token: no warning" \
  "$(warnings -f "$nondefault" --api-versions monitoring.coreos.com/v1 --set automountServiceAccountToken=false \
    --set-json 'extraVolumeMounts=[{"name":"api-token","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]')" 0

echo "== NetworkPolicy"
# egress rules, one line each: ports -> peers
egress='{range .spec.egress[*]}{range .ports[*]}{.port}/{.protocol},{end} -> {range .to[*]}{.ipBlock.cidr}{.namespaceSelector.matchLabels}{.podSelector.matchLabels},{end}{"\n"}{end}'
show networkpolicy.yaml --set networkPolicy.enabled=true >"$tmp/np-default.yaml"
expect "networkPolicy.enabled: egress is DNS, API server, HTTPS, Pod Identity agent (no IMDS)" "$(query "$tmp/np-default.yaml" "$egress")" \
"53/UDP,53/TCP, -> 
443/TCP,6443/TCP, -> 
443/TCP, -> 
80/TCP, -> 169.254.170.23/32,fd00:ec2::23/128,"
expect "networkPolicy: Ingress and Egress, the operator pods only" \
  "$(query "$tmp/np-default.yaml" '{.spec.policyTypes} {.spec.podSelector.matchLabels}')" \
  "[\"Ingress\",\"Egress\"] $(query "$tmp/deploy-default.yaml" '{.spec.selector.matchLabels}')"
# ingress rules, one line each: ports <- peers
ingress='{range .spec.ingress[*]}{range .ports[*]}{.port}/{.protocol},{end} <- [{range .from[*]}{.namespaceSelector.matchLabels}{.podSelector.matchLabels},{end}]{"\n"}{end}'
test_selector='{"app.kubernetes.io/instance":"ssm-contacts-operator","app.kubernetes.io/name":"ssm-contacts-operator-test"}'
expect "networkPolicy: ingress to the metrics port from anywhere by default, to the health port from the test Pod only" \
  "$(query "$tmp/np-default.yaml" "$ingress")" "8080/TCP, <- []
8081/TCP, <- [$test_selector,]"
expect "networkPolicy: ingress ports follow metrics.port and health.port" \
  "$(show networkpolicy.yaml --set networkPolicy.enabled=true --set metrics.port=9402,health.port=9403 | query - '{.spec.ingress[*].ports[*].port}')" "9402 9403"
expect "networkPolicy, test.enabled=false: the metrics port only (the kubelet's probes need no rule)" \
  "$(show networkpolicy.yaml --set networkPolicy.enabled=true --set test.enabled=false | query - "$ingress")" "8080/TCP, <- []"
expect "networkPolicy.podIdentityAgent.enabled=false drops the agent rule" \
  "$(show networkpolicy.yaml --set networkPolicy.enabled=true --set networkPolicy.podIdentityAgent.enabled=false | query - "$egress" | grep -c 169.254 || true)" 0
expect "networkPolicy.imds.enabled=true adds IMDS, 80/TCP" \
  "$(show networkpolicy.yaml --set networkPolicy.enabled=true --set networkPolicy.imds.enabled=true | query - "$egress" | grep 169.254.169.254)" \
  "80/TCP, -> 169.254.169.254/32,fd00:ec2::254/128,"
show networkpolicy.yaml -f "$nondefault" >"$tmp/np-nondefault.yaml"
expect "nondefault: DNS to kube-dns, API server 443 to its CIDR, AWS to its CIDR, agent, IMDS, extraEgress" "$(query "$tmp/np-nondefault.yaml" "$egress")" \
'53/UDP,53/TCP, -> {"kubernetes.io/metadata.name":"kube-system"}{"k8s-app":"kube-dns"},
443/TCP, -> 10.0.0.0/16,
443/TCP, -> 10.1.0.0/16,
80/TCP, -> 169.254.170.23/32,fd00:ec2::23/128,
80/TCP, -> 169.254.169.254/32,fd00:ec2::254/128,
4566/TCP, -> {"kubernetes.io/metadata.name":"ssm-contacts-emulator"},'
expect "nondefault: the metrics port (9100) to metricsFrom plus the helm test Pod, the health port (9101) to the test Pod" \
  "$(query "$tmp/np-nondefault.yaml" "$ingress")" \
  "9100/TCP, <- [{\"kubernetes.io/metadata.name\":\"monitoring\"},$test_selector,]
9101/TCP, <- [$test_selector,]"
expect "test.enabled=false: metricsFrom without the test Pod" \
  "$(show networkpolicy.yaml -f "$nondefault" --set test.enabled=false | query - '{range .spec.ingress[0].from[*]}{.namespaceSelector.matchLabels}{.podSelector.matchLabels} {end}')" \
  "{\"kubernetes.io/metadata.name\":\"monitoring\"} "

echo "== ClusterRoles aggregated into view / edit / admin"
aggregated='{.metadata.name} view={.metadata.labels.rbac\.authorization\.k8s\.io/aggregate-to-view} edit={.metadata.labels.rbac\.authorization\.k8s\.io/aggregate-to-edit} admin={.metadata.labels.rbac\.authorization\.k8s\.io/aggregate-to-admin} '
show aggregate-roles.yaml >"$tmp/aggregate.yaml"
expect "view role: aggregated into view (and edit, admin); get/list/watch, and get on status" \
  "$(query "$tmp/aggregate.yaml" "$aggregated$rules" | grep -- '-view ')" \
  'ssm-contacts-operator-view view=true edit=true admin=true [{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations"],"verbs":["get","list","watch"]},{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations/status"],"verbs":["get"]}]'
expect "edit role: aggregated into edit and admin only; create/update/patch/delete/deletecollection, no status" \
  "$(query "$tmp/aggregate.yaml" "$aggregated$rules" | grep -- '-edit ')" \
  'ssm-contacts-operator-edit view= edit=true admin=true [{"apiGroups":["ssmcontacts.oncall.dev"],"resources":["contactchannelactivations"],"verbs":["create","update","patch","delete","deletecollection"]}]'
# No role aggregated into edit or admin may write status (tenants must not forge it).
status_writers=$(gquery "$tmp/aggregate.yaml" '{{range .rules}}{{range .resources}}{{.}} {{end}}: {{range .verbs}}{{.}} {{end}}{{"\n"}}{{end}}' | grep 'contactchannelactivations/status' | grep -vx 'contactchannelactivations/status : get ' || true)
expect "no aggregated role writes the status subresource" "$status_writers" ""
expect "rbac.aggregateClusterRoles=false: no aggregated role" \
  "$(render --skip-tests --set rbac.aggregateClusterRoles=false | grep -c 'aggregate-to-' || true)" 0
expect "watchNamespaces: aggregated role names carry the release namespace (one release name, several namespaces)" \
  "$(show aggregate-roles.yaml -f "$nondefault" --namespace team-a | query - '{.metadata.name}' | tr '\n' ' ')" \
  "ssm-contacts-operator-team-a-view ssm-contacts-operator-team-a-edit "

echo "== ValidatingAdmissionPolicy (tenancy guards at admission)"
policy_name=ssm-contacts-operator-ssm-contacts-operator-tenancy
show admission-policy.yaml >"$tmp/vap-default.yaml"
show admission-policy.yaml -f "$nondefault" >"$tmp/vap-nondefault.yaml"
expect "default: a policy and its binding, named after the release and its namespace" \
  "$(query "$tmp/vap-default.yaml" '{.apiVersion}/{.kind}/{.metadata.name}' | tr '\n' ' ')" \
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy/$policy_name admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding/$policy_name "
storage_version=$(query "$chart/files/crds/contactchannelactivations.yaml" '{.spec.versions[?(@.storage==true)].name}')
expect "policy: ContactChannelActivations on CREATE and UPDATE, any version seen as the CRD's storage version ($storage_version), failing closed" \
  "$(query "$tmp/vap-default.yaml" '{.spec.failurePolicy} {.spec.matchConstraints.matchPolicy} {.spec.matchConstraints.resourceRules}' | grep '^Fail')" \
  "Fail Equivalent [{\"apiGroups\":[\"ssmcontacts.oncall.dev\"],\"apiVersions\":[\"$storage_version\"],\"operations\":[\"CREATE\",\"UPDATE\"],\"resources\":[\"contactchannelactivations\"]}]"
expect "policy: checked on create and on spec changes (label edits ask for no code)" \
  "$(query "$tmp/vap-default.yaml" '{.spec.matchConditions[*].expression}' | grep .)" \
  "request.operation == 'CREATE' || object.spec != oldObject.spec"
# One rule per guard, each refusing with a message built from the offending value.
# (Go templates, not jsonpath: the binding in the same file has no validations to range over.)
gquery "$tmp/vap-default.yaml" '{{range .spec.validations}}{{.reason}}|{{.messageExpression}}{{"\n"}}{{end}}' | grep . >"$tmp/vap-messages"
expect "policy: five rules, each with a reason and a messageExpression" "$(grep -cE '^(Forbidden|Invalid)\|.' "$tmp/vap-messages")" 5
mapfile -t vap_messages <"$tmp/vap-messages"
# Per rule, in order: what its message must name ('|' between the words).
want_words=(
  "variables.account|tenancy.allowedAccounts"
  "variables.account|ssmcontacts.oncall.dev/allowed-accounts|is empty|cannot be read|allows no account"
  "variables.account|ssmcontacts.oncall.dev/allowed-accounts|namespaceObject.metadata.name|variables.annotationIds"
  "object.spec.roleArn|tenancy.allowedRoleArns|no role may be assumed"
  "variables.region|is not an AWS region|^[a-z]{2}(-[a-z]+)+-[0-9]+$"
)
for i in "${!want_words[@]}"; do
  IFS='|' read -ra words <<<"${want_words[$i]}"
  missing=""
  for word in "${words[@]}"; do [[ "${vap_messages[$i]:-}" == *"$word"* ]] || missing+="'$word' "; done
  expect "policy rule $((i + 1)): its message names ${words[*]:0:2}" "$missing" ""
done
variable() { gquery "$1" "{{range .spec.variables}}{{if eq .name \"$2\"}}{{.expression}}{{end}}{{end}}" | grep .; }
expect "policy: the namespace's allowed-accounts annotation comes from namespaceObject" \
  "$(variable "$tmp/vap-default.yaml" annotated | grep -c namespaceObject.metadata.annotations)" 1
expect "default: tenancy.allowedAccounts empty (any account)" "$(variable "$tmp/vap-default.yaml" allowedAccounts)" '[]'
expect "default: tenancy.allowedRoleArns empty (no role)" "$(variable "$tmp/vap-default.yaml" roleArnPatterns)" '[]'
expect "nondefault: tenancy.allowedAccounts in the policy" "$(variable "$tmp/vap-nondefault.yaml" allowedAccounts)" '["111122223333","210987654321"]'
expect "nondefault: role globs become anchored regexes (* is .*, every other character itself)" \
  "$(variable "$tmp/vap-nondefault.yaml" roleArnPatterns)" '["^arn:aws:iam::.*:role/ssm-contacts-activation$","^arn:aws:iam::111122223333:role/team\\.pager\\+.*$"]'
binding='{.spec.policyName} {.spec.validationActions} [{.spec.matchResources}]'
expect "default: the binding is cluster-wide and denies" "$(query "$tmp/vap-default.yaml" "$binding" | grep "^$policy_name ")" "$policy_name [\"Deny\"] []"
expect "nondefault: the binding only reaches watchNamespaces, and warns and audits" \
  "$(query "$tmp/vap-nondefault.yaml" "$binding" | grep "^$policy_name ")" \
  "$policy_name [\"Warn\",\"Audit\"] [{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"kubernetes.io/metadata.name\",\"operator\":\"In\",\"values\":[\"team-payments\",\"team-search\"]}]}}]"
expect "two releases of one name in two namespaces: names differ by namespace" \
  "$(show admission-policy.yaml --namespace team-a | query - '{.metadata.name}' | sort -u)" "ssm-contacts-operator-team-a-tenancy"
expect "admissionPolicy.enabled=false: no policy, no binding" \
  "$(render --skip-tests --set admissionPolicy.enabled=false | grep -c 'ValidatingAdmissionPolicy' || true)" 0

echo "== helm test hook"
# Every object of the release that is a helm test hook: with the default values and nondefault.
hooks() { query "$1" '{.kind}:{.metadata.name}:{.metadata.annotations.helm\.sh/hook}' | grep ':test$' | sort | tr '\n' ' '; }
render >"$tmp/tests-default.yaml"
render -f "$nondefault" >"$tmp/tests-nondefault.yaml"
expect "test objects: the Pod alone, a helm.sh/hook=test (no ServiceAccount, no RBAC)" \
  "$(hooks "$tmp/tests-default.yaml")" "Pod:ssm-contacts-operator-test:test "
expect "nondefault: the same test objects" "$(hooks "$tmp/tests-nondefault.yaml")" "Pod:ssm-contacts-operator-test:test "
if [[ -e "$chart/templates/tests/rbac.yaml" ]]; then fail "no test RBAC template (templates/tests/rbac.yaml)"; else pass "no test RBAC template (templates/tests/rbac.yaml)"; fi
show tests/test-operator.yaml >"$tmp/test-pod-default.yaml"
show tests/test-operator.yaml -f "$nondefault" >"$tmp/test-pod-nondefault.yaml"
expect "test hook: deleted on success and before the next run, kept after a failure" \
  "$(query "$tmp/test-pod-default.yaml" '{.metadata.annotations.helm\.sh/hook-delete-policy}')" "before-hook-creation,hook-succeeded"
for values in default nondefault; do
  file="$tmp/test-pod-$values.yaml"
  restricted_pod "$values: test Pod" "$values: test Pod is restricted (non-root, RuntimeDefault, no escalation, read-only root, drop ALL, nothing host), restartPolicy Never" \
    "$file" .spec ' {.spec.restartPolicy}' ' Never'
  # restricted_pod looks at the first container; the init container has the same context.
  expect "$values: test Pod: the init container has the operator container's security context" \
    "$(query "$file" '{.spec.initContainers[0].securityContext}')" "$(query "$tmp/deploy-$values.yaml" '{.spec.template.spec.containers[0].securityContext}')"
  expect "$values: test Pod: no ServiceAccount token (it asks the Kubernetes API nothing), the default ServiceAccount" \
    "$(query "$file" '{.spec.automountServiceAccountToken} [{.spec.serviceAccountName}]')" "false []"
  operator_image=$(query "$tmp/deploy-$values.yaml" '{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].imagePullPolicy}')
  expect "$values: test Pod: both containers run the operator's image with its pull policy ($operator_image)" \
    "$(query "$file" '{range .spec.initContainers[*]}{.image} {.imagePullPolicy}{"\n"}{end}{range .spec.containers[*]}{.image} {.imagePullPolicy}{"\n"}{end}' | grep . | sort -u)" "$operator_image"
  expect "$values: test Pod: the image's entrypoint (no command), the operator's pull secrets" \
    "$(query "$file" '[{.spec.initContainers[*].command}{.spec.containers[*].command}] {.spec.imagePullSecrets}')" \
    "[] $(query "$tmp/deploy-$values.yaml" '{.spec.template.spec.imagePullSecrets}')"
done
expect "nondefault: the test Pod's image is the operator's, pinned by image.digest" \
  "$(query "$tmp/test-pod-nondefault.yaml" '{.spec.containers[0].image}')" \
  "registry.example.com/platform/ssm-contacts-operator@sha256:4f5a2b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809102"
expect "image.tag: the test Pod's image follows it" \
  "$(show tests/test-operator.yaml --set image.tag=9.9.9 | query - '{.spec.initContainers[0].image} {.spec.containers[0].image}')" \
  "ghcr.io/oncall-dev/ssm-contacts-operator:9.9.9 ghcr.io/oncall-dev/ssm-contacts-operator:9.9.9"
checks='{range .spec.initContainers[*]}init {.name}: {.args}{"\n"}{end}{range .spec.containers[*]}{.name}: {.args}{"\n"}{end}'
service=ssm-contacts-operator-metrics.ssm-contacts-operator.svc
expect "test Pod: healthcheck GETs /readyz on the Service's health port (12 attempts, 5 s apart), then /metrics on its metrics port" \
  "$(query "$tmp/test-pod-default.yaml" "$checks")" \
  "init readyz: [\"healthcheck\",\"--url\",\"http://$service:8081/readyz\",\"--attempts\",\"12\",\"--interval\",\"5s\"]
metrics: [\"healthcheck\",\"--url\",\"http://$service:8080/metrics\"]"
expect "test Pod: the URLs name the Service's own ports (service.port, health.port)" \
  "$(show service.yaml | query - '{.metadata.name}.{.metadata.namespace}.svc:{.spec.ports[?(@.name=="health")].port} {.metadata.name}.{.metadata.namespace}.svc:{.spec.ports[?(@.name=="metrics")].port}')" \
  "$(query "$tmp/test-pod-default.yaml" '{.spec.initContainers[0].args[2]} {.spec.containers[0].args[2]}' | sed -E 's#http://([^/]+)/[a-z]+#\1#g')"
expect "nondefault: the test URLs follow service.port (9090) and health.port (9101)" \
  "$(query "$tmp/test-pod-nondefault.yaml" '{.spec.initContainers[0].args[2]} {.spec.containers[0].args[2]}')" \
  "http://$service:9101/readyz http://$service:9090/metrics"
# No image other than the operator's in any render: the test Pod's, the Deployment's, any
# init container's, with the default values, nondefault and every optional object on.
# (Go templates: jsonpath cannot range over a field an object lacks.)
images='{{with .spec}}{{with .template}}{{range .spec.initContainers}}{{.image}}{{"\n"}}{{end}}{{range .spec.containers}}{{.image}}{{"\n"}}{{end}}{{end}}{{range .initContainers}}{{.image}}{{"\n"}}{{end}}{{range .containers}}{{.image}}{{"\n"}}{{end}}{{end}}'
for values in default nondefault all; do
  case $values in
    default) args=() ;;
    nondefault) args=(-f "$nondefault") ;;
    all) args=(-f "$nondefault" --set prometheusRule.enabled=true,grafanaDashboard.enabled=true) ;;
  esac
  want=$(render "${args[@]}" --show-only templates/deployment.yaml | image_of -)
  got=$(render "${args[@]}" | gquery - "$images" | grep . | sort | uniq -c | sed -E 's/^ *//')
  expect "$values: no image but the operator's ($want) in the render, hooks included (Deployment and test Pod's two containers)" "$got" "3 $want"
done
# The test Pod must never be selected by the operator's Deployment, Service, PDB or
# NetworkPolicy, which all use the Deployment's selector labels.
test_labels=" $(gquery "$tmp/test-pod-default.yaml" '{{range $k, $v := .metadata.labels}}{{$k}}={{$v}} {{end}}')"
selected=yes
for pair in $(gquery "$tmp/deploy-default.yaml" '{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}} {{end}}'); do
  [[ "$test_labels" == *" $pair "* ]] || selected=no
done
expect "test Pod labels do not match the operator's selector" "$selected" no
expect "test.enabled=false: no test objects" "$(render --set test.enabled=false | grep -c 'helm.sh/hook' || true)" 0

echo "== Chart.yaml"
crd_name=$(query "$chart/files/crds/contactchannelactivations.yaml" '{.metadata.name}')
"$helm" show chart "$chart" >"$tmp/Chart.yaml"
kube_version=$(sed -nE "s/^kubeVersion: ['\"]?([^'\"]*)['\"]?\$/\\1/p" "$tmp/Chart.yaml")
if [[ "$kube_version" =~ ^\>=1\.([0-9]+)\.0-0$ ]]; then
  pass "kubeVersion is a lower bound admitting pre-release builds ($kube_version)"
  min_minor=${BASH_REMATCH[1]}
  if render --kube-version "v1.$min_minor.5-eks-3025e55" >/dev/null 2>&1; then pass "renders for v1.$min_minor.5-eks-3025e55"; else fail "renders for v1.$min_minor.5-eks-3025e55"; fi
  if render --kube-version "v1.$((min_minor - 1)).9" >/dev/null 2>"$tmp/kube.log"; then fail "refuses Kubernetes v1.$((min_minor - 1)).9"; else pass "refuses Kubernetes v1.$((min_minor - 1)).9"; fi
  # The Kubernetes versions the tests build (tools/testenv/build.sh --list: "1.Y v1.Y.Z" lines)
  # must all be admitted, and the oldest of them is the chart's minimum: the chart claims
  # neither less nor more than what is tested. A build.sh with a single pin (kube_version=)
  # only has its version checked.
  matrix=$(bash "$root/tools/testenv/build.sh" --list 2>/dev/null | grep -xE '1\.[0-9]+ v1\.[0-9]+\.[0-9]+' || true)
  if [[ -z $matrix ]]; then
    matrix=$(sed -nE 's/^kube_version=v1\.([0-9]+)(\.[0-9]+)$/1.\1 v1.\1\2/p' "$root/tools/testenv/build.sh")
    single=yes
  else
    single=no
  fi
  if [[ -z $matrix ]]; then
    fail "find the Kubernetes versions tools/testenv/build.sh builds"
  else
    while read -r _ version; do
      if render --kube-version "$version" >/dev/null 2>&1; then pass "renders for the tested Kubernetes $version"; else fail "renders for the tested Kubernetes $version"; fi
    done <<<"$matrix"
    if [[ $single == no ]]; then
      expect "kubeVersion's minimum is the oldest Kubernetes the tests build" "1.$min_minor" "$(head -n 1 <<<"$matrix" | cut -d' ' -f1)"
    fi
  fi
else
  fail "kubeVersion is '>=1.N.0-0': got '$kube_version'"
fi
home=$(sed -nE "s/^home: ['\"]?([^'\"]*)['\"]?\$/\\1/p" "$tmp/Chart.yaml")
owner=$(show deployment.yaml | image_of - | sed -nE 's#^ghcr\.io/([^/]+)/.*#\1#p')
expect "home is the project's GitHub URL (owner as in the default image, $owner)" "$home" "https://github.com/$owner/ssm-contacts-operator"
expect "sources lists the project URL" "$(sed -n '/^sources:/,/^[a-z]/p' "$tmp/Chart.yaml" | grep -c -- "- $home\$")" 1
# Artifact Hub annotations are YAML inside strings: let helm itself parse them, in a scratch
# copy of the chart with one more template that prints what lint needs as a ConfigMap.
scratch="$tmp/scratch/ssm-contacts-operator"
mkdir -p "$tmp/scratch"
cp -R "$chart" "$scratch"
rm -rf "$scratch/templates"/*
mkdir -p "$scratch/lint"
cp "$chart/values.schema.json" "$scratch/lint/schema.json"
cat >"$scratch/templates/lint.yaml" <<'TEMPLATE'
{{- define "lint.walk" -}}
{{- /* values keys that values.schema.json does not declare, and declared objects left open */ -}}
{{- $schema := .schema }}
{{- if and (kindIs "map" .value) (hasKey $schema "properties") }}
{{- if ne (toString (dig "additionalProperties" "unset" $schema)) "false" }}open:{{ .path }} {{ end }}
{{- range $key, $child := .value }}
{{- if hasKey $schema.properties $key }}
{{- include "lint.walk" (dict "value" $child "schema" (index $schema.properties $key) "path" (printf "%s.%s" $.path $key)) }}
{{- else }}undeclared:{{ $.path }}.{{ $key }} {{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- $a := .Chart.Annotations }}
{{- $links := list }}
{{- range index $a "artifacthub.io/links" | default "[]" | fromYamlArray }}
{{- $links = append $links (printf "%s=%s" .name .url) }}
{{- end }}
{{- $crds := list }}
{{- range index $a "artifacthub.io/crds" | default "[]" | fromYamlArray }}
{{- $crds = append $crds (printf "%s/%s/%s/%s/%s" .kind .version .name (ternary "displayName" "" (ne (.displayName | default "") "")) (ternary "description" "" (ne (.description | default "") ""))) }}
{{- end }}
{{- $examples := list }}
{{- range index $a "artifacthub.io/crdsExamples" | default "[]" | fromYamlArray }}
{{- $examples = append $examples (printf "%s/%s/%s:%s:%s" .apiVersion .kind .metadata.name (keys .spec | sortAlpha | join ",") .spec.contactChannelId) }}
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: lint
data:
  license: {{ index $a "artifacthub.io/license" | default "" | quote }}
  operator: {{ index $a "artifacthub.io/operator" | default "" | quote }}
  prerelease: {{ index $a "artifacthub.io/prerelease" | default "" | quote }}
  containsSecurityUpdates: {{ index $a "artifacthub.io/containsSecurityUpdates" | default "" | quote }}
  links: {{ join " " $links | quote }}
  crds: {{ join " " $crds | quote }}
  examples: {{ join " " $examples | quote }}
  schema: {{ include "lint.walk" (dict "value" .Values "schema" (.Files.Get "lint/schema.json" | fromJson) "path" "") | quote }}
TEMPLATE
"$helm" template lint "$scratch" --show-only templates/lint.yaml >"$tmp/lint-cm.yaml" || fail "parse the Artifact Hub annotations"
data() { query "$tmp/lint-cm.yaml" "{.data.$1}"; }
crd_kind=$(query "$chart/files/crds/contactchannelactivations.yaml" '{.spec.names.kind}')
crd_group=$(query "$chart/files/crds/contactchannelactivations.yaml" '{.spec.group}')
crd_versions=$(query "$chart/files/crds/contactchannelactivations.yaml" '{range .spec.versions[?(@.served==true)]}{.name} {end}')
license=$(sed -nE 's/^license = "([^"]+)"$/\1/p' "$root/Cargo.toml")
expect "artifacthub.io/license is the project's license (Cargo.toml: $license)" "$(data license)" "$license"
expect "artifacthub.io/operator" "$(data operator)" "true"
if [[ $crd_versions =~ (alpha|beta) ]]; then want_prerelease=true; else want_prerelease=false; fi
expect "artifacthub.io/prerelease follows the CRD's served versions ($crd_versions)" "$(data prerelease)" "$want_prerelease"
if [[ $(data containsSecurityUpdates) =~ ^(true|false)$ ]]; then pass "artifacthub.io/containsSecurityUpdates is \"true\" or \"false\""; else fail "artifacthub.io/containsSecurityUpdates is \"true\" or \"false\": got '$(data containsSecurityUpdates)'"; fi
if [[ " $(data links) " == *"=$home "* ]] && ! [[ " $(data links) " =~ =[^h\ ]|=http:// ]]; then pass "artifacthub.io/links: https URLs, the project among them"; else fail "artifacthub.io/links: https URLs, the project among them: $(data links)"; fi
expect "artifacthub.io/crds lists the CRD (kind, served version, name, displayName, description)" "$(data crds)" \
  "$(for v in $crd_versions; do printf '%s/%s/%s/displayName/description\n' "$crd_kind" "$v" "$crd_name"; done | paste -sd' ')"
examples=$(data examples)
expect "artifacthub.io/crdsExamples: one $crd_kind of the CRD's group and version" "$(echo "$examples" | cut -d: -f1)" \
  "$crd_group/$(echo "$crd_versions" | cut -d' ' -f1)/$crd_kind/oncall-primary-sms"
spec_fields=$(query "$chart/files/crds/contactchannelactivations.yaml" '{.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties}' | grep -oE '"[A-Za-z]+":\{' | tr -d '":{' | sort | tr '\n' ' ')
unknown=""
for field in $(echo "$examples" | cut -d: -f2 | tr ',' ' '); do [[ " $spec_fields" == *" $field "* ]] || unknown+="$field "; done
expect "artifacthub.io/crdsExamples: spec fields exist in the CRD" "$unknown" ""
arn=$(echo "$examples" | cut -d: -f3- | sed 's/ $//')
checked=0
while IFS= read -r rule; do
  [[ $rule =~ ^self\.matches\(\'(.*)\'\)$ ]] || continue
  regex=${BASH_REMATCH[1]//\\\\/\\}
  checked=$((checked + 1))
  if printf '%s\n' "$arn" | grep -Pq -- "$regex"; then pass "crdsExamples ARN matches the CRD rule $regex"; else fail "crdsExamples ARN '$arn' matches the CRD rule $regex"; fi
done < <(query "$chart/files/crds/contactchannelactivations.yaml" '{range .spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.contactChannelId.x-kubernetes-validations[*]}{.rule}{"\n"}{end}')
[[ $checked -gt 0 ]] || fail "the CRD has a self.matches(...) rule on contactChannelId to check the example against"

echo "== values.schema.json"
expect "every value in values.yaml is declared, and every declared object refuses unknown keys" "$(data schema)" ""

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
refuse "a malformed image.digest" --set image.digest=latest
refuse "test.image (removed: the test Pod runs the operator's image)" --set test.image.repository=docker.io/curlimages/curl
refuse "metrics.port 0" --set metrics.port=0
refuse "health.port 65536" --set health.port=65536
refuse "a non-integer metrics.port" --set metrics.port=http
refuse "metrics.port removed" --set metrics.port=null
refuse "metrics.port equal to health.port" --set metrics.port=8081
refuse "service.port equal to health.port (two ports of one Service)" --set service.port=8081
refuse "a probe period of 0" --set livenessProbe.periodSeconds=0
refuse "an unknown probe field" --set readinessProbe.successThreshold=2
refuse "an extraVolumeMount without mountPath" --set 'extraVolumeMounts[0].name=ca'
refuse "an extraVolume without name" --set 'extraVolumes[0].emptyDir.medium=Memory'
refuse "an unknown whenUnsatisfiable" --set 'topologySpreadConstraints[0].maxSkew=1,topologySpreadConstraints[0].topologyKey=zone,topologySpreadConstraints[0].whenUnsatisfiable=Sometimes'
refuse "the old networkPolicy.egress list" --set 'networkPolicy.egress[0].ports[0].port=53'
refuse "a non-boolean networkPolicy.imds.enabled" --set networkPolicy.imds.enabled=maybe
refuse "an unknown rbac key" --set rbac.create=true
refuse "validationActions Deny and Warn together" --set 'admissionPolicy.validationActions={Deny,Warn}'
refuse "an unknown validationAction" --set 'admissionPolicy.validationActions={Block}'
refuse "an empty validationActions" --set 'admissionPolicy.validationActions={}'
refuse "validationActions removed" --set 'admissionPolicy.validationActions=null'
refuse "a non-boolean admissionPolicy.enabled" --set admissionPolicy.enabled=maybe
refuse "a non-boolean activation.secrets.enabled" --set activation.secrets.enabled=maybe
refuse "an unknown activation key" --set activation.codes=true
refuse "activation.secrets.enabled removed" --set activation.secrets.enabled=null
refuse "a strategy other than Recreate without leader election" --set leaderElection.enabled=false --set strategy.type=RollingUpdate
refuse "an unknown strategy type" --set strategy.type=BlueGreen
refuse "a negative revisionHistoryLimit" --set revisionHistoryLimit=-1
refuse "a non-boolean hostUsers" --set hostUsers=maybe
refuse "a non-string extraArgs entry" --set 'extraArgs[0].flag=x'
refuse "a non-string commonLabels value" --set commonLabels.team.name=x
refuse "an unknown aws.credentials key" --set aws.credentials.profile=default
refuse "an aws.credentials.secretName that is no Secret name" --set aws.credentials.secretName=Bad_Name
refuse "a non-boolean automountServiceAccountToken" --set automountServiceAccountToken=maybe
refuse "a non-boolean crds.enabled" --set crds.enabled=maybe
refuse "an extraObjects entry that is neither a map nor a string" --set 'extraObjects[0]=1'
refuse "a non-boolean serviceMonitor.honorLabels" --set serviceMonitor.honorLabels=maybe
refuse "serviceMonitor.relabelings that is not a list of maps" --set 'serviceMonitor.relabelings={drop}'
refuse "an unknown prometheusRule key" --set prometheusRule.labels.release=x
refuse "a grafanaDashboard.namespace that is no namespace" --set grafanaDashboard.namespace=Monitoring_NS
refuse "an empty grafanaDashboard.sidecarLabel" --set grafanaDashboard.sidecarLabel=

echo "== chart README (helm-docs)"
if bash "$root/scripts/chart-docs.sh" --check "$chart" >"$tmp/docs.log" 2>&1; then pass "$(tail -n 1 "$tmp/docs.log")"; else cat "$tmp/docs.log"; fail "scripts/chart-docs.sh --check"; fi

echo
if [[ $failures -gt 0 ]]; then
  echo "lint-chart: $failures check(s) failed" >&2
  exit 1
fi
echo "lint-chart: all checks passed"
