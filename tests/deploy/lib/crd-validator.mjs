// Validates custom resources against the OpenAPI v3 schema of their CRD (vendored in ../crds),
// as the API server would with strict field validation: unknown fields are errors, the CEL rules
// the vendored CRDs contain are evaluated, and the embedded pod specs are checked with
// kubernetes-models' PodSpec.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { PodSpec } from "kubernetes-models/v1/PodSpec";
import { ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
import { unknownFields } from "./strict-fields.mjs";

const crdDir = join(dirname(fileURLToPath(import.meta.url)), "..", "crds");
const podSpecModel = fileURLToPath(import.meta.resolve("kubernetes-models/v1/PodSpec"));

// The CEL rules of the vendored CRDs, written out in JS. A rule not listed here fails the
// validation, so a newly vendored CRD cannot have its rules skipped unnoticed.
const celRules = {
  "self.kind != 'Service' || has(self.port)": (self) =>
    (self.kind ?? "Service") !== "Service" || self.port !== undefined,
  "self.all(p1, self.exists_one(p2, p1.number==p2.number))": (self) =>
    self.every((p1) => self.filter((p2) => p1.number === p2.number).length === 1),
};

// Mirrors the API server's strict field validation: an object schema with properties and no
// additionalProperties / x-kubernetes-preserve-unknown-fields rejects other keys.
function strictify(schema) {
  if (Array.isArray(schema)) return schema.map(strictify);
  if (!schema || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === "x-kubernetes-validations" ? v : strictify(v);
  if (out.properties && out.additionalProperties === undefined && !out["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

function makeAjv() {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
  addFormats(ajv);
  for (const keyword of ["x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"]) {
    ajv.addKeyword({ keyword });
  }
  ajv.addKeyword({
    keyword: "x-kubernetes-validations",
    errors: true,
    validate: function cel(rules, data) {
      const errors = [];
      for (const { rule, message } of rules) {
        const check = celRules[rule];
        if (!check) errors.push({ keyword: "x-kubernetes-validations", message: `unsupported CEL rule: ${rule}`, params: {} });
        else if (!check(data)) errors.push({ keyword: "x-kubernetes-validations", message: `${message} (rule ${rule})`, params: {} });
      }
      cel.errors = errors;
      return errors.length === 0;
    },
  });
  ajv.addKeyword({
    keyword: "x-kiln-pod-spec",
    errors: true,
    validate: function podSpec(enabled, data) {
      const errors = [];
      if (enabled) {
        try {
          new PodSpec(data).validate();
        } catch (e) {
          errors.push({ keyword: "x-kiln-pod-spec", message: `PodSpec: ${e.message}`, params: {} });
        }
        for (const u of unknownFields(data, podSpecModel)) errors.push({ keyword: "x-kiln-pod-spec", message: `PodSpec${u}`, params: {} });
      }
      podSpec.errors = errors;
      return errors.length === 0;
    },
  });
  return ajv;
}

// apiVersion/kind -> compiled validator, for every CRD file in ../crds.
export function loadCrdValidators() {
  const ajv = makeAjv();
  const validators = new Map();
  for (const file of readdirSync(crdDir).filter((f) => f.endsWith(".yaml"))) {
    const crd = parse(readFileSync(join(crdDir, file), "utf8"));
    for (const version of crd.spec.versions) {
      const key = `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`;
      validators.set(key, ajv.compile(strictify(version.schema.openAPIV3Schema)));
    }
  }
  return {
    has: (apiVersion, kind) => validators.has(`${apiVersion}/${kind}`),
    validate(object) {
      const validator = validators.get(`${object.apiVersion}/${object.kind}`);
      if (!validator) return [`no vendored CRD schema for ${object.apiVersion} ${object.kind}`];
      const errors = [];
      if (!validator(object)) {
        for (const e of validator.errors) {
          const extra = e.keyword === "additionalProperties" ? ` '${e.params.additionalProperty}'` : "";
          errors.push(`${e.instancePath || "/"}: ${e.message}${extra}`);
        }
      }
      try {
        new ObjectMeta(object.metadata).validate();
      } catch (e) {
        errors.push(`/metadata: ${e.message}`);
      }
      return errors;
    },
  };
}
