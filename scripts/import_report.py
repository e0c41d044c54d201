"""What the package's own imports look like: modules per folder, import cycles (every
import, function-local ones included), and function-local imports of the package's own
modules (which can hide a cycle from import time).

    python scripts/import_report.py [PACKAGE_DIR]

Reads the source with ``ast``; imports nothing of the package."""
from __future__ import annotations

import argparse
import ast
import collections
import os


def modules(root: str) -> dict:
    """module name -> file, for every .py below root (root's folder name is the package)."""
    pkg = os.path.basename(os.path.normpath(root))
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), os.path.dirname(os.path.normpath(root)))
                name = rel[:-3].replace(os.sep, ".")
                out[name.removesuffix(".__init__")] = os.path.join(d, f)
    return {k: v for k, v in out.items() if k.split(".")[0] == pkg}


def imports(name: str, path: str, known) -> list:
    """(target module, local?) for each import of a package module in ``path``."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    is_pkg = path.endswith("__init__.py")
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []

    def target(mod):
        while mod and mod not in known:  # from a.b import c: a.b.c is a module, or a.b is
            mod = mod.rpartition(".")[0]
        return mod

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for a in child.names:
                    if target(a.name):
                        found.append((target(a.name), inner))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(here[:len(here) - child.level + 1] + ([base] if base else []))
                for a in child.names:
                    t = target(f"{base}.{a.name}") if base else None
                    if t:
                        found.append((t, inner))
            else:
                visit(child, inner)

    visit(tree, False)
    return [(t, local) for t, local in found if t != name]


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("package", nargs="?", default=os.path.join(here, "freqload"))
    args = ap.parse_args()
    mods = modules(args.package)
    graph, local, top = collections.defaultdict(set), set(), set()
    for name, path in mods.items():
        for t, is_local in imports(name, path, mods):
            # a package's __init__ that re-exports its parts is not an edge back into it
            if not (name.startswith(t + ".") and t.count(".") < name.count(".")):
                graph[name].add(t)
            (local if is_local else top).add((name, t))
    local -= top
    per_folder = collections.Counter(n.rpartition(".")[0] if not mods[n].endswith("__init__.py")
                                     else n for n in mods)
    print("modules per folder:")
    for folder, n in sorted(per_folder.items()):
        print(f"  {folder}: {n}")
    found = cycles(graph)
    print(f"import cycles: {len(found)}")
    for c in found:
        print("  " + " <-> ".join(c))
    print(f"package imports (distinct importer -> module pairs): {len(top)} at module "
          f"level, {len(local)} only inside functions")
    for name, t in sorted(local):
        print(f"  {name} -> {t}")


if __name__ == "__main__":
    main()
