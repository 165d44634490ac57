// --otlp-traces-endpoint against a collector that decodes kiln's OTLP/HTTP payloads with the
// official opentelemetry-proto definitions (the .proto files shipped in the npm package
// @opentelemetry/otlp-grpc-exporter-base, loaded with protobufjs), not with kiln's encoder:
// one llm_request span per request with vLLM's attributes, the caller's traceparent
// propagated, phase spans with --collect-detailed-traces, and a dead collector that costs the
// server nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { startServer, post, sleep, freePort, MODEL } from './harness.mjs';

const require = createRequire(import.meta.url);
const protoRoot = path.join(path.dirname(require.resolve('@opentelemetry/otlp-grpc-exporter-base/package.json')),
  'build/protos');

let ExportTraceServiceRequest;
let collector;
let received = [];  // decoded spans, with their resource's attributes

const hex = (bytes) => Buffer.from(bytes).toString('hex');
function anyValue(value) {
  if (value.stringValue !== undefined && value.stringValue !== '') return value.stringValue;
  if (value.arrayValue) return value.arrayValue.values.map(anyValue);
  if (value.boolValue !== undefined && value.boolValue !== false) return value.boolValue;
  if (value.intValue !== undefined && value.intValue !== null && Number(value.intValue) !== 0) return Number(value.intValue);
  if (value.doubleValue !== undefined && value.doubleValue !== 0) return value.doubleValue;
  // proto3 zero values: whichever oneof member is set.
  for (const key of ['stringValue', 'boolValue', 'intValue', 'doubleValue']) {
    if (value[key] !== undefined && value[key] !== null) return key === 'intValue' ? Number(value[key]) : value[key];
  }
  return null;
}
const attributes = (list) => Object.fromEntries(list.map((kv) => [kv.key, anyValue(kv.value)]));

before(async () => {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => path.join(protoRoot, target);
  await root.load('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
  ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const port = await freePort();
  collector = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces');
      assert.equal(req.headers['content-type'], 'application/x-protobuf');
      const message = ExportTraceServiceRequest.decode(Buffer.concat(chunks));
      const object = ExportTraceServiceRequest.toObject(message, { longs: String, defaults: true });
      for (const resourceSpans of object.resourceSpans) {
        const resource = attributes(resourceSpans.resource.attributes);
        for (const scopeSpans of resourceSpans.scopeSpans) {
          for (const span of scopeSpans.spans) {
            received.push({ ...span, scope: scopeSpans.scope, resource, attrs: attributes(span.attributes) });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise((resolve) => collector.listen(port, '127.0.0.1', resolve));
  collector.port = port;
});
after(() => collector?.close());

async function waitForSpans(predicate, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = received.filter(predicate);
    if (found.length) return found;
    await sleep(100);
  }
  throw new Error(`no matching span within ${timeoutMs} ms (got ${received.length} spans)`);
}

test('one llm_request span per request with vLLM attributes and the caller\'s traceparent', async () => {
  const server = await startServer({ extraArgs: ['--otlp-traces-endpoint', `http://127.0.0.1:${collector.port}`],
    env: { OTEL_SERVICE_NAME: 'kiln-e2e' } });
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const chat = await post(`${server.url}/v1/chat/completions`,
      { model: MODEL, messages: [{ role: 'user', content: 'trace me' }], max_tokens: 5, ignore_eos: true, temperature: 0.5, top_p: 0.9 },
      { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=x' });
    assert.equal(chat.status, 200, chat.text);
    const [span] = await waitForSpans((s) => hex(s.traceId) === traceId);
    assert.equal(span.name, 'llm_request');
    assert.equal(span.kind, 2);  // SPAN_KIND_SERVER
    assert.equal(hex(span.parentSpanId), parentId);
    assert.equal(span.traceState, 'vendor=x');
    assert.equal(span.scope.name, 'kiln');
    assert.equal(span.resource['service.name'], 'kiln-e2e');
    const a = span.attrs;
    assert.equal(a['gen_ai.response.model'], MODEL);
    assert.equal(a['gen_ai.request.id'], chat.json.id);
    assert.equal(a['gen_ai.request.max_tokens'], 5);
    assert.equal(a['gen_ai.request.n'], 1);
    assert.ok(Math.abs(a['gen_ai.request.temperature'] - 0.5) < 1e-6);
    assert.ok(Math.abs(a['gen_ai.request.top_p'] - 0.9) < 1e-6);
    assert.equal(a['gen_ai.usage.prompt_tokens'], chat.json.usage.prompt_tokens);
    assert.equal(a['gen_ai.usage.completion_tokens'], 5);
    assert.deepEqual(a['gen_ai.response.finish_reasons'], ['length']);
    for (const key of ['gen_ai.latency.e2e', 'gen_ai.latency.time_to_first_token', 'gen_ai.latency.time_in_queue',
      'gen_ai.latency.time_in_model_prefill', 'gen_ai.latency.time_in_model_decode', 'gen_ai.latency.time_in_model_inference']) {
      assert.equal(typeof a[key], 'number', key);
      assert.ok(a[key] >= 0, `${key} = ${a[key]}`);
    }
    assert.ok(a['gen_ai.latency.time_to_first_token'] <= a['gen_ai.latency.e2e']);
    const start = BigInt(span.startTimeUnixNano);
    const end = BigInt(span.endTimeUnixNano);
    assert.ok(end > start);
    const nowNs = BigInt(Date.now()) * 1000000n;
    assert.ok(nowNs - start < 60n * 1000000000n, 'start time is not wall-clock time');
    assert.ok(Math.abs(Number(end - start) / 1e9 - a['gen_ai.latency.e2e']) < 0.01);

    // Without a traceparent: a new trace, no parent. Several prompts: one span each.
    const before = received.length;
    const completion = await post(`${server.url}/v1/completions`, { model: MODEL, prompt: ['a', 'b'], max_tokens: 2 });
    assert.equal(completion.status, 200);
    const spans = await waitForSpans((s) => received.indexOf(s) >= before && s.attrs['gen_ai.request.id']?.startsWith(completion.json.id));
    await sleep(1500);
    const mine = received.slice(before).filter((s) => s.attrs['gen_ai.request.id'].startsWith(completion.json.id));
    assert.equal(mine.length, 2, JSON.stringify(mine.map((s) => s.attrs['gen_ai.request.id'])));
    assert.equal(hex(spans[0].parentSpanId), '');
    assert.notEqual(hex(spans[0].traceId), traceId);

    // A caller that did not sample its trace: no span (OpenTelemetry's parent-based sampling).
    const unsampledTrace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    await post(`${server.url}/v1/completions`, { model: MODEL, prompt: 'x', max_tokens: 1 },
      { traceparent: `00-${unsampledTrace}-${parentId}-00` });
    await sleep(1500);
    assert.equal(received.filter((s) => hex(s.traceId) === unsampledTrace).length, 0);
  } finally {
    await server.stop();
  }
});

test('--collect-detailed-traces adds queue, prefill and decode child spans', async () => {
  const server = await startServer({ extraArgs: ['--otlp-traces-endpoint', `http://127.0.0.1:${collector.port}/v1/traces`,
    '--collect-detailed-traces', 'all'] });
  try {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const r = await post(`${server.url}/v1/completions`, { model: MODEL, prompt: 'phases', max_tokens: 4, ignore_eos: true },
      { traceparent: `00-${traceId}-b7ad6b7169203331-01` });
    assert.equal(r.status, 200);
    await waitForSpans((s) => hex(s.traceId) === traceId && s.name === 'decode');
    const spans = received.filter((s) => hex(s.traceId) === traceId);
    const parent = spans.find((s) => s.name === 'llm_request');
    assert.ok(parent);
    for (const name of ['queue', 'prefill', 'decode']) {
      const child = spans.find((s) => s.name === name);
      assert.ok(child, name);
      assert.equal(child.kind, 1);  // SPAN_KIND_INTERNAL
      assert.equal(hex(child.parentSpanId), hex(parent.spanId));
      assert.ok(BigInt(child.startTimeUnixNano) >= BigInt(parent.startTimeUnixNano));
      assert.ok(BigInt(child.endTimeUnixNano) <= BigInt(parent.endTimeUnixNano) + 1000000n);
    }
  } finally {
    await server.stop();
  }
});

test('a dead collector costs nothing: requests stay fast and the server healthy', async () => {
  const dead = await freePort();  // nothing listens there
  const server = await startServer({ extraArgs: ['--otlp-traces-endpoint', `http://127.0.0.1:${dead}/v1/traces`] });
  try {
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      const r = await post(`${server.url}/v1/completions`, { model: MODEL, prompt: `dead ${i}`, max_tokens: 1 });
      assert.equal(r.status, 200);
    }
    assert.ok(Date.now() - started < 20000);
    await sleep(2500);
    assert.match(server.log, /OTLP trace export to http:\/\/127\.0\.0\.1:\d+\/v1\/traces failed/);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
  } finally {
    await server.stop();
  }
});

test('bad tracing flags are refused at startup', async () => {
  await assert.rejects(startServer({ extraArgs: ['--otlp-traces-endpoint', 'localhost:4317'] }), /expected an http:\/\/ or https:\/\/ URL/);
  await assert.rejects(startServer({ extraArgs: ['--collect-detailed-traces', 'all'] }), /needs --otlp-traces-endpoint/);
  await assert.rejects(startServer({ extraArgs: ['--otlp-traces-endpoint', 'http://127.0.0.1:1'],
    env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' } }), /OTLP\/HTTP with protobuf only/);
});
