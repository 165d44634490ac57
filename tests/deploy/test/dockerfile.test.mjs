import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lintDockerfile } from "../lib/dockerfile-lint.mjs";
import { repoRoot } from "../lib/helm.mjs";

const dockerfile = readFileSync(join(repoRoot, "deploy/Dockerfile"), "utf8");

test("deploy/Dockerfile passes the lint", () => {
  assert.deepEqual(lintDockerfile(dockerfile), []);
});

test("the lint catches a root user, a shell-form entrypoint, a wrong port and a missing health check", () => {
  const broken = dockerfile
    .replace("USER 10001:10001", "USER root")
    .replace('ENTRYPOINT ["kiln", "serve"]', "ENTRYPOINT kiln serve")
    .replace("EXPOSE 8000", "EXPOSE 9000")
    .replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, "");
  const errors = lintDockerfile(broken);
  assert.ok(errors.includes("the final stage runs as root"), errors.join("\n"));
  assert.ok(errors.some((e) => e.startsWith("ENTRYPOINT must be in exec")), errors.join("\n"));
  assert.ok(errors.includes("EXPOSE 8000 missing (found 9000)"), errors.join("\n"));
  assert.ok(errors.includes("no HEALTHCHECK"), errors.join("\n"));
});

test("the lint requires a CUDA runtime final stage and the build for sm_80/86/89/90", () => {
  const errors = lintDockerfile(dockerfile.replace("-runtime-ubuntu", "-devel-ubuntu").replace('"80;86;89;90"', '"90"'));
  assert.ok(errors.some((e) => e.startsWith("the final stage must be FROM nvidia/cuda:13.0.x-runtime")), errors.join("\n"));
  assert.ok(errors.some((e) => e.includes("sm_80/86/89/90")), errors.join("\n"));
});

test("the lint requires the HF cache on a volume and no USER at all is an error", () => {
  const errors = lintDockerfile(dockerfile.replace('VOLUME ["/data/hf"]', "").replace("USER 10001:10001\n", ""));
  assert.ok(errors.includes("HF_HOME /data/hf is not a VOLUME"), errors.join("\n"));
  assert.ok(errors.includes("the final stage has no USER (it would run as root)"), errors.join("\n"));
});
