{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "ssm-contacts-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name, prefixed to the chart name unless it
already contains it.
*/}}
{{- define "ssm-contacts-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ssm-contacts-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ssm-contacts-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ssm-contacts-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The labels of every object of the release: the chart's own, then `commonLabels` (one whose
key is one of the chart's own is left out: selectors and tooling rely on those).
*/}}
{{- define "ssm-contacts-operator.labels" -}}
{{- $own := include "ssm-contacts-operator.ownLabels" . }}
{{- $own }}
{{- include "ssm-contacts-operator.moreLabels" (dict "labels" .Values.commonLabels "except" ($own | fromYaml)) }}
{{- end }}

{{- define "ssm-contacts-operator.ownLabels" -}}
helm.sh/chart: {{ include "ssm-contacts-operator.chart" . }}
{{ include "ssm-contacts-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: ssm-contacts-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Lines "key: value" for the labels in .labels whose keys are not in .except, each after a
newline. Call with (dict "labels" MAP "except" MAP).
*/}}
{{- define "ssm-contacts-operator.moreLabels" -}}
{{- $except := .except }}
{{- range $key, $value := .labels }}
{{- if not (hasKey $except $key) }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The labels, with more labels of one object (e.g. serviceMonitor.labels) taking precedence
over commonLabels, never over the chart's own. Call with (dict "root" $ "extra" MAP).
*/}}
{{- define "ssm-contacts-operator.labelsWith" -}}
{{- $own := include "ssm-contacts-operator.ownLabels" .root }}
{{- $except := $own | fromYaml }}
{{- $own }}
{{- include "ssm-contacts-operator.moreLabels" (dict "labels" .extra "except" $except) }}
{{- include "ssm-contacts-operator.moreLabels" (dict "labels" .root.Values.commonLabels "except" (merge (dict) $except (default dict .extra))) }}
{{- end }}

{{- define "ssm-contacts-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ssm-contacts-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ssm-contacts-operator.leaseName" -}}
{{- default (include "ssm-contacts-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
An image reference from {repository, tag, digest}: repository@digest when a digest is set
(the tag is then ignored: the digest alone names the bytes), else repository:tag.
Call with (dict "image" .Values.image "defaultTag" .Chart.AppVersion).
*/}}
{{- define "ssm-contacts-operator.imageRef" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .defaultTag .image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "ssm-contacts-operator.image" -}}
{{- include "ssm-contacts-operator.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) }}
{{- end }}

{{/*
Name of a cluster-scoped object of this release (the aggregated ClusterRoles): "<fullname>-<suffix>". With watchNamespaces the same release name may be
installed in several namespaces, so the release namespace goes into the name too.
Call with (dict "root" $ "suffix" "view").
*/}}
{{- define "ssm-contacts-operator.clusterScopedName" -}}
{{- $fullname := include "ssm-contacts-operator.fullname" .root }}
{{- if .root.Values.watchNamespaces }}
{{- printf "%s-%s-%s" $fullname .root.Release.Namespace .suffix }}
{{- else }}
{{- printf "%s-%s" $fullname .suffix }}
{{- end }}
{{- end }}

{{/*
Name of the ValidatingAdmissionPolicy and of its binding: "<fullname>-<release namespace>-tenancy".
Both are cluster-scoped and every release renders its own pair, so the release namespace is
always in the name: two releases of one name in two namespaces never collide.
*/}}
{{- define "ssm-contacts-operator.admissionPolicyName" -}}
{{- printf "%s-%s-tenancy" (include "ssm-contacts-operator.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
Labels of the helm test Pod. app.kubernetes.io/name differs from the operator's, so that
the Deployment, the Service, the PodDisruptionBudget and the NetworkPolicy never select the
test Pod (the NetworkPolicy names it as a peer).
*/}}
{{- define "ssm-contacts-operator.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "ssm-contacts-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ssm-contacts-operator.testLabels" -}}
{{- $own := include "ssm-contacts-operator.ownTestLabels" . }}
{{- $own }}
{{- include "ssm-contacts-operator.moreLabels" (dict "labels" .Values.commonLabels "except" ($own | fromYaml)) }}
{{- end }}

{{- define "ssm-contacts-operator.ownTestLabels" -}}
helm.sh/chart: {{ include "ssm-contacts-operator.chart" . }}
{{ include "ssm-contacts-operator.testSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: test
app.kubernetes.io/part-of: ssm-contacts-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The CRD this chart ships, as text: files/crds/contactchannelactivations.yaml, a byte-identical
copy of the repository's crds/contactchannelactivations.yaml (templates/crds.yaml emits it).
*/}}
{{- define "ssm-contacts-operator.crd" -}}
{{- $text := .Files.Get "files/crds/contactchannelactivations.yaml" }}
{{- if not $text }}
{{- fail "files/crds/contactchannelactivations.yaml is missing from the chart" }}
{{- end }}
{{- $text }}
{{- end }}

{{/*
The name of the CRD this chart ships, read from the CRD file itself so that it is written in
one place.
*/}}
{{- define "ssm-contacts-operator.crdName" -}}
{{- $crd := include "ssm-contacts-operator.crd" . | fromYaml }}
{{- required "files/crds/contactchannelactivations.yaml: no metadata.name" (dig "metadata" "name" "" $crd) }}
{{- end }}

{{/*
The storage version of that CRD: the version the admission policy's rules are written for.
*/}}
{{- define "ssm-contacts-operator.crdStorageVersion" -}}
{{- $crd := include "ssm-contacts-operator.crd" . | fromYaml }}
{{- $storage := "" }}
{{- range (dig "spec" "versions" list $crd) }}
{{- if .storage }}{{ $storage = .name }}{{ end }}
{{- end }}
{{- required "files/crds/contactchannelactivations.yaml: no storage version" $storage }}
{{- end }}

{{/*
The operator's rules on its own resources, in one place so that the ClusterRole (all
namespaces) and the per-namespace Roles (watchNamespaces) cannot drift apart. Exactly what
the operator calls:
- get, list, watch: the controller's watch (list + watch), and a get to re-read an object
  after a conflicting status write (src/status.rs).
- contactchannelactivations/status update: status is written with PUT on the status
  subresource, conditional on resourceVersion (Api::replace_status), also for an object the
  operator cannot deserialize (src/unreadable.rs). Never patched; the main resource is never
  written, so no update/patch on it.
- events.k8s.io events create, patch: the recorder (src/events.rs) creates an Event and patches
  it into a series when the same Event repeats. Neither read nor delete.
- secrets get, list, watch: the Secret named by spec.activationCodeSecretRef is read (get)
  when its code is about to be entered; Secrets labelled ssmcontacts.oncall.dev/activation-code
  are watched for metadata only (list, watch), so a new code is noticed at once. RBAC cannot
  narrow list/watch by label; the operator's watch is narrowed by the label selector and never
  caches Secret data. With activation.secrets.enabled=false the operator neither watches nor
  reads Secrets (SSMC_CODE_SECRETS=false), and this rule goes: no Secret permission at all.
*/}}
{{- define "ssm-contacts-operator.rules" -}}
- apiGroups: ["ssmcontacts.oncall.dev"]
  resources: ["contactchannelactivations"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["ssmcontacts.oncall.dev"]
  resources: ["contactchannelactivations/status"]
  verbs: ["update"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.activation.secrets.enabled }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- end }}

{{/*
Leader election rules (kube-lease-manager 0.13): get and patch on the one Lease, and create
to make it on first start. create cannot be limited by resourceNames (the name is not in the
URL of a POST), so it stays namespace-wide; the Role lives in the release namespace only.
*/}}
{{- define "ssm-contacts-operator.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "ssm-contacts-operator.leaseName" . | quote }}]
  verbs: ["get", "patch"]
{{- end }}

{{/*
Validation that the schema cannot express.
*/}}
{{- define "ssm-contacts-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: without a leader every replica would send, and the global send rate would multiply" }}
{{- end }}
{{- if ge (int .Values.leaderElection.leaseGraceSeconds) (int .Values.leaderElection.leaseDurationSeconds) }}
{{- fail "leaderElection.leaseGraceSeconds must be less than leaderElection.leaseDurationSeconds: the leader renews that long before its Lease expires" }}
{{- end }}
{{- if and (not .Values.leaderElection.enabled) .Values.strategy (ne (toString .Values.strategy.type) "Recreate") }}
{{- fail "strategy: without leaderElection.enabled only type Recreate is accepted: two replicas without a Lease must never run at once" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail "metrics.port and health.port must differ: the chart gives /metrics and the probes a container port each, and opens them to different peers" }}
{{- end }}
{{- if eq (int .Values.service.port) (int .Values.health.port) }}
{{- fail "service.port and health.port must differ: they are the metrics and health ports of the same Service" }}
{{- end }}
{{- if ne (len .Values.watchNamespaces) (len (uniq .Values.watchNamespaces)) }}
{{- fail "watchNamespaces lists a namespace twice" }}
{{- end }}
{{- end }}
