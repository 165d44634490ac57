#!/usr/bin/env node
// Checks the deployment files against a kiln server: the metric names used by the Grafana
// dashboard, KEDA, the HPA adapter, the endpoint picker and the monitors against a /metrics
// scrape, and the chart's and image's flags, ports and probes against `kiln serve --help`.
//   node check-metrics.mjs --metrics metrics.txt --serve-help help.txt [--verbose]
// Needs KILN_HELM (run.sh sets it). Exit status 1 on any mismatch.
import { readFileSync } from "node:fs";
import { runDeployCheck } from "./lib/deploy-check.mjs";

function option(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || !process.argv[i + 1]) {
    console.error(`usage: check-metrics.mjs --metrics FILE --serve-help FILE [--verbose] (missing ${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const metricsFile = option("--metrics");
const helpFile = option("--serve-help");
const { checked, errors } = runDeployCheck({
  metricsText: readFileSync(metricsFile, "utf8"),
  helpText: readFileSync(helpFile, "utf8"),
});
if (process.argv.includes("--verbose")) for (const c of checked) console.log(`ok  ${c}`);
console.log(`check-metrics: ${checked.length} metric references checked against ${metricsFile}, flags against ${helpFile}`);
for (const e of errors) console.error(`FAIL ${e}`);
process.exit(errors.length ? 1 : 0);
