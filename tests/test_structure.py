"""The package's shape: no import cycles (every import statement counts, also those inside
functions), the layers (the package's folders) import only downwards, each algorithm in one module,
every module says in its opening docstring what it holds, and no module or function outgrows the
floors."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hff_edu"

#: the layers, lowest first (docs/architecture.md and ../shared/docs/layout.md), by the package's
#: folders: a module may import only from its own layer or below. A new folder or top-level module
#: not listed here fails the test: place it.
LAYERS = [
    {"version", "core"},        # the vocabulary: protocol, data and its sources, geometry, blocks, stats, palette
    {"methods"},                # one learning rule per file, and the registry of their declarations
    {"training"},               # fit, checkpoints, the fast path, callbacks, transfer, parallel/
    {"measuring"},              # clocks, inference, FLOPs, training cost, memory, load
    {"viz"},                    # figures
    {"teaching"},               # claims, exercises, widgets, profiles
    {"course"},                 # editions, the notebook runner, the site
    {"cli", "__main__", "__init__"},
]
#: the size floors the structure keeps (lines): no module, no function body (its docstring aside)
#: beyond them. A method's file holds all of that method, nanoGPT-style (input, layer, loss, MLP,
#: conv network, prediction, declaration), so it may be longer than the rest.
MAX_MODULE_LINES = 620
MAX_METHOD_MODULE_LINES = 750
MAX_FUNCTION_LINES = 80


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
            # "from . import ff" imports the module hff_edu.methods.ff; "from .ff import x" imports hff_edu.methods.ff
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
    for algo in ("hff_edu.methods.ff", "hff_edu.methods.hff", "hff_edu.methods.baselines", "hff_edu.core.blocks"):
        assert "hff_edu.methods" not in g[algo], f"{algo} imports the registry"
    assert not g["hff_edu.core.blocks"] & {"hff_edu.methods.ff", "hff_edu.methods.hff", "hff_edu.methods.baselines"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_opens_with_a_docstring(name):
    path = modules()[name]
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if path.name == "__main__.py":
        return
    assert doc and len(doc.split("\n\n")[0]) >= 20, f"{name}: say in the opening docstring what it holds"


def test_each_algorithm_holds_both_architectures():
    from hff_edu import baselines, ff, hff
    assert ff.FFNet.__module__ == ff.FFConvNet.__module__ == "hff_edu.methods.ff"
    assert hff.HFFNet.__module__ == hff.HFFConvNet.__module__ == "hff_edu.methods.hff"
    for cls in (baselines.BPNet, baselines.BPConvNet, baselines.LocalCENet, baselines.LocalCEConvNet):
        assert cls.__module__ == "hff_edu.methods.baselines"
    for mod in (ff, hff, baselines):
        assert not hasattr(mod, "__getattr__"), f"{mod.__name__} re-exports lazily"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_outgrows_the_floor(name):
    lines = len(modules()[name].read_text().splitlines())
    floor = MAX_METHOD_MODULE_LINES if name.startswith("hff_edu.methods.") else MAX_MODULE_LINES
    assert lines <= floor, f"{name} has {lines} lines (> {floor}): split it by job"


def test_no_function_outgrows_the_floor():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                n = node.end_lineno - body[0].lineno + 2 if body else 1  # the def line and the body
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: " + ", ".join(long)


def test_every_folder_is_a_package_listed_in_pyproject():
    import tomllib
    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("*.py")}
    assert folders - {"hff_edu.course_notebooks"} <= listed, f"not in pyproject.toml: {sorted(folders - listed)}"
