"""Renders the reference prompts in template_cases.json with Python's jinja2.

Not part of the build or CI: run once, by hand, in a throwaway virtual environment, and commit its
output. It needs `pip install jinja2` (and `transformers` optionally, for a cross-check):

    python3 -m venv /tmp/jvenv && /tmp/jvenv/bin/pip install jinja2 gguf transformers
    /tmp/jvenv/bin/python make_template_cases.py [model.gguf]

With a GGUF path the template is first read from its `tokenizer.chat_template` metadata (needs the
`gguf` package) and written next to this script. The jinja2 environment is the one Hugging Face
transformers renders chat templates with (trim_blocks, lstrip_blocks, loopcontrols, a `tojson` that
is Python's json.dumps with ensure_ascii=False and unsorted keys), so the expected prompts are the
ones the model was trained on.

Each case holds `request` (agentos messages and tools, as agentos-core serializes them), the
`template_input` a template sees (OpenAI-style messages and tools; also as the exact text
`json.dumps` writes, `template_input_json`, which pins its key order), and the `expected` rendering.
`template_input` is derived here independently of the Rust mapping, following the same rules:
serde_json sorts object keys, tools are `{"type": "function", "function": {name, description,
parameters}}` (none when there are no tools), and JSON Schema objects list type, description, enum, properties, items, required
first.
"""

import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "qwen2.5-coder-0.5b-instruct.jinja")
CASES = os.path.join(HERE, "template_cases.json")
SCHEMA_FIRST = ["type", "description", "enum", "properties", "items", "required"]


def sort_deep(v):
    if isinstance(v, dict):
        return {k: sort_deep(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [sort_deep(x) for x in v]
    return v


def schema_order(s):
    if not isinstance(s, dict):
        return s
    out = {}
    for k in SCHEMA_FIRST + sorted(k for k in s if k not in SCHEMA_FIRST):
        if k not in s:
            continue
        v = s[k]
        if k in ("properties", "$defs", "definitions") and isinstance(v, dict):
            v = {name: schema_order(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not"):
            v = schema_order(v)
        elif k in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(v, list):
            v = [schema_order(sub) for sub in v]
        out[k] = v
    return out


def content(m):
    return "".join(p["text"] for p in m.get("parts", []))


def template_input(request):
    names = {}
    messages = []
    for m in request["messages"]:
        out = {"role": m["role"], "content": content(m)}
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                names[c["id"]] = c["name"]
                args = sort_deep(c["arguments"])
                calls.append({"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": args}})
            out["tool_calls"] = calls
        if m.get("tool_call_id"):
            out["tool_call_id"] = m["tool_call_id"]
            if m["tool_call_id"] in names:
                out["name"] = names[m["tool_call_id"]]
        messages.append(out)
    tools = [
        {"type": "function", "function": {"name": t["name"], "description": t["description"],
                                          "parameters": schema_order(sort_deep(t["parameters"]))}}
        for t in request.get("tools", [])
    ]
    return {"messages": messages, "tools": tools or None}


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def main():
    if len(sys.argv) > 1:
        import gguf

        field = gguf.GGUFReader(sys.argv[1]).fields["tokenizer.chat_template"]
        with open(TEMPLATE, "w") as f:
            f.write(bytes(field.parts[field.data[0]]).decode())
    source = open(TEMPLATE).read()
    template = environment().from_string(source)
    cases = json.load(open(CASES))
    for case in cases:
        case["template_input"] = template_input(case["request"])
        inp = case["template_input"]
        case["template_input_json"] = json.dumps(inp, ensure_ascii=False)
        tools = inp["tools"]
        case["expected"] = template.render(messages=inp["messages"], tools=tools, add_generation_prompt=True)
        try:
            from transformers.utils.chat_template_utils import render_jinja_template

            (hf,), _ = render_jinja_template(conversations=[inp["messages"]], tools=tools, chat_template=source,
                                             add_generation_prompt=True)
            assert hf == case["expected"], f"{case['name']}: transformers renders differently"
        except ImportError:
            pass
    with open(CASES, "w") as f:
        json.dump(cases, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
