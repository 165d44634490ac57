#!/usr/bin/env python3
"""Renders chat-template golden cases with Python jinja2 exactly as transformers'
apply_chat_template does (render_jinja_template in transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the loopcontrols
extension and a {% generation %} tag, raise_exception and strftime_now globals, and transformers'
tojson filter (json.dumps with ensure_ascii=False). Needs only the standard library and jinja2.

Usage: render_jinja2.py CASES.json [--out OUT.json]
       render_jinja2.py --snippets SNIPPETS.json [--out OUT.json]
CASES.json: {"templates": {name: {"file": path relative to CASES.json, "bos_token", "eos_token"}},
             "cases": [{"name", "templates": [names] (default: all), "messages",
                        "tools"?, "add_generation_prompt"?, "continue_final_message"?,
                        "chat_template_kwargs"?}]}
Writes {"results": [{"case", "template", "output"} or {..., "error", "raised"}]}: one entry per
(case, template); "raised" is true when the template called raise_exception.
SNIPPETS.json: [{"name", "template", "context"}]: each template rendered with the context as its
variables; writes {"results": [{"name", "output"} or {"name", "error"}]}.
"""
import argparse
import json
import os
import sys
from datetime import datetime

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError:
    sys.stderr.write("render_jinja2.py: Python package jinja2 is required (apt-get install python3-jinja2)\n")
    sys.exit(3)


class RaisedByTemplate(jinja2.exceptions.TemplateError):
    pass


class GenerationTag(Extension):
    """transformers' AssistantTracker without the token tracking: the body renders as is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_environment():
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(compiled, spec, case):
    messages = case["messages"]
    add_generation_prompt = case.get("add_generation_prompt", False)
    continue_final_message = case.get("continue_final_message", False)
    if continue_final_message:
        if add_generation_prompt:
            raise ValueError("continue_final_message and add_generation_prompt are not compatible")
        if not messages or messages[-1].get("role") != "assistant":
            # kiln's rule (as vLLM's): only an assistant message can be continued.
            raise ValueError("continue_final_message is set but the final message's role is not 'assistant'")
    kwargs = {"bos_token": spec["bos_token"], "eos_token": spec["eos_token"]}
    kwargs.update(case.get("chat_template_kwargs", {}))
    rendered = compiled.render(messages=messages, tools=case.get("tools"), documents=None,
                               add_generation_prompt=add_generation_prompt, **kwargs)
    if continue_final_message:
        final_message = messages[-1]["content"]
        if isinstance(final_message, (list, tuple)):
            for block in reversed(final_message):
                if "text" in block:
                    final_message = block["text"]
                    break
            else:
                raise ValueError("continue_final_message is set but the final message has no text")
        if final_message.strip() not in rendered:
            raise ValueError("continue_final_message is set but the final message does not appear")
        loc = rendered.rindex(final_message.strip())
        if rendered[loc:loc + len(final_message.lstrip())] == final_message:
            rendered = rendered[:loc + len(final_message.lstrip())]
        else:
            rendered = rendered[:loc + len(final_message.strip())]
    return rendered


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases")
    parser.add_argument("--out")
    parser.add_argument("--snippets", action="store_true",
                        help="CASES is a list of {name, template, context} to render")
    args = parser.parse_args()
    if args.snippets:
        write(args.out, {"results": render_snippets(args.cases)})
        return
    with open(args.cases, encoding="utf-8") as f:
        spec = json.load(f)
    base = os.path.dirname(os.path.abspath(args.cases))
    env = make_environment()
    compiled = {}
    for name, t in spec["templates"].items():
        with open(os.path.join(base, t["file"]), encoding="utf-8") as f:
            compiled[name] = env.from_string(f.read())
    results = []
    for case in spec["cases"]:
        for name in case.get("templates", list(spec["templates"])):
            entry = {"case": case["name"], "template": name}
            try:
                entry["output"] = render(compiled[name], spec["templates"][name], case)
            except RaisedByTemplate as e:
                entry["error"] = str(e)
                entry["raised"] = True
            except Exception as e:  # any other failure: kiln must fail too
                entry["error"] = f"{type(e).__name__}: {e}"
                entry["raised"] = False
            results.append(entry)
    write(args.out, {"results": results})


def render_snippets(path):
    with open(path, encoding="utf-8") as f:
        snippets = json.load(f)
    env = make_environment()
    results = []
    for snippet in snippets:
        entry = {"name": snippet["name"]}
        try:
            entry["output"] = env.from_string(snippet["template"]).render(**snippet["context"])
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {e}"
        results.append(entry)
    return results


def write(path, data):
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
