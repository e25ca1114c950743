{{/* Chart name, truncated to the 63-character DNS label limit. */}}
{{- define "llmaudit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llmaudit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "llmaudit.operatorName" -}}{{ include "llmaudit.fullname" . }}-operator{{- end -}}
{{- define "llmaudit.webhookServiceName" -}}{{ include "llmaudit.fullname" . }}-webhook{{- end -}}
{{- define "llmaudit.webhookConfigName" -}}{{ include "llmaudit.fullname" . }}-sidecar-injector{{- end -}}
{{- define "llmaudit.certSecretName" -}}{{ include "llmaudit.fullname" . }}-webhook-tls{{- end -}}
{{- define "llmaudit.leaseName" -}}{{ include "llmaudit.fullname" . }}-operator{{- end -}}

{{- define "llmaudit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llmaudit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llmaudit
{{- end -}}

{{- define "llmaudit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmaudit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* true when rendering for OpenShift: forced by values, else detected from the SCC API. */}}
{{- define "llmaudit.openshift" -}}
{{- $v := .Values.openshift.enabled -}}
{{- if eq (toString $v) "auto" -}}
{{- if .Capabilities.APIVersions.Has "security.openshift.io/v1" -}}true{{- else -}}false{{- end -}}
{{- else -}}
{{- toString $v -}}
{{- end -}}
{{- end -}}

{{/* The webhook's certificate mode; openshift mode is implied on OpenShift unless set otherwise. */}}
{{- define "llmaudit.certMode" -}}
{{- .Values.webhook.certMode -}}
{{- end -}}

{{- define "llmaudit.operatorImage" -}}
{{ .Values.operator.image.repository }}:{{ default .Chart.AppVersion .Values.operator.image.tag }}
{{- end -}}

{{- define "llmaudit.sidecarImage" -}}
{{ .Values.sidecar.image.repository }}:{{ default .Chart.AppVersion .Values.sidecar.image.tag }}
{{- end -}}

{{/*
Pod-level securityContext. On OpenShift the restricted SCC assigns the UID and fsGroup, so none
is fixed here; elsewhere a fixed non-root UID, GID and fsGroup.
*/}}
{{- define "llmaudit.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- if ne (include "llmaudit.openshift" .) "true" }}
runAsUser: 10001
runAsGroup: 10001
# The kubelet writes Secret files as root; fsGroup makes the webhook-tls pair (0440) readable.
fsGroup: 10001
{{- end }}
{{- end -}}

{{- define "llmaudit.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
