#!/usr/bin/env python3
"""Checks the layering of DESIGN.md on the sources: every `#include "LAYER/..."` of a file in
src/MODULE/ names MODULE itself or a library MODULE links (its kiln_module DEPS, transitively), the
DEPS have no cycle, and the rules the design names hold: the engine links no tokenizer, Jinja or
PCRE2, and sees no HTTP or JSON; kvcache has no device code.

And the namespace rule (docs/architecture.md): code in src/LAYER/ is in kiln::LAYER, except the
engine's data path (CORE_LAYERS), whose names every layer uses and which is in kiln, with its CPU
and CUDA backends in kiln::cpu and kiln::cuda. `detail` may nest anywhere. A hook that a library
has its user define in the library's namespace is the exception: Boost's assertion handler, in
namespace boost, in a file that includes <boost/assert.hpp>.

usage: check_layers.py SRC_DIR
"""
import os
import re
import sys

CORE_LAYERS = {"base", "tensor", "kernels", "model", "kvcache", "engine"}
NAMESPACE = re.compile(r"^namespace ([\w:]+) \{", re.M)
MODULE_CALL = re.compile(r"kiln_module\((\w+)([^)]*)\)", re.S)
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)


def read_modules(src):
    modules = {}
    for name in sorted(os.listdir(src)):
        cmake = os.path.join(src, name, "CMakeLists.txt")
        if not os.path.isfile(cmake):
            continue
        with open(cmake, encoding="utf-8") as f:
            match = MODULE_CALL.search(f.read())
        if not match:
            continue
        deps = match.group(2).replace("DEPS", " ").split()
        modules[match.group(1)] = {
            "dir": name,
            "kiln": [d[len("kiln_"):] for d in deps if d.startswith("kiln_")],
            "external": [d for d in deps if not d.startswith("kiln_")],
        }
    return modules


def closure(modules, name, errors, path=()):
    if name in path:
        errors.append("dependency cycle: " + " -> ".join(path + (name,)))
        return set()
    reached = set()
    for dep in modules.get(name, {}).get("kiln", []):
        if dep not in modules:
            errors.append(f"src/{modules[name]['dir']}/CMakeLists.txt: kiln_{dep} is no module")
            continue
        reached.add(dep)
        reached |= closure(modules, dep, errors, path + (name,))
    return reached


def main():
    src = sys.argv[1]
    modules = read_modules(src)
    errors = []
    reach = {name: closure(modules, name, errors) for name in modules}
    externals = {name: set(modules[name]["external"]).union(*(modules[d]["external"] for d in reach[name]))
                 for name in modules}
    for name, module in modules.items():
        root = os.path.join(src, module["dir"])
        for folder, _, files in os.walk(root):
            for file in files:
                if not file.endswith((".h", ".cc", ".cu", ".cuh")):
                    continue
                path = os.path.join(folder, file)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                shown = os.path.relpath(path, os.path.dirname(src))
                for namespace in NAMESPACE.findall(text):
                    if name in CORE_LAYERS:
                        allowed = {"kiln", "kiln::cpu", "kiln::cuda", "cpu", "cuda", "detail"}
                        allowed |= {a + "::detail" for a in ("kiln", "kiln::cpu", "kiln::cuda")} | {"kiln::cpu::simd"}
                    else:
                        allowed = {"kiln::" + name, "kiln::" + name + "::detail", "detail"}
                    if namespace == "boost" and "#include <boost/assert.hpp>" in text:
                        allowed = allowed | {"boost"}
                    if namespace not in allowed:
                        want = "kiln (or kiln::cpu, kiln::cuda)" if name in CORE_LAYERS else "kiln::" + name
                        errors.append(f"{shown}: namespace {namespace}: code in src/{module['dir']}/ is in {want}")
                for include in INCLUDE.findall(text):
                    layer = include.split("/", 1)[0]
                    if "/" in include and layer in modules and layer != name and layer not in reach[name]:
                        errors.append(f"{shown}: includes {include}, but kiln_{name} does not link kiln_{layer}")
                    if name == "engine" and (include.startswith(("nlohmann/", "boost/")) or layer == "server"):
                        errors.append(f"{shown}: includes {include}: HTTP and JSON never reach the engine")
                    if name == "kvcache" and (include.startswith(("cuda", "kernels/")) or "/cuda/" in include):
                        errors.append(f"{shown}: includes {include}: kvcache has no device code")
    for forbidden in ("tokenizer", "jinja"):
        if forbidden in reach.get("engine", set()):
            errors.append(f"kiln_engine links kiln_{forbidden} (the adapters belong above the engine, in cli/)")
    if any("PCRE2" in e for e in externals.get("engine", set())):
        errors.append("kiln_engine links PCRE2")
    for error in errors:
        print(error)
    print(f"layers: {len(modules)} modules checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
