// The check that ties the deployment files to the server: every metric named by the Grafana
// dashboard, the KEDA trigger, the HPA adapter rule, the endpoint picker and the monitors is one
// that kiln exports (with the labels the queries match on), and the flags, ports and probes of
// the chart and the image are ones `kiln serve` has.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { DockerfileParser } from "dockerfile-ast";
import { promqlSelectors, parseExposition } from "./promql.mjs";
import { helmTemplate, repoRoot, valuesSets } from "./helm.mjs";

// `--flag` names listed by `kiln serve --help`. kiln's flag parser (src/cli/flag_parser.h) lists a
// boolean once as --name and also takes --no-name, so --no-X counts when --X is listed.
export function helpFlags(helpText) {
  const flags = new Set([...helpText.matchAll(/(^|[\s,\[/(])(--[a-z0-9][a-z0-9-]*)/g)].map((m) => m[2]));
  for (const f of [...flags]) if (!f.startsWith("--no-")) flags.add(`--no-${f.slice(2)}`);
  return flags;
}

function argFlags(args) {
  return args.filter((a) => typeof a === "string" && a.startsWith("--")).map((a) => a.split("=")[0]);
}

function argValue(args, flag) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (typeof args[i] === "string" && args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

// PromQL references of the deployment files: [{ where, expr }].
export function promqlReferences(objectsBySet) {
  const refs = [];
  const dashboard = JSON.parse(readFileSync(join(repoRoot, "deploy/examples/eks/grafana-dashboard.json"), "utf8"));
  for (const panel of dashboard.panels) {
    for (const t of panel.targets ?? []) refs.push({ where: `grafana panel "${panel.title}" ${t.refId}`, expr: t.expr });
  }
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === "object" ? v.query.query : v.query;
    const lv = q && q.match(/^label_values\((.+),\s*\w+\)$/);
    if (lv) refs.push({ where: `grafana variable ${v.name}`, expr: lv[1] });
  }
  const adapter = parse(readFileSync(join(repoRoot, "deploy/examples/eks/prometheus-adapter-values.yaml"), "utf8"));
  for (const rule of adapter.rules.custom) refs.push({ where: "prometheus-adapter seriesQuery", expr: rule.seriesQuery });
  for (const [set, objects] of Object.entries(objectsBySet)) {
    for (const o of objects) {
      if (o.kind === "ScaledObject") {
        for (const t of o.spec.triggers) if (t.type === "prometheus") refs.push({ where: `${set}: ScaledObject trigger`, expr: t.metadata.query });
      }
      if (o.kind === "Deployment" && o.metadata.name.endsWith("-epp")) {
        const args = o.spec.template.spec.containers[0].args;
        for (const flag of ["--total-queued-requests-metric", "--kv-cache-usage-percentage-metric"]) {
          refs.push({ where: `${set}: endpoint picker ${flag}`, expr: argValue(args, flag) });
        }
      }
    }
  }
  return refs;
}

// Checks a metric reference against the exposition: the sample exists and has the labels matched.
function checkSelector(sel, exposition, where, errors) {
  const labels = exposition.samples.get(sel.metric);
  if (!labels) {
    errors.push(`${where}: metric ${sel.metric} is not exported by kiln`);
    return;
  }
  for (const l of sel.labels) {
    // namespace/pod/service are target labels that Prometheus adds at scrape time.
    if (["namespace", "pod", "service", "job", "instance", "container", "endpoint"].includes(l)) continue;
    if (!labels.has(l)) errors.push(`${where}: metric ${sel.metric} has no label ${l}`);
  }
}

function kilnContainers(objects) {
  const out = [];
  for (const o of objects) {
    let specs = [];
    if (o.kind === "Deployment" && !o.metadata.name.endsWith("-epp")) specs = [o.spec.template.spec];
    for (const spec of specs) for (const c of spec.containers) if (c.name === "kiln") out.push({ owner: `${o.kind}/${o.metadata.name}`, c });
  }
  return out;
}

const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

// Pod templates of a values set: [{ owner, labels, serving }] (serving: the pods that run kiln serve).
function podTemplates(objects) {
  const out = [];
  for (const o of objects) {
    if (o.kind === "Deployment") {
      out.push({ owner: `Deployment/${o.metadata.name}`, labels: o.spec.template.metadata.labels,
        serving: o.spec.template.spec.containers.some((c) => c.name === "kiln") });
    }
  }
  return out;
}

// The Service, monitors, PDB and InferencePool select exactly the pods that serve kiln's HTTP
// (the PDB: all kiln pods), and the ServiceMonitor exactly the kiln Service.
function checkSelectors(set, objects, errors) {
  const pods = podTemplates(objects);
  const expect = (what, selector, want) => {
    const got = pods.filter((p) => matches(selector, p.labels)).map((p) => p.owner).sort();
    const wanted = pods.filter(want).map((p) => p.owner).sort();
    if (JSON.stringify(got) !== JSON.stringify(wanted)) errors.push(`${set}: ${what} selects [${got}], expected [${wanted}]`);
  };
  for (const o of objects) {
    if (o.kind === "Service" && o.metadata.name === "kiln") expect("Service kiln", o.spec.selector, (p) => p.serving);
    if (o.kind === "PodMonitor") expect("PodMonitor", o.spec.selector.matchLabels, (p) => p.serving);
    if (o.kind === "InferencePool") expect("InferencePool", o.spec.selector.matchLabels, (p) => p.serving);
    if (o.kind === "PodDisruptionBudget") expect("PodDisruptionBudget", o.spec.selector.matchLabels, (p) => p.owner === "Deployment/kiln");
    if (o.kind === "ServiceMonitor") {
      const services = objects.filter((x) => x.kind === "Service" && matches(o.spec.selector.matchLabels, x.metadata.labels)).map((x) => x.metadata.name);
      if (JSON.stringify(services) !== JSON.stringify(["kiln"])) errors.push(`${set}: ServiceMonitor selects Services [${services}], expected [kiln]`);
    }
  }
}

// Flags, ports and probes of one rendered values set.
function checkServing(set, objects, flags, errors) {
  checkSelectors(set, objects, errors);
  const containers = kilnContainers(objects);
  if (containers.length !== 1) errors.push(`${set}: expected one kiln serving container, found ${containers.length}`);
  for (const { owner, c } of containers) {
    const where = `${set}: ${owner}`;
    for (const f of argFlags(c.args)) if (!flags.has(f)) errors.push(`${where}: flag ${f} is not a kiln serve flag`);
    const port = Number(argValue(c.args, "--port"));
    const http = (c.ports ?? []).find((p) => p.name === "http");
    if (!http || http.containerPort !== port) errors.push(`${where}: containerPort "http" (${http?.containerPort}) differs from --port ${port}`);
    if (argValue(c.args, "--host") !== "0.0.0.0") errors.push(`${where}: --host must be 0.0.0.0 to be reachable from the Service`);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const g = c[probe]?.httpGet;
      if (!g) { errors.push(`${where}: no ${probe}.httpGet`); continue; }
      if (g.path !== "/health") errors.push(`${where}: ${probe} path ${g.path} is not /health`);
      if (g.port !== "http" && g.port !== port) errors.push(`${where}: ${probe} port ${g.port} is not the server port`);
    }
    const startup = c.startupProbe;
    if (startup && startup.periodSeconds * startup.failureThreshold < 1200) {
      errors.push(`${where}: startupProbe allows ${startup.periodSeconds * startup.failureThreshold} s, less than the 20 min a download and load can take`);
    }
    const drain = Number(argValue(c.args, "--drain-timeout"));
    const pod = objects.find((o) => `${o.kind}/${o.metadata.name}` === owner);
    const podSpec = pod.spec.template.spec;
    const sleep = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    if (!(podSpec.terminationGracePeriodSeconds > drain + sleep)) {
      errors.push(`${where}: terminationGracePeriodSeconds ${podSpec.terminationGracePeriodSeconds} must exceed --drain-timeout ${drain} + preStop ${sleep}`);
    }
    if (podSpec.enableServiceLinks !== false) errors.push(`${where}: enableServiceLinks must be false`);
  }
  const service = objects.find((o) => o.kind === "Service" && o.metadata.name === "kiln");
  if (!service) errors.push(`${set}: no Service kiln`);
  else {
    const p = service.spec.ports.find((x) => x.name === "http");
    if (!p || p.targetPort !== "http") errors.push(`${set}: Service kiln does not target the container port "http"`);
  }
  for (const o of objects) {
    if (o.kind === "ServiceMonitor") {
      for (const e of o.spec.endpoints) {
        if (e.path !== "/metrics") errors.push(`${set}: ServiceMonitor path ${e.path} is not /metrics`);
        if (!service?.spec.ports.some((p) => p.name === e.port)) errors.push(`${set}: ServiceMonitor port ${e.port} is not a Service port`);
      }
    }
    if (o.kind === "PodMonitor") {
      for (const e of o.spec.podMetricsEndpoints) {
        if (e.path !== "/metrics") errors.push(`${set}: PodMonitor path ${e.path} is not /metrics`);
        if (!containers.some(({ c }) => c.ports.some((p) => p.name === e.port))) errors.push(`${set}: PodMonitor port ${e.port} is not a kiln container port`);
      }
    }
    if (o.kind === "InferencePool") {
      const port = Number(argValue(containers[0]?.c.args ?? [], "--port"));
      if (!o.spec.targetPorts.some((p) => p.number === port)) errors.push(`${set}: InferencePool targetPorts do not include --port ${port}`);
    }
  }
}

// The image's defaults: ENTRYPOINT kiln serve, CMD flags, EXPOSE and HEALTHCHECK on the CMD's port.
function checkDockerfile(flags, errors) {
  const text = readFileSync(join(repoRoot, "deploy/Dockerfile"), "utf8");
  const instructions = DockerfileParser.parse(text).getInstructions();
  const last = (kw) => instructions.filter((i) => i.getKeyword() === kw).pop();
  const cmd = JSON.parse(last("CMD").getArgumentsContent().replace(/\\\n/g, " "));
  for (const f of argFlags(cmd)) if (!flags.has(f)) errors.push(`Dockerfile CMD: flag ${f} is not a kiln serve flag`);
  const port = argValue(cmd, "--port");
  const expose = last("EXPOSE").getArguments().map((a) => a.getValue());
  if (!expose.includes(String(port))) errors.push(`Dockerfile: EXPOSE ${expose} differs from CMD --port ${port}`);
  const health = last("HEALTHCHECK").getTextContent();
  if (!health.includes(`:${port}/health`)) errors.push(`Dockerfile: HEALTHCHECK does not probe :${port}/health`);
}

// Every expression must parse as PromQL: Prometheus' own parser, through `promtool check rules`
// on a rules file with one recording rule per expression (Grafana's variables filled in).
export function checkPromqlSyntax(refs, errors) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-promql-"));
  try {
    const rules = refs.filter((r) => r.expr).map((r, i) => ({
      record: `kiln_deploy_check_${i}`,
      expr: r.expr.replace(/\$__rate_interval/g, "5m").replace(/\$\{?model_name\}?/g, ".*"),
    }));
    const file = join(dir, "rules.yaml");
    writeFileSync(file, JSON.stringify({ groups: [{ name: "kiln-deploy-check", rules }] }));
    const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
    if (r.error) errors.push(`promtool: ${r.error.message} (Debian package prometheus, scripts/extra-packages.txt)`);
    else if (r.status !== 0) {
      const where = (line) => line.replace(/kiln_deploy_check_(\d+)/g, (_, i) => `${refs.filter((x) => x.expr)[i].where}`);
      errors.push(`PromQL syntax: ${where(`${r.stdout}${r.stderr}`).trim()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Runs every check; returns { checked: [strings], errors: [strings] }.
export function runDeployCheck({ metricsText, helpText }) {
  const exposition = parseExposition(metricsText);
  const flags = helpFlags(helpText);
  const errors = [];
  const checked = [];
  if (flags.size === 0) errors.push("kiln serve --help lists no --flags");
  const objectsBySet = {};
  for (const [set, files] of Object.entries(valuesSets())) objectsBySet[set] = helmTemplate(files);
  const refs = promqlReferences(objectsBySet);
  checkPromqlSyntax(refs, errors);
  for (const ref of refs) {
    if (!ref.expr) {
      errors.push(`${ref.where}: no expression`);
      continue;
    }
    const selectors = promqlSelectors(ref.expr);
    if (selectors.length === 0) errors.push(`${ref.where}: no metric in "${ref.expr}"`);
    for (const sel of selectors) {
      checkSelector(sel, exposition, ref.where, errors);
      checked.push(`${sel.metric}${sel.labels.length ? `{${sel.labels.join(",")}}` : ""}  <- ${ref.where}`);
    }
  }
  for (const [set, objects] of Object.entries(objectsBySet)) checkServing(set, objects, flags, errors);
  // The HPA's custom metric is the adapter's rename of vllm:num_requests_waiting.
  const adapter = parse(readFileSync(join(repoRoot, "deploy/examples/eks/prometheus-adapter-values.yaml"), "utf8"));
  const served = new Set(adapter.rules.custom.map((r) => r.name.as));
  for (const [set, objects] of Object.entries(objectsBySet)) {
    for (const o of objects.filter((x) => x.kind === "HorizontalPodAutoscaler")) {
      for (const m of o.spec.metrics) {
        const name = m.pods?.metric.name ?? m.external?.metric.name;
        if (!served.has(name)) errors.push(`${set}: HPA metric ${name} is not served by the prometheus-adapter rules (${[...served]})`);
        else checked.push(`${name} (adapter rename) <- ${set}: HPA`);
      }
    }
  }
  checkDockerfile(flags, errors);
  return { checked, errors };
}
