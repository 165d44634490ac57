// Validates a rendered Kubernetes object against its schema: kubernetes-models for the core API
// and the third-party APIs it packages (Prometheus operator, KEDA, Gateway API, Karpenter),
// the vendored CRD schema for InferencePool. Unknown fields are errors
// everywhere. An apiVersion/kind with no schema is an error, never a skip.
import { fileURLToPath } from "node:url";
import { unknownFields } from "./strict-fields.mjs";
import { loadCrdValidators } from "./crd-validator.mjs";

// API group -> the package that models it.
const modelPackages = {
  "": "kubernetes-models",
  apps: "kubernetes-models",
  policy: "kubernetes-models",
  autoscaling: "kubernetes-models",
  "rbac.authorization.k8s.io": "kubernetes-models",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "keda.sh": "@kubernetes-models/keda",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "karpenter.sh": "@kubernetes-models/karpenter",
  "karpenter.k8s.aws": "@kubernetes-models/karpenter",
};

// The groups of Kubernetes itself: objects that need no CRD.
export const coreGroups = new Set(["", "apps", "policy", "autoscaling", "rbac.authorization.k8s.io", "batch",
  "networking.k8s.io", "storage.k8s.io"]);

export function groupOf(apiVersion) {
  return apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
}

const crds = loadCrdValidators();

async function importModel(apiVersion, kind) {
  const group = groupOf(apiVersion);
  const version = apiVersion.split("/").pop();
  const pkg = modelPackages[group];
  if (!pkg) return null;
  // Every package lays its models out as <group>/<version>/<Kind> (the core group as <version>/<Kind>).
  const specifier = group ? `${pkg}/${group}/${version}/${kind}` : `${pkg}/${version}/${kind}`;
  try {
    const module = await import(specifier);
    return { Model: module[kind], file: fileURLToPath(import.meta.resolve(specifier)) };
  } catch (e) {
    if (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null;
    throw e;
  }
}

// Returns a list of error strings (empty when the object is valid).
export async function validateObject(object) {
  const where = `${object?.kind ?? "?"}/${object?.metadata?.name ?? "?"}`;
  if (!object || typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
    return [`${where}: not a Kubernetes object (apiVersion and kind are required)`];
  }
  if (crds.has(object.apiVersion, object.kind)) {
    return crds.validate(object).map((e) => `${where} ${e}`);
  }
  const model = await importModel(object.apiVersion, object.kind);
  if (!model || !model.Model) return [`${where}: no schema known for ${object.apiVersion} ${object.kind}`];
  const errors = [];
  try {
    new model.Model(object).validate();
  } catch (e) {
    errors.push(`${where}: ${e.message}`);
  }
  for (const u of unknownFields(object, model.file)) errors.push(`${where} ${u}`);
  return errors;
}
