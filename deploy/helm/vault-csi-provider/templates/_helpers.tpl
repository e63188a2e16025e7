{{/* The objects' name: fullnameOverride, else the release name when it holds the chart name, else both. */}}
{{- define "vault-csi-provider.fullname" -}}
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

{{- define "vault-csi-provider.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vault-csi-provider.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vault-csi-provider.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vault-csi-provider.labels" -}}
{{ include "vault-csi-provider.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
The daemon's command line from .Values.flags: true → --name, a non-empty value → --name=value, "", null and false →
not passed. Numbers from a values file arrive as float64, which %v would print as 8.388608e+06: toJson prints them
as written.
*/}}
{{- define "vault-csi-provider.args" -}}
{{- range $name, $value := .Values.flags }}
{{- if has $name (list "version" "output") }}
{{- fail (printf "flags.%s: -version and -output make the binary print its version and exit; they are not daemon settings" $name) }}
{{- end }}
{{- if kindIs "bool" $value }}
{{- if $value }}
- {{ printf "--%s" $name | quote }}
{{- end }}
{{- else if not (kindIs "invalid" $value) }}
{{- $text := ternary (toJson $value) (toString $value) (or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value)) }}
{{- if ne $text "" }}
- {{ printf "--%s=%s" $name $text | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The health server's port, from flags.health-addr (host:port or :port). */}}
{{- define "vault-csi-provider.healthPort" -}}
{{- $addr := index .Values.flags "health-addr" | default ":8080" | toString }}
{{- $port := regexFind ":[0-9]{1,5}$" $addr | trimPrefix ":" }}
{{- if not $port }}
{{- fail (printf "flags.health-addr %q: use host:port or :port, such as \":8080\"" $addr) }}
{{- end }}
{{- $port }}
{{- end -}}
