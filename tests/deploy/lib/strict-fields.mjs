// Unknown-field check for objects validated with kubernetes-models. Its compiled validators check
// types, enums and required fields but accept any extra key, so a typo such as
// `enableServiceLink` would pass; the API server (with strict field validation) rejects it. The
// packages' TypeScript declarations list every field of every type: this reads them and walks
// the object, reporting keys that the type does not declare.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const cache = new Map();  // declaration file -> parsed type of its first interface

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

// Splits `{ "a"?: T; "b": U; }` (already without the braces) into [name, type] at depth 0.
function parseFields(body) {
  const fields = new Map();
  let depth = 0;
  let start = 0;
  const entries = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{" || c === "<" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ">" || c === ")" || c === "]") depth--;
    else if (c === ";" && depth === 0) {
      entries.push(body.slice(start, i));
      start = i + 1;
    }
  }
  for (const entry of entries) {
    const m = entry.trim().match(/^"([^"]+)"\??\s*:\s*([\s\S]+)$/);
    if (m) fields.set(m[1], m[2].trim());
  }
  return fields;
}

function importsOf(text, file) {
  const map = new Map();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      map.set(name.split(/\s+as\s+/).pop(), { spec: m[2], from: file });
    }
  }
  return map;
}

function resolveDeclaration(spec, from) {
  if (spec.startsWith(".")) return resolve(dirname(from), spec.replace(/\.js$/, ".d.ts"));
  // Every package is hoisted into tests/deploy/node_modules: resolve from here (ESM exports).
  return fileURLToPath(import.meta.resolve(spec)).replace(/\.js$/, ".d.ts");
}

// The fields of the first interface declared in `file`, or null for a type alias (a leaf).
function loadInterface(file) {
  if (cache.has(file)) return cache.get(file);
  const text = stripComments(readFileSync(file, "utf8"));
  const start = text.search(/export interface \w+[^{]*\{/);
  let result = null;
  if (start >= 0) {
    // `interface IX extends IBase, TypeMeta {`: inherited fields count as declared.
    const header = text.slice(start, text.indexOf("{", start));
    const bases = (header.match(/extends\s+([\s\S]+)$/)?.[1] ?? "").split(",").map((b) => b.trim()).filter(Boolean);
    const open = text.indexOf("{", start);
    let depth = 0;
    let end = open;
    for (; end < text.length; end++) {
      if (text[end] === "{") depth++;
      else if (text[end] === "}" && --depth === 0) break;
    }
    const imports = importsOf(text, file);
    const fields = parseFields(text.slice(open + 1, end));
    const inherited = new Map();
    for (const base of bases) {
      if (base === "TypeMeta") continue;  // apiVersion and kind, declared again in the body
      if (!imports.has(base)) throw new Error(`${file}: base interface ${base} has no import`);
      const { spec, from } = imports.get(base);
      const parent = loadInterface(resolveDeclaration(spec, from));
      if (!parent) throw new Error(`${file}: base interface ${base} has no declaration`);
      for (const [k, v] of parent.fields) inherited.set(k, { type: v, imports: parent.fieldImports?.get(k) ?? parent.imports });
    }
    // Each field keeps the imports of the file that declared it.
    const fieldImports = new Map();
    for (const [k, v] of inherited) {
      if (!fields.has(k)) {
        fields.set(k, v.type);
        fieldImports.set(k, v.imports);
      }
    }
    result = { fields, imports, fieldImports };
  }
  cache.set(file, result);
  return result;
}

// Checks `value` against the TypeScript type text `type` declared in a file with `imports`.
function checkType(value, type, imports, path, errors) {
  if (value === null || value === undefined) return;
  type = type.trim();
  let m;
  if ((m = type.match(/^Array<([\s\S]+)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => checkType(v, m[1], imports, `${path}/${i}`, errors));
    return;
  }
  if (type.startsWith("{") && type.endsWith("}")) {
    const inner = type.slice(1, -1).trim();
    if (typeof value !== "object" || Array.isArray(value)) return;
    if ((m = inner.match(/^\[key: string\]:\s*([\s\S]+?);?$/))) {
      for (const [k, v] of Object.entries(value)) checkType(v, m[1], imports, `${path}/${k}`, errors);
      return;
    }
    checkObject(value, parseFields(inner), imports, path, errors);
    return;
  }
  if (/^[A-Za-z_]\w*$/.test(type) && imports.has(type)) {
    const { spec, from } = imports.get(type);
    const declared = loadInterface(resolveDeclaration(spec, from));
    if (declared && typeof value === "object" && !Array.isArray(value)) {
      checkObject(value, declared.fields, declared.imports, path, errors, declared.fieldImports);
    }
  }
  // Primitives, literal unions and aliases (Quantity, IntOrString): the model's validator checks them.
}

function checkObject(value, fields, imports, path, errors, fieldImports) {
  for (const [key, v] of Object.entries(value)) {
    if (!fields.has(key)) {
      errors.push(`${path}/${key}: unknown field (declared: ${[...fields.keys()].join(", ")})`);
      continue;
    }
    checkType(v, fields.get(key), fieldImports?.get(key) ?? imports, `${path}/${key}`, errors);
  }
}

// Returns the unknown-field errors of `object` against the model class file `modelFile`
// (e.g. the path of kubernetes-models/apps/v1/Deployment.js).
export function unknownFields(object, modelFile) {
  const declared = loadInterface(modelFile.replace(/\.js$/, ".d.ts"));
  if (!declared) throw new Error(`${modelFile}: no interface declaration found`);
  const errors = [];
  checkObject(object, declared.fields, declared.imports, "", errors, declared.fieldImports);
  return errors;
}
