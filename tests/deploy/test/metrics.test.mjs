import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkPromqlSyntax, runDeployCheck, helpFlags } from "../lib/deploy-check.mjs";
import { promqlSelectors, parseExposition } from "../lib/promql.mjs";
import { prefetch } from "../lib/helm.mjs";

await prefetch();

const here = join(fileURLToPath(import.meta.url), "..", "..");
// run.sh points these at a live scrape (live-metrics.sh) and `kiln serve --help`; the help text
// falls back to the fixture (marked FIXTURE) when the built kiln has no serve command.
const metricsFile = process.env.KILN_DEPLOY_METRICS;
if (!metricsFile) throw new Error("KILN_DEPLOY_METRICS is not set: run tests/deploy/run.sh (it scrapes a live kiln serve)");
const helpFile = process.env.KILN_DEPLOY_SERVE_HELP ?? join(here, "fixtures/kiln-serve-help.fixture.txt");
const metricsText = readFileSync(metricsFile, "utf8");
const helpText = readFileSync(helpFile, "utf8");

test("every metric, flag, port and probe of the deployment files is one kiln serve has", (t) => {
  t.diagnostic(`metrics from ${metricsFile}${metricsText.includes("FIXTURE") ? " (FIXTURE, not a live scrape)" : ""}`);
  t.diagnostic(`flags from ${helpFile}${helpText.startsWith("FIXTURE") ? " (FIXTURE, not kiln serve --help)" : ""}`);
  const { checked, errors } = runDeployCheck({ metricsText, helpText });
  assert.deepEqual(errors, []);
  assert.ok(checked.length >= 30, `only ${checked.length} references checked`);
});

test("a metric kiln does not export, a missing label or an unknown flag fails the check", () => {
  const withoutWaiting = metricsText.split("\n").filter((l) => !l.startsWith("vllm:num_requests_waiting")).join("\n");
  const withoutReason = metricsText.replace(/,?finished_reason="[^"]*"/g, "");
  const r1 = runDeployCheck({ metricsText: withoutWaiting, helpText });
  assert.ok(r1.errors.some((e) => e.includes("ScaledObject trigger: metric vllm:num_requests_waiting is not exported")), r1.errors.join("\n"));
  assert.ok(r1.errors.some((e) => e.includes("--total-queued-requests-metric: metric vllm:num_requests_waiting")), r1.errors.join("\n"));
  const r2 = runDeployCheck({ metricsText: withoutReason, helpText });
  assert.ok(r2.errors.some((e) => e.includes("vllm:request_success_total has no label finished_reason")), r2.errors.join("\n"));
  const r3 = runDeployCheck({ metricsText, helpText: helpText.replace(/--drain-timeout/g, "--drain") });
  assert.ok(r3.errors.some((e) => e.includes("flag --drain-timeout is not a kiln serve flag")), r3.errors.join("\n"));
});

test("PromQL selectors and exposition parsing", () => {
  assert.deepEqual(
    promqlSelectors('histogram_quantile(0.9, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{model_name=~"$m"}[$__rate_interval])))'),
    [{ metric: "vllm:time_to_first_token_seconds_bucket", labels: ["model_name", "le"] }]);
  assert.deepEqual(promqlSelectors("sum(rate(a_total[5m])) / sum(rate(b_total[5m]))").map((s) => s.metric), ["a_total", "b_total"]);
  assert.deepEqual(promqlSelectors('vllm:x{namespace!="",pod!=""}'), [{ metric: "vllm:x", labels: ["namespace", "pod"] }]);
  const e = parseExposition('# TYPE a counter\na_total{x="1",y="2"} 3\nb 1\n');
  assert.deepEqual([...e.samples.get("a_total")], ["x", "y"]);
  assert.equal(e.families.get("a"), "counter");
  assert.throws(() => parseExposition("9lives 1"), /not a Prometheus sample line/);
  assert.ok(helpFlags("  --port PORT\n  --enable-prefix-caching / --no-enable-prefix-caching").has("--no-enable-prefix-caching"));
  // kiln's own --help format: booleans listed once, --no- accepted.
  const live = helpFlags("usage: kiln serve MODEL [flags]\n\nflags:\n  --port VALUE                    port (default: 8000)\n  --enforce-eager                 no graphs\n");
  assert.ok(live.has("--port") && live.has("--enforce-eager") && live.has("--no-enforce-eager"));
  assert.ok(!live.has("--drain-timeout"));
});

test("PromQL syntax errors are caught by promtool", () => {
  const errors = [];
  checkPromqlSyntax([{ where: "good", expr: 'sum(rate(vllm:prompt_tokens_total{model_name=~"$model_name"}[$__rate_interval]))' },
    { where: "panel X", expr: "sum(rate(vllm:prompt_tokens_total[5m])" }], errors);
  assert.equal(errors.length, 1, errors.join("\n"));
  assert.match(errors[0], /PromQL syntax: .*panel X/s);
});
