#!/usr/bin/python3
"""Writes docs/ops.md from `tessera ops --json` (the registry is the source of truth).
Usage: scripts/gen_ops_doc.py [--check] [path/to/tessera]
--check writes nothing and exits 1 when docs/ops.md is not what it would write."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
args = sys.argv[1:]
check = "--check" in args
args = [a for a in args if a != "--check"]
binary = args[0] if args else os.path.join(ROOT, "build", "src", "cli", "tessera")
ops = json.loads(subprocess.run([binary, "ops", "--json"], check=True, capture_output=True,
                                text=True).stdout)

KINDS = {
    "point": "output pixel depends on the same input pixel",
    "stencil": "output pixel depends on a window of input pixels",
    "geometric": "output size is a function of the input size; each output pixel maps back",
    "global": "needs a reduction over the whole image, then a local apply",
}


def fmt(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


lines = ["# Operations", "",
         "Generated from the registry by `scripts/gen_ops_doc.py` (`tessera ops --json`).", "",
         "Pipelines chain operations with `|`; parameters follow a `:` as `name=value` pairs",
         "separated by `,` (kernel values are separated by spaces). JSON form:",
         "`[{\"op\":\"gaussian-blur\",\"sigma\":2}]`.", "",
         "Each operation has a version, bumped when its output changes; older versions stay",
         "runnable. `gaussian-blur@1:sigma=2` (JSON: `\"op\":\"gaussian-blur@1\"` or",
         "`\"version\":1`) pins one; without a pin the newest runs. Normalized pipelines",
         "(what jobs record) write every version. See",
         "[operations.md](operations.md#versions-and-rollback).", "", "Kinds:", ""]
for k, v in KINDS.items():
    lines.append(f"- **{k}**: {v}")
lines += ["", "| operation | kind | bands | what it does |", "|---|---|---|---|"]
for o in ops:
    lines.append(f"| [`{o['name']}`](#{o['name']}) | {o['kind']} | {o['bands']} | {o['summary']} |")
for o in ops:
    older = [str(v) for v in o.get("versions", []) if v != o["version"]]
    also = f"; older versions that still run: {', '.join(older)}" if older else ""
    lines += ["", f"## {o['name']}", "", f"{o['summary']} (kind {o['kind']}, version {o['version']}"
              f"{also}, bands {o['bands']})", ""]
    if not o["params"]:
        lines.append("No parameters.")
        continue
    lines += ["| parameter | type | default | range | what it does | details |",
              "|---|---|---|---|---|---|"]
    for p in o["params"]:
        if p["type"] == "enum":
            rng = " \\| ".join(p["choices"])
        elif p["type"] == "bool":
            rng = "true \\| false"
        elif p["type"] == "kernel":
            rng = "1x1 to 9x9, odd side"
        else:
            rng = f"{fmt(p['min'])} .. {fmt(p['max'])}"
            if p["unit"]:
                rng += f" {p['unit']}"
        default = fmt(p["default"]) if "default" in p else ("unset" if p["optional"] else "required")
        if isinstance(p.get("default"), bool):
            default = "true" if p["default"] else "false"
        doc = p["doc"].replace("|", "\\|")
        lines.append(f"| `{p['name']}` | {p['type']} | {default} | {rng} | {p['hint']} | {doc} |")
path = os.path.join(ROOT, "docs", "ops.md")
text = "\n".join(lines) + "\n"
if check:
    with open(path) as f:
        if f.read() != text:
            sys.exit("docs/ops.md is out of date: run scripts/gen_ops_doc.py")
    print(f"docs/ops.md is up to date ({len(ops)} operations)")
    sys.exit(0)
with open(path, "w") as f:
    f.write(text)
print(f"wrote docs/ops.md ({len(ops)} operations)")
