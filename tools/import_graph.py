"""Figures of the package's shape, read from the import statements in src/voxray (nothing is imported).

A part is a top-level module (`voxray/train.py`, `voxray/__init__.py`) or a first-level package
(`voxray/data/`, everything below it included). An edge is one part importing another, counted once
however many imports make it; imports under `if TYPE_CHECKING:` are left out (they never run).

    uv run python tools/import_graph.py                    # this checkout
    uv run python tools/import_graph.py --src OTHER/src/voxray --place checks=cli --place metrics=evaluation

Prints: top-level modules, parts, import edges, levels (the longest chain of imports, in parts), edges
that run back up the declared layer order, cycles (between parts, and between modules: a part may hold
modules on both sides of another part), and the files over 300 lines. A part the order does
not name is placed with `--place PART=LAYER` (a layer is named by any part already in it); until then
its edges are listed as unjudged.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "voxray"
# Lowest first: a part may import its own layer and the layers before it.
LAYERS = (
    ("errors",),
    ("synth", "data", "features", "evaluation"),
    ("models",),
    ("checkpoint", "reporting", "callbacks", "html_report", "eda"),
    ("train", "evaluate", "predict", "export", "baseline", "prepare"),
    ("cli",),
    ("__init__",),  # the package's own entry: it registers the configs' resolvers
)
LONG = 300
SKIPPED = {".git", ".venv", "outputs", ".cache", "__pycache__", "node_modules"}


def part_of(module: str) -> str | None:
    """`voxray.data.voice.audio` -> "data"; `voxray` -> "__init__"; None outside the package."""
    names = module.split(".")
    if names[0] != PACKAGE:
        return None
    return names[1] if len(names) > 1 else "__init__"


def _runtime(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime(child)])
            continue
        yield node
        yield from _runtime(node)


def imports(path: Path, module: str) -> set[str]:
    """The modules `path` (the module named `module`) imports, relative imports resolved."""
    found: set[str] = set()
    for node in _runtime(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                names = module.split(".")  # a package's __init__ is named after the package itself
                package = names[: len(names) - node.level + (path.name == "__init__.py")]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from voxray import precision`
    return found


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph(src: Path) -> tuple[list[str], dict[str, set[str]], dict[str, set[str]]]:
    """The top-level modules of `src`, each part's imported parts, and each module's imported modules."""
    files = {module_name(path, src): path for path in sorted(src.rglob("*.py"))}
    modules: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in imports(path, module):
            while name and name not in files:  # `from a.b import c`: c is a module or a name in a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        modules[module] = targets
    parts: dict[str, set[str]] = {part_of(module): set() for module in files}
    for module, targets in modules.items():
        parts[part_of(module)] |= {part_of(t) for t in targets} - {part_of(module)}
    top = sorted(p.stem for p in src.glob("*.py"))
    return top, parts, modules


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def levels(edges: dict[str, set[str]]) -> int:
    """Parts on the longest chain of imports (a cycle's parts counted as one)."""
    merged = {member: "+".join(c) for c in cycles(edges) for member in c}
    dag: dict[str, set[str]] = {}
    for node, targets in edges.items():
        dag.setdefault(merged.get(node, node), set()).update(merged.get(t, t) for t in targets)
    for node in dag:
        dag[node].discard(node)

    @cache
    def depth(node: str) -> int:
        return 1 + max((depth(t) for t in dag.get(node, ())), default=0)

    return max((depth(n) for n in dag), default=0)


def layer_of(places: dict[str, str]) -> dict[str, int]:
    """Each part's layer number: the declared order plus `places` (part -> a part of its layer)."""
    layer = {part: i for i, names in enumerate(LAYERS) for part in names}
    for part, beside in places.items():
        if beside not in layer:
            raise SystemExit(f"--place {part}={beside}: {beside} is in no layer; name one of {sorted(layer)}")
        layer[part] = layer[beside]
    return layer


def long_files(root: Path) -> list[tuple[int, str]]:
    """(lines, path) of every .py file under `root` over LONG lines, longest first."""
    found = []
    for path in root.rglob("*.py"):
        if SKIPPED & set(path.relative_to(root).parts):
            continue
        n = len(path.read_text().splitlines())
        if n > LONG:
            found.append((n, str(path.relative_to(root))))
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src" / PACKAGE, help="the package folder")
    parser.add_argument("--place", action="append", default=[], metavar="PART=LAYER",
                        help="put a part the order does not name into the layer of another part (repeatable)")
    args = parser.parse_args()
    places = dict(p.split("=", 1) for p in args.place)
    top, edges, modules = graph(args.src)
    layer = layer_of(places)
    pairs = sorted((a, b) for a, targets in edges.items() for b in targets)
    judged = [(a, b) for a, b in pairs if a in layer and b in layer]
    upward = [(a, b) for a, b in judged if layer[b] > layer[a]]
    unjudged = sorted({p for pair in pairs for p in pair} - set(layer))
    print(f"top-level modules in {PACKAGE}/: {len(top)} ({', '.join(top)})")
    print(f"parts: {len(edges)}")
    print(f"import edges: {len(pairs)}")
    print(f"levels: {levels(edges)}")
    print(f"edges running back up the layer order: {len(upward)}"
          + "".join(f"\n  {a} -> {b}" for a, b in upward))
    if unjudged:
        print(f"parts in no layer (their edges unjudged; --place them): {', '.join(unjudged)}")
    found = cycles(edges)
    print(f"cycles between parts: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    found = cycles(modules)
    print(f"cycles between modules: {len(found)}" + "".join(f"\n  {' <-> '.join(c)}" for c in found))
    src_root = args.src.parents[1]
    long = long_files(src_root)
    print(f"files over {LONG} lines in the checkout: {len(long)}"
          + "".join(f"\n  {n:4d} {path}" for n, path in long))


if __name__ == "__main__":
    main()
