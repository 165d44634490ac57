{{/* Names and labels shared by every object of the chart. */}}
{{- define "kiln.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kiln.fullname" -}}
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

{{- define "kiln.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kiln.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kiln.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kiln.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The endpoint picker's objects: their own name, so that the kiln monitors and PDB do not select them. */}}
{{- define "kiln.eppLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kiln.fullname" . }}-epp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: endpoint-picker
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The pods that serve HTTP: all pods of the Deployment. */}}
{{- define "kiln.servingSelectorLabels" -}}
{{ include "kiln.selectorLabels" . }}
{{- end }}

{{- define "kiln.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kiln.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kiln.servedModelName" -}}
{{- default .Values.model.id .Values.model.servedModelName }}
{{- end }}

{{- define "kiln.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "kiln.hfTokenSecretName" -}}
{{- if .Values.hfToken.existingSecret }}{{ .Values.hfToken.existingSecret }}{{ else }}{{ include "kiln.fullname" . }}-hf-token{{ end }}
{{- end }}

{{- define "kiln.apiKeySecretName" -}}
{{- if .Values.apiKey.existingSecret }}{{ .Values.apiKey.existingSecret }}{{ else }}{{ include "kiln.fullname" . }}-api-key{{ end }}
{{- end }}

{{- define "kiln.terminationGracePeriodSeconds" -}}
{{- if .Values.server.terminationGracePeriodSeconds }}
{{- .Values.server.terminationGracePeriodSeconds }}
{{- else }}
{{- add .Values.server.drainTimeoutSeconds .Values.server.preStopSleepSeconds 30 }}
{{- end }}
{{- end }}

{{/* Checks of value combinations that the schema cannot express. */}}
{{- define "kiln.validate" -}}
{{- if and .Values.keda.enabled .Values.hpa.enabled }}
{{- fail "keda.enabled and hpa.enabled are exclusive: KEDA creates its own HorizontalPodAutoscaler" }}
{{- end }}
{{- $grace := int (include "kiln.terminationGracePeriodSeconds" .) }}
{{- if le $grace (int (add .Values.server.drainTimeoutSeconds .Values.server.preStopSleepSeconds)) }}
{{- fail (printf "server.terminationGracePeriodSeconds (%d) must exceed server.drainTimeoutSeconds + server.preStopSleepSeconds, or the kubelet kills requests that are still draining" $grace) }}
{{- end }}
{{- $gpus := int (index .Values.resources.limits "nvidia.com/gpu" | default 0) }}
{{- if gt (int .Values.model.tensorParallelSize) $gpus }}
{{- fail (printf "model.tensorParallelSize (%d) needs as many GPUs in the pod: resources.limits[\"nvidia.com/gpu\"] is %d (kiln runs tensor parallelism over the GPUs of one pod)" (int .Values.model.tensorParallelSize) $gpus) }}
{{- end }}
{{- end }}

{{/* The arguments of `kiln serve` (the image's entrypoint): vLLM's flag names. */}}
{{- define "kiln.serveArgs" -}}
- {{ .Values.model.id | quote }}
- --host
- "0.0.0.0"
- --port
- {{ .Values.server.port | quote }}
- --served-model-name
- {{ include "kiln.servedModelName" . | quote }}
- --max-model-len
- {{ .Values.model.maxModelLen | quote }}
{{- with .Values.model.maxNumSeqs }}
- --max-num-seqs
- {{ . | quote }}
{{- end }}
{{- with .Values.model.maxNumBatchedTokens }}
- --max-num-batched-tokens
- {{ . | quote }}
{{- end }}
- --gpu-memory-utilization
- {{ .Values.model.gpuMemoryUtilization | quote }}
- --dtype
- {{ .Values.model.dtype | quote }}
{{- with .Values.model.quantization }}
- --quantization
- {{ . | quote }}
{{- end }}
- --tensor-parallel-size
- {{ .Values.model.tensorParallelSize | quote }}
{{- if .Values.model.enablePrefixCaching }}
- --enable-prefix-caching
{{- else }}
- --no-enable-prefix-caching
{{- end }}
{{- if .Values.model.enforceEager }}
- --enforce-eager
{{- end }}
- --kv-cache-dtype
- {{ .Values.model.kvCacheDtype | quote }}
{{- if .Values.model.calculateKvScales }}
- --calculate-kv-scales
{{- end }}
{{- with .Values.model.reasoningParser }}
- --reasoning-parser
- {{ . | quote }}
{{- end }}
- --drain-timeout
- {{ .Values.server.drainTimeoutSeconds | quote }}
{{- range .Values.model.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Environment of every kiln container. */}}
{{- define "kiln.env" -}}
- name: HF_HOME
  value: {{ .Values.modelCache.mountPath | quote }}
{{- if or .Values.hfToken.existingSecret .Values.hfToken.value }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "kiln.hfTokenSecretName" . }}
      key: {{ .Values.hfToken.existingSecretKey }}
- name: HUGGING_FACE_HUB_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "kiln.hfTokenSecretName" . }}
      key: {{ .Values.hfToken.existingSecretKey }}
{{- end }}
{{- if or .Values.apiKey.existingSecret .Values.apiKey.value }}
- name: KILN_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "kiln.apiKeySecretName" . }}
      key: {{ .Values.apiKey.existingSecretKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes of every kiln pod. */}}
{{- define "kiln.volumes" -}}
- name: model-cache
{{- if eq .Values.modelCache.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-model-cache" (include "kiln.fullname" .)) .Values.modelCache.pvc.existingClaim }}
{{- else }}
  emptyDir:
    {{- with .Values.modelCache.emptyDir.sizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- end }}
- name: tmp
  emptyDir: {}
{{- if .Values.shm.enabled }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.shm.sizeLimit }}
{{- end }}
{{- end }}

{{- define "kiln.volumeMounts" -}}
- name: model-cache
  mountPath: {{ .Values.modelCache.mountPath }}
- name: tmp
  mountPath: /tmp
{{- if .Values.shm.enabled }}
- name: dshm
  mountPath: /dev/shm
{{- end }}
{{- end }}

{{/* The kiln serving container of the Deployment's pods. */}}
{{- define "kiln.serveContainer" -}}
- name: kiln
  image: {{ include "kiln.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    {{- include "kiln.serveArgs" . | nindent 4 }}
  env:
    {{- include "kiln.env" . | nindent 4 }}
  ports:
    - name: http
      containerPort: {{ .Values.server.port }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /health
      port: http
    periodSeconds: {{ .Values.probes.startup.periodSeconds }}
    failureThreshold: {{ .Values.probes.startup.failureThreshold }}
    timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
  readinessProbe:
    httpGet:
      path: /health
      port: http
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
    timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  # /health turns 503 while kiln drains; the kubelet stops liveness probes once a pod is
  # terminating, so only readiness sees it (and takes the pod out of the endpoints).
  livenessProbe:
    httpGet:
      path: /health
      port: http
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
    timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  lifecycle:
    # Endpoints and gateways drop the pod while it sleeps; then SIGTERM makes kiln answer 503
    # to new requests and finish the running ones (--drain-timeout) before it exits.
    preStop:
      exec:
        command: ["sleep", "{{ .Values.server.preStopSleepSeconds }}"]
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "kiln.volumeMounts" . | nindent 4 }}
{{- end }}

{{/* Pod-level fields of the Deployment's pods. */}}
{{- define "kiln.podSpecCommon" -}}
serviceAccountName: {{ include "kiln.serviceAccountName" . }}
enableServiceLinks: false
terminationGracePeriodSeconds: {{ include "kiln.terminationGracePeriodSeconds" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "kiln.volumes" . | nindent 2 }}
{{- end }}

{{/* The scale target of KEDA and the HPA. */}}
{{- define "kiln.scaleTargetRef" -}}
apiVersion: apps/v1
kind: Deployment
name: {{ include "kiln.fullname" . }}
{{- end }}
