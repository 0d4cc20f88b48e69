#!/usr/bin/env python3
"""The crate's module graph as docs/architecture.md states it: nodes, import arrows, levels, arrows
pointing up (against the layer order) and circles.

A node is a top-level module of `src/` (a file or a folder), except that the layer folders (`app/`,
`support/`, `lecture/`, `presets/`) count each of their children as a node of its own. An arrow
A -> B means some file of A names `crate::B...` (in a `use` or inline). Usage:
    python3 scripts/module_graph.py [--coarse] [--dot]
With --coarse, each layer folder is one node.
"""
import os, re, sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
LAYER_DIRS = {"app", "support", "lecture", "presets"}
# The layer of each node's top folder (lower numbers sit lower): what "pointing up" is measured against.
LAYERS = [
    ("core", {"error", "progress", "ops", "params", "optim", "loss", "metrics", "data", "features", "models", "tta"}),
    ("training", {"train", "checkpoint", "preprocess", "classifier", "onnx"}),
    ("presets", {"presets"}),
    ("support", {"support", "lecture"}),
    ("applications", {"app"}),
]


COARSE = "--coarse" in sys.argv


def node_of(rel):
    parts = rel[:-3].split("/")  # drop .rs
    if parts[0] in LAYER_DIRS and len(parts) > 1 and not COARSE:
        sub = parts[1]
        return f"{parts[0]}/{sub}" if sub != "mod" else parts[0]
    return parts[0]


def strip(code):
    code = re.sub(r"//[^\n]*", "", code)
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
    return code


def targets(code):
    out = set()
    # use crate::{a, b::c, d::{...}}
    for m in re.finditer(r"crate::\{", code):
        i, depth, start = m.end(), 1, m.end()
        while depth and i < len(code):
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        body = code[start:i - 1]
        # top-level names of the group
        depth, cur = 0, ""
        for ch in body + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                name = cur.strip().split("::")[0].strip()
                if name:
                    out.add(name)
                cur = ""
            else:
                cur += ch
    for m in re.finditer(r"crate::([a-z_][a-z0-9_]*)(::([a-z_][a-z0-9_]*))?", code):
        deep = m.group(1) in LAYER_DIRS and m.group(3) and not COARSE
        out.add(f"{m.group(1)}/{m.group(3)}" if deep else m.group(1))
    return out


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[os.path.relpath(p, SRC)] = open(p).read()
    nodes, lines, edges = set(), {}, set()
    for rel, code in files.items():
        a = node_of(rel)
        if a == "lib":
            continue
        nodes.add(a)
        lines[a] = lines.get(a, 0) + code.count("\n")
    for rel, code in files.items():
        a = node_of(rel)
        if a == "lib":
            continue
        for t in targets(strip(code)):
            # `crate::app::x` -> node app/x; a name re-exported at the crate root maps to its module
            b = t if t in nodes else (t.split("/")[0] if t.split("/")[0] in nodes else None)
            if b is None:
                b = {"Error": "error", "Result": "error", "Classifier": "classifier", "Prediction": "classifier"}.get(t)
            if b and b != a and b in nodes:
                edges.add((a, b))
    # levels: longest path to a node that imports nothing
    memo, stack = {}, set()
    cycles = []

    def level(n):
        if n in memo:
            return memo[n]
        if n in stack:
            cycles.append(n)
            return 0
        stack.add(n)
        lv = 1 + max([level(b) for (a, b) in edges if a == n], default=-1)
        stack.discard(n)
        memo[n] = lv
        return lv

    for n in nodes:
        level(n)

    def layer(n):
        top = n.split("/")[0]
        for i, (_, members) in enumerate(LAYERS):
            if top in members:
                return i
        return None

    up = [(a, b) for (a, b) in edges if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)]
    if "--dot" in sys.argv:
        # One box per module (its line count), one frame per layer, arrows from importer to imported.
        print("digraph kindling {")
        print('  rankdir=TB; newrank=true; node [shape=box, style="rounded,filled", fontname="DejaVu Sans"];')
        print('  edge [color="#8899aa", arrowsize=0.6]; graph [fontname="DejaVu Sans", fontsize=18];')
        colours = ["#dbe9f6", "#e2f0d9", "#fdf2d0", "#efe3f3", "#fbe0d8"]
        for i, (name, members) in reversed(list(enumerate(LAYERS))):
            ns = sorted(n for n in nodes if n.split("/")[0] in members)
            if not ns:
                continue
            print(f'  subgraph cluster_{i} {{ label="{name}"; style=rounded; color="#667788";')
            for n in ns:
                print(f'    "{n}" [label="{n}\\n{lines[n]} lines", fillcolor="{colours[i]}"];')
            print("  }")
        # Every module returns the crate's `Error`: those arrows are left out of the picture.
        for a, b in sorted(edges):
            if b != "error":
                print(f'  "{a}" -> "{b}";')
        print("}")
        return
    print(f"nodes {len(nodes)}  arrows {len(edges)}  levels {1 + max(memo.values())}  "
          f"arrows pointing up {len(up)}  circles {len(set(cycles))}  lines {sum(lines.values())}")
    for name, members in LAYERS:
        ns = sorted(n for n in nodes if n.split('/')[0] in members)
        print(f"  {name}: " + ", ".join(f"{n} ({lines[n]})" for n in ns))
    unplaced = sorted(n for n in nodes if layer(n) is None)
    if unplaced:
        print("  not in a layer: " + ", ".join(unplaced))
    for a, b in up:
        print(f"  UP: {a} -> {b}")
    for n in sorted(nodes, key=lambda n: (-memo[n], n)):
        outs = sorted(b for (a, b) in edges if a == n)
        print(f"  L{memo[n]:<2} {n}: {', '.join(outs)}")


main()
