// Checks every output of grammar_corpus_walk against its schema with Ajv (draft 2020-12, or
// draft-07 for schemas that declare it) and ajv-formats: each output must be complete, parse as
// JSON and validate. Prints each failure with its schema name and text; exit 1 when any.
//   node validate.mjs CORPUS.json OUTPUTS.jsonl
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [corpusPath, outputsPath] = process.argv.slice(2);
const corpus = JSON.parse(readFileSync(corpusPath, 'utf8'));
const DRAFT7 = 'http://json-schema.org/draft-07/schema#';

function makeValidator(Class) {
  const ajv = new Class({ strict: false, allErrors: true, validateFormats: true, logger: false });
  addFormats(ajv);
  return ajv;
}
const ajv2020 = makeValidator(Ajv2020);
const ajv7 = makeValidator(Ajv);

const validators = new Map();
for (const { name, schema } of corpus) {
  const draft7 = typeof schema === 'object' && schema.$schema === DRAFT7;
  const copy = typeof schema === 'object' ? { ...schema } : schema;
  if (typeof copy === 'object') delete copy.$id;  // one validator instance compiles them all
  validators.set(name, (draft7 ? ajv7 : ajv2020).compile(copy));
}

let outputs = 0, failures = 0;
const perSchema = new Map();
for (const line of readFileSync(outputsPath, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const { name, walk, complete, text } = JSON.parse(line);
  outputs += 1;
  perSchema.set(name, (perSchema.get(name) ?? 0) + 1);
  const fail = (why) => {
    failures += 1;
    console.error(`${name} walk ${walk}: ${why}\n  ${JSON.stringify(text).slice(0, 400)}`);
  };
  if (!complete) { fail('the walk did not finish'); continue; }
  let value;
  try { value = JSON.parse(text); } catch (e) { fail(`not JSON: ${e.message}`); continue; }
  const validate = validators.get(name);
  if (!validate) { fail('no such schema in the corpus'); continue; }
  if (!validate(value)) fail(`invalid: ${ajv2020.errorsText(validate.errors)}`);
}
const missing = corpus.filter(({ name }) => !perSchema.has(name)).map(({ name }) => name);
if (missing.length) {
  failures += missing.length;
  console.error(`no outputs for: ${missing.join(', ')}`);
}
console.log(`validate.mjs: ${outputs} outputs of ${corpus.length} schemas, ${failures} failures`);
process.exit(failures ? 1 : 0);
