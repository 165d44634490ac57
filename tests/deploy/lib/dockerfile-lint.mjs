// Lint of deploy/Dockerfile (no container engine on these machines builds it): the stages, the
// CUDA images and architectures, a non-root user, the HF cache volume, the entrypoint, the port
// and the health check. Returns a list of error strings.
import { DockerfileParser } from "dockerfile-ast";

const knownInstructions = new Set(["FROM", "ARG", "RUN", "COPY", "ADD", "ENV", "WORKDIR", "USER", "EXPOSE",
  "VOLUME", "HEALTHCHECK", "ENTRYPOINT", "CMD", "STOPSIGNAL", "LABEL", "SHELL", "ONBUILD"]);

export function lintDockerfile(text) {
  const errors = [];
  const dockerfile = DockerfileParser.parse(text);
  const instructions = dockerfile.getInstructions();
  for (const i of instructions) {
    if (!knownInstructions.has(i.getKeyword())) errors.push(`line ${i.getRange().start.line + 1}: unknown instruction ${i.getKeyword()}`);
  }
  // ARG defaults declared before the first FROM, used in FROM lines.
  const args = new Map();
  for (const a of dockerfile.getInitialARGs()) {
    const m = a.getArgumentsContent().match(/^(\w+)=("?)(.*)\2$/);
    if (m) args.set(m[1], m[3]);
  }
  const expand = (s) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? `<unset ${a ?? b}>`);

  const froms = dockerfile.getFROMs();
  const stages = froms.map((f) => ({ image: expand(f.getArgumentsContent().split(/\s+/)[0]),
    name: f.getBuildStage(), line: f.getRange().start.line }));
  const cudaStages = stages.filter((s) => s.image.startsWith("nvidia/cuda:"));
  if (cudaStages.length < 2) errors.push(`multi-stage build: expected a CUDA devel and a CUDA runtime stage, found ${stages.map((s) => s.image).join(", ")}`);
  const build = stages.find((s) => /^nvidia\/cuda:13\.0\.\d+-devel-ubuntu\d+\.\d+$/.test(s.image));
  if (!build) errors.push("no build stage FROM nvidia/cuda:13.0.x-devel-ubuntu*");
  const final = stages[stages.length - 1];
  if (!final || !/^nvidia\/cuda:13\.0\.\d+-runtime-ubuntu\d+\.\d+$/.test(final.image)) {
    errors.push(`the final stage must be FROM nvidia/cuda:13.0.x-runtime-ubuntu* (it is ${final?.image})`);
  }
  const finalLine = final?.line ?? 0;
  const inFinal = instructions.filter((i) => i.getRange().start.line > finalLine);
  const buildLines = instructions.filter((i) => i.getRange().start.line > (build?.line ?? 0) && i.getRange().start.line < finalLine);
  const last = (list, kw) => list.filter((i) => i.getKeyword() === kw).pop();

  if (!/CMAKE_CUDA_ARCHITECTURES/.test(buildLines.map((i) => i.getTextContent()).join("\n"))
      || !/80;86;89;90/.test(text)) errors.push("the build must pass CMAKE_CUDA_ARCHITECTURES with sm_80/86/89/90");
  if (!buildLines.some((i) => i.getKeyword() === "RUN" && /cmake --build/.test(i.getTextContent()))) errors.push("the build stage does not run cmake --build");

  const user = last(inFinal, "USER");
  const who = user?.getArgumentsContent().split(":")[0];
  if (!user) errors.push("the final stage has no USER (it would run as root)");
  else if (who === "root" || who === "0") errors.push(`the final stage runs as ${who}`);

  const entrypoint = last(inFinal, "ENTRYPOINT");
  let entry = null;
  try {
    entry = entrypoint && JSON.parse(entrypoint.getArgumentsContent());
  } catch {
    errors.push("ENTRYPOINT must be in exec (JSON) form so that kiln gets SIGTERM as PID 1");
  }
  if (!entrypoint) errors.push("no ENTRYPOINT");
  else if (entry && !(entry[0] === "kiln" || entry[0] === "/usr/local/bin/kiln") || (entry && entry[1] !== "serve")) {
    errors.push(`ENTRYPOINT must be kiln serve (it is ${JSON.stringify(entry)})`);
  }
  const cmd = last(inFinal, "CMD");
  if (!cmd) errors.push("no CMD with the default model and flags");

  const expose = inFinal.filter((i) => i.getKeyword() === "EXPOSE").flatMap((i) => i.getArguments().map((a) => a.getValue()));
  if (!expose.some((p) => p === "8000" || p === "8000/tcp")) errors.push(`EXPOSE 8000 missing (found ${expose.join(" ") || "none"})`);

  const health = last(inFinal, "HEALTHCHECK");
  if (!health) errors.push("no HEALTHCHECK");
  else {
    const h = health.getTextContent();
    if (!/\/health\b/.test(h)) errors.push("HEALTHCHECK does not probe /health");
    const tool = /\bcurl\b/.test(h) ? "curl" : /\bwget\b/.test(h) ? "wget" : null;
    if (!tool) errors.push("HEALTHCHECK uses neither curl nor wget");
    else if (!inFinal.some((i) => i.getKeyword() === "RUN" && new RegExp(`install[^&]*\\b${tool}\\b`).test(i.getTextContent()))) {
      errors.push(`HEALTHCHECK uses ${tool} but the runtime stage does not install it`);
    }
    if (!/--start-period=\d+m/.test(h)) errors.push("HEALTHCHECK needs a --start-period in minutes (model download and load)");
  }

  const env = inFinal.filter((i) => i.getKeyword() === "ENV").map((i) => i.getArgumentsContent()).join(" ");
  const hfHome = env.match(/HF_HOME=(\S+)/)?.[1];
  if (!hfHome) errors.push("ENV HF_HOME is not set in the final stage");
  const volumes = inFinal.filter((i) => i.getKeyword() === "VOLUME").map((i) => i.getArgumentsContent()).join(" ");
  if (hfHome && !volumes.includes(hfHome)) errors.push(`HF_HOME ${hfHome} is not a VOLUME`);
  if (!inFinal.some((i) => i.getKeyword() === "COPY" && /--from=build\b/.test(i.getTextContent()) && /kiln/.test(i.getTextContent()))) {
    errors.push("the final stage does not COPY the kiln binary --from=build");
  }
  if (instructions.some((i) => i.getKeyword() === "ADD" && /https?:\/\//.test(i.getTextContent()))) errors.push("ADD of a URL: fetch nothing outside the package managers");
  return errors;
}
