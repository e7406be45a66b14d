"""The package's shape: no import cycles (every import statement counts, also those inside
functions), the layers of docs/layout import only downwards, each algorithm in one module,
and every module says in its opening docstring what it holds."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hff_edu"

#: the layers, lowest first (docs and ../shared/docs/layout.md); a module may import only
#: from its own layer or below. Modules not listed here fail the test: place them.
LAYERS = [
    {"version", "protocol", "profiles", "geometry", "data", "blocks", "augment", "stats"},
    {"ff", "hff", "baselines"},
    {"models"},
    {"train", "callbacks", "checkpoint", "timing", "memory", "transfer", "parallel", "compile", "load"},
    {"viz", "widgets", "exercises", "explorer", "claims"},
    {"cli", "notebook_runner", "course", "__main__", "__init__"},
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set) -> set:
    """Every package module that ``path`` imports, wherever the statement sits."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            # "from . import ff" imports the module hff_edu.ff; "from .ff import x" imports hff_edu.ff
            targets = [f"{root}.{alias.name}" if f"{root}.{alias.name}" in known else root
                       for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(g: dict):
    """A list of modules forming a cycle, or None (depth-first search with colours)."""
    colour, stack = {}, []

    def visit(n):
        colour[n] = "grey"
        stack.append(n)
        for m in sorted(g[n]):
            if colour.get(m) == "grey":
                return stack[stack.index(m):] + [m]
            if m not in colour:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        colour[n] = "black"
        return None

    for n in sorted(g):
        if n not in colour:
            found = visit(n)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_walker_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from .ff import goodness\n    from . import hff\n")
    assert imports_of("hff_edu.m", src, {"hff_edu.ff", "hff_edu.hff", "hff_edu.m"}) == {"hff_edu.ff", "hff_edu.hff"}


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def layer_of(name: str) -> int:
    short = name.split(".")[1] if "." in name else "__init__"
    for i, layer in enumerate(LAYERS):
        if short in layer:
            return i
    raise AssertionError(f"module {name} is in no layer of tests/test_structure.py: add it to LAYERS")


def test_layers_import_only_downwards():
    bad = [f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
           for a, targets in graph().items() for b in targets
           if layer_of(b) > layer_of(a) and a != "hff_edu"]
    assert not bad, "\n".join(bad)


def test_algorithm_modules_never_import_the_registry_or_each_other_upwards():
    g = graph()
    for algo in ("hff_edu.ff", "hff_edu.hff", "hff_edu.baselines", "hff_edu.blocks"):
        assert "hff_edu.models" not in g[algo], f"{algo} imports the registry"
    assert not g["hff_edu.blocks"] & {"hff_edu.ff", "hff_edu.hff", "hff_edu.baselines"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_opens_with_a_docstring(name):
    path = modules()[name]
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if path.name == "__main__.py":
        return
    assert doc and len(doc.split("\n\n")[0]) >= 20, f"{name}: say in the opening docstring what it holds"


def test_each_algorithm_holds_both_architectures():
    from hff_edu import baselines, ff, hff
    assert ff.FFNet.__module__ == ff.FFConvNet.__module__ == "hff_edu.ff"
    assert hff.HFFNet.__module__ == hff.HFFConvNet.__module__ == "hff_edu.hff"
    for cls in (baselines.BPNet, baselines.BPConvNet, baselines.LocalCENet, baselines.LocalCEConvNet):
        assert cls.__module__ == "hff_edu.baselines"
    for mod in (ff, hff, baselines):
        assert not hasattr(mod, "__getattr__"), f"{mod.__name__} re-exports lazily"
