{{/* The application's name: nameOverride or the chart's. */}}
{{- define "canary-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of the release's objects: fullnameOverride, or the release
name with the application's name unless it already contains it. */}}
{{- define "canary-guard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "canary-guard.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "canary-guard.labels" -}}
app.kubernetes.io/name: {{ include "canary-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The webhook rules and selectors both configurations share. */}}
{{- define "canary-guard.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
rules:
- apiGroups: ["serving.kserve.io"]
  apiVersions: ["v1beta1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["inferenceservices"]
  scope: Namespaced
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | toJson }}
  - key: {{ .Values.webhook.optOutLabel }}
    operator: DoesNotExist
{{- with .Values.webhook.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "canary-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canary-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "canary-guard.serviceAccountName" -}}
{{- default (include "canary-guard.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Secret holding the serving certificate (both certificate modes). */}}
{{- define "canary-guard.certSecret" -}}
{{- printf "%s-tls" (include "canary-guard.fullname" .) -}}
{{- end -}}

{{- define "canary-guard.metadata" -}}
labels:
  {{- include "canary-guard.labels" . | nindent 2 }}
  {{- with .Values.commonLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* cert-manager's CA injection annotation for the webhook configurations. */}}
{{/* config.yaml as the ConfigMap holds it (a block scalar keeps one final
newline), and its revision as canary-guard computes it: the first 16 hex
digits of its SHA-256. */}}
{{- define "canary-guard.configYAML" -}}
{{- toYaml .Values.config -}}
{{- end -}}

{{- define "canary-guard.configRevision" -}}
{{- printf "%s\n" (include "canary-guard.configYAML" .) | sha256sum | trunc 16 -}}
{{- end -}}

{{- define "canary-guard.injectCA" -}}
{{- if eq .Values.certs.mode "cert-manager" -}}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "canary-guard.fullname" .) }}
{{- end -}}
{{- end -}}

{{/* matchConditions both webhooks share: the API server does not call
canary-guard for updates it must never block, so they pass even while it is
down: the KServe controller's finalizer removal on an object being deleted,
and updates that change neither spec, labels nor annotations. */}}
{{- define "canary-guard.matchConditions" -}}
- name: not-being-deleted
  expression: "!has(object.metadata.deletionTimestamp)"
- name: changes-spec-or-metadata
  expression: >-
    request.operation != 'UPDATE'
    || object.spec != oldObject.spec
    || object.metadata.?labels.orValue({}) != oldObject.metadata.?labels.orValue({})
    || object.metadata.?annotations.orValue({}) != oldObject.metadata.?annotations.orValue({})
{{- with .Values.webhook.matchConditions }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The deployment mode as canary-guard resolves it (resolveMode in
policy/facts.go), as a CEL expression: the old object's status, else the new
object's annotation, else the old one's, else the default of the request's
namespace. Names KServe does not know are passed over, as there. */}}
{{- define "canary-guard.modeCEL" -}}
{{- $modes := "['Knative', 'Serverless', 'Standard', 'RawDeployment', 'ModelMesh']" -}}
(oldObject.?status.?deploymentMode.orValue('') in {{ $modes }} ? oldObject.status.deploymentMode
: object.metadata.?annotations[?'serving.kserve.io/deploymentMode'].orValue('') in {{ $modes }}
? object.metadata.annotations['serving.kserve.io/deploymentMode']
: oldObject.metadata.?annotations[?'serving.kserve.io/deploymentMode'].orValue('') in {{ $modes }}
? oldObject.metadata.annotations['serving.kserve.io/deploymentMode']
: {{ include "canary-guard.defaultModeCEL" . }})
{{- end -}}

{{/* The default deployment mode of the request's namespace, as a CEL
expression: the first namespace entry that matches sets it (or inherits the
top level's), as canary-guard reads its configuration. */}}
{{- define "canary-guard.defaultModeCEL" -}}
{{- $top := .Values.config.defaultDeploymentMode | default "Knative" -}}
{{- range .Values.config.namespaces -}}
request.namespace.matches('{{ include "canary-guard.namespaceRE" .match }}') ? '{{ .defaultDeploymentMode | default $top }}' : {{ end -}}
'{{ $top }}'
{{- end -}}

{{/* As JSON, in "cel" whether canary-guard lets the request through
whatever the rules say, as a CEL expression: the request's namespace entry
(first match wins, inheriting the top-level keys it does not set, in exempt
users and groups one by one) puts it in warn or audit mode, or its user or
one of its groups is exempt. Those requests go to a validating webhook
that fails open: while canary-guard is down it would not have refused them
anyway. In "any" whether some entry or the top level lets anything
through (else the expression is false for every request). */}}
{{- define "canary-guard.unenforced" -}}
{{- $ns := include "canary-guard.namespaceSettings" . | fromJson -}}
{{- $topRule := include "canary-guard.unenforcedRuleCEL" $ns.top -}}
{{- $any := ne $topRule "false" -}}
{{- $cel := "" -}}
{{- range $ns.entries -}}
{{- $rule := include "canary-guard.unenforcedRuleCEL" . -}}
{{- if ne $rule "false" }}{{ $any = true }}{{ end -}}
{{- $cel = printf "%srequest.namespace.matches('%s') ? %s : " $cel .re $rule -}}
{{- end -}}
{{- dict "cel" (printf "%s%s" $cel $topRule) "any" $any | toJson -}}
{{- end -}}

{{- define "canary-guard.unenforcedRuleCEL" -}}
{{- if has .enforcement (list "warn" "audit") -}}
true
{{- else if or .exemptUsers .exemptGroups -}}
(request.userInfo.username in {{ .exemptUsers | toJson }} || request.userInfo.?groups.orValue([]).exists(g, g in {{ .exemptGroups | toJson }}))
{{- else -}}
false
{{- end -}}
{{- end -}}

{{/* A namespace glob of the configuration (*, ?) as an anchored regular
expression, escaped for a single-quoted CEL string. */}}
{{- define "canary-guard.namespaceRE" -}}
{{- printf "^%s$" (. | replace "." "\\\\." | replace "*" ".*" | replace "?" ".") -}}
{{- end -}}

{{/* One namespace rule of the backstop as a CEL map, from its settings
(namespaceSettings). CEL literals must be homogeneous: every value is a
list of strings, the regular expression, applies ('true' where canary-guard
would inject the canary and enforce, else 'false'), the initial percent and
midRolloutModelChange lists of one. Names are JSON strings, which are CEL
string literals too, quotes and all. */}}
{{- define "canary-guard.backstopRule" -}}
{{- $applies := and (eq .enforcement "enforce") (eq .onModelChange "inject") -}}
{'re': ['{{ .re }}'], 'applies': ['{{ $applies }}'], 'initial': ['{{ .initialCanaryPercent }}'], 'midRollout': ['{{ .midRolloutModelChange }}'], 'exemptUsers': {{ .exemptUsers | toJson }}, 'exemptGroups': {{ .exemptGroups | toJson }}, 'overrideGroups': {{ .overrideGroups | toJson }}}
{{- end -}}

{{/* As JSON, the settings the webhooks' conditions and the backstop read,
resolved as canary-guard resolves its configuration: in "top" the top
level's, in "entries" each namespace entry's in order (first match wins),
each inheriting the top-level keys it does not set (exempt users and groups
one by one), with "re" its glob as a regular expression. */}}
{{- define "canary-guard.namespaceSettings" -}}
{{- $top := .Values.config -}}
{{- $topExempt := $top.exempt | default dict -}}
{{- $topOverride := $top.override | default dict -}}
{{- $topSettings := dict "re" ""
  "enforcement" ($top.enforcement | default "enforce")
  "onModelChange" ($top.onModelChange | default "inject")
  "initialCanaryPercent" ($top.initialCanaryPercent | default 10)
  "midRolloutModelChange" ($top.midRolloutModelChange | default "restart")
  "exemptUsers" ($topExempt.users | default list)
  "exemptGroups" ($topExempt.groups | default list)
  "overrideGroups" ($topOverride.groups | default list) -}}
{{- $entries := list -}}
{{- range $top.namespaces -}}
{{- $e := dict "re" (include "canary-guard.namespaceRE" .match)
  "enforcement" (.enforcement | default $topSettings.enforcement)
  "onModelChange" (.onModelChange | default $topSettings.onModelChange)
  "initialCanaryPercent" (.initialCanaryPercent | default $topSettings.initialCanaryPercent)
  "midRolloutModelChange" (.midRolloutModelChange | default $topSettings.midRolloutModelChange)
  "exemptUsers" $topSettings.exemptUsers
  "exemptGroups" $topSettings.exemptGroups
  "overrideGroups" $topSettings.overrideGroups -}}
{{- with .exempt }}{{- if hasKey . "users" }}{{ $_ := set $e "exemptUsers" (.users | default list) }}{{ end }}{{- if hasKey . "groups" }}{{ $_ := set $e "exemptGroups" (.groups | default list) }}{{ end }}{{- end -}}
{{- with .override }}{{- if hasKey . "groups" }}{{ $_ := set $e "overrideGroups" (.groups | default list) }}{{ end }}{{- end -}}
{{- $entries = append $entries $e -}}
{{- end -}}
{{- dict "top" $topSettings "entries" $entries | toJson -}}
{{- end -}}

{{/*
Whether the predictor's model{} of "object" or "oldObject" asks for a GPU,
as KServe's utils.IsGPUEnabled reads its limits: nvidia.com/gpu or a MIG
profile. KServe runs TensorFlow Serving, TorchServe, the Hugging Face server
and vLLM from another image when this changes, so it is a model change.
*/}}
{{- define "canary-guard.gpuEnabled" -}}
{{ . }}.spec.predictor.model.?resources.?limits.orValue({}).exists(r, r == 'nvidia.com/gpu' || r.startsWith('nvidia.com/mig'))
{{- end -}}

{{/* not-a-rollback, on both webhooks: see the comment inside. */}}
{{- define "canary-guard.notARollback" -}}
# A rollback is never blocked, not even by a webhook that is down while
# failurePolicy is Fail: the API server calls neither webhook at all
# for an update that only takes traffic away from canaries and changes
# nothing else in the spec nor any internal annotation:
# - in Knative mode (and in ModelMesh mode with a transformer, which
#   KServe rolls out as in Knative mode), a predictor, transformer or
#   explainer whose canaryTrafficPercent goes to 0 (the rollback) or
#   lower, all its other fields unchanged (but for the
#   automountServiceAccountToken: false KServe's defaulter adds where its
#   configuration turns the token off);
# - spec.canary[] entries removed (the Standard-mode rollback) or their
#   trafficPercent lowered, each entry's predictor unchanged;
# and every component's percent, old and new, within 0..100 (anything
# else is no percent, and never always admitted).
# Anything more is canary-guard's to decide: a model change at 0 %, and
# any other Standard-mode update, where KServe ignores the percent and 0
# is no rollback. canary-guard itself always admits all of these.
# Beside kserve-predictiveserver (named, else the runtime the stored status
# says KServe selected), the modelFormat annotation stays too, as
# KServe's defaulter leaves it (written from the name where absent): it is
# that runtime's --framework, a model change. Elsewhere nothing reads it,
# and a rollback that leaves it out or finds it stale still passes.
# With keepStamp (the mutating webhook, where a step interval is configured
# and the webhook fails open), a rollback that changes canary-guard's step
# stamp still reaches it, which puts the stamp back: stored as sent, a
# back-dated or removed stamp would let the next rise skip the interval.
{{- $components := "['predictor', 'transformer', 'explainer']" }}
{{- /* KServe's defaulter rewrites these on every update of an InferenceService
whose predictor has a storage URI (setLocalModelLabel); elsewhere they reach
the pods as written and must not change in a rollback. */}}
{{- $localModel := "['internal.serving.kserve.io/localmodel-sourceuri', 'internal.serving.kserve.io/localmodel-pvc-name']" }}
{{- $localModelLabels := "['internal.serving.kserve.io/localmodel', 'internal.serving.kserve.io/localmodel-namespace']" }}
- name: not-a-rollback
  expression: >-
    !(request.operation == 'UPDATE'
    && object.spec.all(k, k in {{ $components }} || k == 'canary' || (k in oldObject.spec && object.spec[k] == oldObject.spec[k]))
    && oldObject.spec.all(k, k in {{ $components }} || k == 'canary' || k in object.spec)
    && {{ $components }}.all(c, (c in object.spec) == (c in oldObject.spec) && (!(c in object.spec)
    || object.spec[c].?canaryTrafficPercent.orValue(0) >= 0 && object.spec[c].?canaryTrafficPercent.orValue(0) <= 100
    && oldObject.spec[c].?canaryTrafficPercent.orValue(0) >= 0 && oldObject.spec[c].?canaryTrafficPercent.orValue(0) <= 100
    && (object.spec[c] == oldObject.spec[c]
    || (object.spec[c].all(k, k == 'canaryTrafficPercent' || (k in oldObject.spec[c] && object.spec[c][k] == oldObject.spec[c][k])
    || k == 'automountServiceAccountToken' && object.spec[c][k] == false && !(k in oldObject.spec[c]))
    && oldObject.spec[c].all(k, k == 'canaryTrafficPercent' || k in object.spec[c])
    && (object.spec[c].?canaryTrafficPercent.orValue(-1) == 0
    || (object.spec[c].?canaryTrafficPercent.orValue(-1) > 0 && object.spec[c].?canaryTrafficPercent.orValue(-1) < oldObject.spec[c].?canaryTrafficPercent.orValue(-1)
    && oldObject.spec[c].?canaryTrafficPercent.orValue(-1) <= 100))))))
    && object.spec.?canary.orValue([]).all(e, oldObject.spec.?canary.orValue([]).exists(o,
    e.all(k, k == 'trafficPercent' || (k in o && e[k] == o[k])) && o.all(k, k == 'trafficPercent' || k in e)
    && e.?trafficPercent.orValue(-1) >= 0 && e.?trafficPercent.orValue(-1) <= o.?trafficPercent.orValue(-1)))
    && (object.spec.?canary.orValue([]) != oldObject.spec.?canary.orValue([])
    || {{ $components }}.exists(c, c in object.spec && object.spec[c] != oldObject.spec[c])
    && {{- include "canary-guard.modeCEL" .root | nindent 4 }}
    in ('transformer' in object.spec ? ['Knative', 'Serverless', 'ModelMesh'] : ['Knative', 'Serverless']))
    && object.metadata.?annotations.orValue({}).all(k, !k.startsWith('internal.serving.kserve.io/') || k in {{ $localModel }}
    || (k in oldObject.metadata.?annotations.orValue({}) && oldObject.metadata.annotations[k] == object.metadata.annotations[k]))
    && oldObject.metadata.?annotations.orValue({}).all(k, !k.startsWith('internal.serving.kserve.io/') || k in {{ $localModel }}
    || k in object.metadata.?annotations.orValue({}))
    && ({{ include "canary-guard.hasStorageUriCEL" "object" | nindent 4 }}
    || {{ include "canary-guard.hasStorageUriCEL" "oldObject" | nindent 4 }}
    || {{ $localModel }}.all(k, object.metadata.?annotations[?k] == oldObject.metadata.?annotations[?k])
    && {{ $localModelLabels }}.all(k, object.metadata.?labels[?k] == oldObject.metadata.?labels[?k]))
    && (object.spec.?predictor.?model.?runtime.orValue(oldObject.?status.?clusterServingRuntimeName.orValue(
    oldObject.?status.?servingRuntimeName.orValue(''))) != 'kserve-predictiveserver'
    || object.metadata.?annotations[?'modelFormat'].orValue(object.spec.?predictor.?model.?modelFormat.?name.orValue(''))
    == oldObject.metadata.?annotations[?'modelFormat'].orValue(oldObject.spec.?predictor.?model.?modelFormat.?name.orValue('')))
    {{- if .keepStamp }}
    && object.metadata.?annotations[?'canary-guard.dev/step-at'] == oldObject.metadata.?annotations[?'canary-guard.dev/step-at']
    {{- end }})
{{- end -}}

{{/* The predictor's storage URI of the object named by the argument, as a
CEL expression: a legacy framework block's, else model{}'s, else ''. */}}
{{- define "canary-guard.storageUriCEL" -}}
{{- $obj := . -}}
{{- range list "sklearn" "tensorflow" "xgboost" "pytorch" "triton" "onnx" "huggingface" "pmml" "lightgbm" "paddle" "model" -}}
has({{ $obj }}.spec.predictor.{{ . }}) && has({{ $obj }}.spec.predictor.{{ . }}.storageUri) ? {{ $obj }}.spec.predictor.{{ . }}.storageUri
: {{ end -}}
''
{{- end -}}

{{/* Whether the predictor of the object named by the argument has a storage
URI, as a CEL expression: a framework block's or model{}'s storageUri, or
the STORAGE_URI env of a custom predictor's kserve-container (what
GetImplementation().GetStorageUri() reads). KServe's defaulter writes the
local model cache keys of such an InferenceService itself. */}}
{{- define "canary-guard.hasStorageUriCEL" -}}
(({{- include "canary-guard.storageUriCEL" . | nindent 0 }}) != ''
|| {{ . }}.spec.predictor.?containers.orValue([]).exists(c, c.?name.orValue('') == 'kserve-container'
&& c.?env.orValue([]).exists(e, e.name == 'STORAGE_URI')))
{{- end -}}

{{/* canary-guard.seconds: a duration of the form the schema allows
(digits and one unit, h, m or s) in seconds. */}}
{{- define "canary-guard.seconds" -}}
{{- $digits := regexFind "^[0-9]+" . -}}
{{- mul ($digits | int64) (get (dict "h" 3600 "m" 60 "s" 1) (trimPrefix $digits .)) -}}
{{- end -}}

{{/* canary-guard.checkCertTimings refuses certificate timings that would
keep every replica from starting (self-managed: canary-guard serve exits on
them) or that cert-manager refuses, while the fail-closed validating webhook
is registered all the same. */}}
{{- define "canary-guard.checkCertTimings" -}}
{{- if eq .Values.certs.mode "self-managed" -}}
{{- $c := .Values.certs.selfManaged -}}
{{- $validity := include "canary-guard.seconds" $c.certValidity | int64 -}}
{{- $ca := include "canary-guard.seconds" $c.caValidity | int64 -}}
{{- $renew := include "canary-guard.seconds" $c.renewBefore | int64 -}}
{{- if le $renew 60 -}}
{{- fail (printf "certs.selfManaged.renewBefore %s must be longer than a minute, the time a new CA is in the webhook configurations before it signs" $c.renewBefore) -}}
{{- end -}}
{{- if le $validity $renew -}}
{{- fail (printf "certs.selfManaged.certValidity %s must be longer than renewBefore %s, or the certificate is due for renewal when issued" $c.certValidity $c.renewBefore) -}}
{{- end -}}
{{- if lt $ca (mul 2 $renew) -}}
{{- fail (printf "certs.selfManaged.caValidity %s must be at least twice renewBefore %s: the CA is rotated renewBefore ahead and stays trusted until it expires" $c.caValidity $c.renewBefore) -}}
{{- end -}}
{{- else if eq .Values.certs.mode "cert-manager" -}}
{{- $c := .Values.certs.certManager -}}
{{- $duration := include "canary-guard.seconds" $c.duration | int64 -}}
{{- $renew := include "canary-guard.seconds" $c.renewBefore | int64 -}}
{{- $ca := include "canary-guard.seconds" $c.caDuration | int64 -}}
{{- if lt $duration 3600 -}}
{{- fail (printf "certs.certManager.duration %s is shorter than an hour, which cert-manager refuses" $c.duration) -}}
{{- end -}}
{{- if and (not $c.issuerRef) (lt $ca 3600) -}}
{{- fail (printf "certs.certManager.caDuration %s is shorter than an hour, which cert-manager refuses" $c.caDuration) -}}
{{- end -}}
{{- if lt $renew 300 -}}
{{- fail (printf "certs.certManager.renewBefore %s is shorter than 5 minutes, which cert-manager refuses" $c.renewBefore) -}}
{{- end -}}
{{- if ge $renew $duration -}}
{{- fail (printf "certs.certManager.renewBefore %s must be shorter than duration %s, which cert-manager requires" $c.renewBefore $c.duration) -}}
{{- end -}}
{{- end -}}
{{- end -}}
