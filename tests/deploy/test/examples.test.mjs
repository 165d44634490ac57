import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { helmTemplate, parseYamlStream, prefetch, repoRoot, valuesSets } from "../lib/helm.mjs";
import { validateObject } from "../lib/validate.mjs";

await prefetch();

const eks = join(repoRoot, "deploy/examples/eks");
const read = (f) => readFileSync(join(eks, f), "utf8");
// What the README's envsubst fills in.
const substituted = (text) => text.replace(/\$\{CLUSTER_NAME\}/g, "jark-stack")
  .replace(/\$\{KARPENTER_NODE_ROLE\}/g, "KarpenterNodeRole-jark-stack");

async function validateAll(objects) {
  const errors = [];
  for (const o of objects) errors.push(...(await validateObject(o)));
  return errors;
}

test("Karpenter NodePools and EC2NodeClasses are valid karpenter.sh/v1 and karpenter.k8s.aws/v1", async () => {
  const text = read("karpenter-nodepools.yaml");
  assert.deepEqual([...new Set(text.match(/\$\{\w+\}/g))].sort(), ["${CLUSTER_NAME}", "${KARPENTER_NODE_ROLE}"]);
  const objects = parseYamlStream(substituted(text), "karpenter-nodepools.yaml");
  assert.deepEqual(await validateAll(objects), []);
  const classes = new Set(objects.filter((o) => o.kind === "EC2NodeClass").map((o) => o.metadata.name));
  const pools = objects.filter((o) => o.kind === "NodePool");
  const families = new Map();
  for (const pool of pools) {
    assert.ok(classes.has(pool.spec.template.spec.nodeClassRef.name), `${pool.metadata.name}: unknown EC2NodeClass`);
    const family = pool.spec.template.spec.requirements.find((r) => r.key === "karpenter.k8s.aws/instance-family");
    const gpu = (pool.spec.template.spec.taints ?? []).some((t) => t.key === "nvidia.com/gpu" && t.effect === "NoSchedule");
    if (family) families.set(family.values.join(","), { pool: pool.metadata.name, gpu });
    else assert.equal(gpu, false, `${pool.metadata.name}: the CPU pool must not carry the GPU taint`);
  }
  for (const f of ["g5", "g6", "g6e", "p5"]) {
    assert.ok(families.has(f), `no NodePool for ${f}`);
    assert.ok(families.get(f).gpu, `${f} pool lacks the nvidia.com/gpu taint`);
  }
  assert.ok(pools.some((p) => p.metadata.name === "kiln-cpu"), "no CPU pool");
});

test("Open WebUI is valid and points at the chart's Service /v1", async () => {
  const objects = parseYamlStream(read("open-webui.yaml"), "open-webui.yaml");
  assert.deepEqual(await validateAll(objects), []);
  const chart = helmTemplate(valuesSets().eks, [], "kiln");
  const service = chart.find((o) => o.kind === "Service" && o.metadata.name === "kiln");
  const env = objects.find((o) => o.kind === "Deployment").spec.template.spec.containers[0].env;
  const url = env.find((e) => e.name === "OPENAI_API_BASE_URL").value;
  assert.equal(url, `http://${service.metadata.name}.kiln.svc.cluster.local:${service.spec.ports[0].port}/v1`);
  const svc = objects.find((o) => o.kind === "Service");
  assert.equal(svc.spec.ports[0].port, 80, "the guide port-forwards svc/open-webui 8080:80");
});

test("values-eks.yaml reproduces the guide: 1 x A10G g5.4xlarge, 8192, 4 seqs, 1 to 4 replicas", () => {
  const objects = helmTemplate(valuesSets().eks, [], "kiln");
  const pod = objects.find((o) => o.kind === "Deployment").spec.template.spec;
  const c = pod.containers[0];
  const arg = (flag) => c.args[c.args.indexOf(flag) + 1];
  assert.equal(arg("--max-model-len"), "8192");
  assert.equal(arg("--max-num-seqs"), "4");
  assert.equal(c.resources.limits["nvidia.com/gpu"], 1);
  assert.equal(pod.nodeSelector["node.kubernetes.io/instance-type"], "g5.4xlarge");
  const pools = parseYamlStream(substituted(read("karpenter-nodepools.yaml")), "nodepools").filter((o) => o.kind === "NodePool");
  const pool = pools.find((p) => p.metadata.name === pod.nodeSelector["karpenter.sh/nodepool"]);
  assert.ok(pool, "values-eks selects a NodePool of karpenter-nodepools.yaml");
  const sizes = pool.spec.template.spec.requirements.find((r) => r.key === "karpenter.k8s.aws/instance-size").values;
  assert.ok(sizes.includes("4xlarge"), "the g5 pool allows g5.4xlarge");
  const scaled = objects.find((o) => o.kind === "ScaledObject");
  assert.deepEqual([scaled.spec.minReplicaCount, scaled.spec.maxReplicaCount], [1, 4]);
  assert.ok(objects.find((o) => o.kind === "ServiceMonitor"));
  assert.equal(c.env.find((e) => e.name === "HF_TOKEN").valueFrom.secretKeyRef.name, "hf-token");
});

test("the Grafana dashboard is well-formed and covers the guide's observability", () => {
  const dashboard = JSON.parse(read("grafana-dashboard.json"));
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  const exprs = [];
  for (const p of dashboard.panels) {
    assert.ok(p.targets?.length, `panel ${p.title} has no query`);
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, `panel ${p.title} has no position`);
    for (const t of p.targets) {
      assert.equal(t.datasource.uid, "${datasource}");
      exprs.push(t.expr);
    }
  }
  const all = exprs.join("\n");
  for (const needle of ["vllm:generation_tokens_total", "vllm:num_requests_running", "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc", "histogram_quantile(0.9, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket", "vllm:prefix_cache_hits_total"]) {
    assert.ok(all.includes(needle), `the dashboard has no ${needle}`);
  }
});

test("the README walks through every example file and the cleanup", () => {
  const readme = read("README.md");
  for (const f of readdirSync(eks).filter((f) => f !== "README.md")) assert.ok(readme.includes(f), `README does not use ${f}`);
  for (const needle of ["port-forward svc/kiln 8000:8000", "/v1/chat/completions", "helm uninstall", "kubectl delete", "## Cleanup"]) {
    assert.ok(readme.includes(needle), `README lacks ${needle}`);
  }
  parse(read("prometheus-adapter-values.yaml"));
});
