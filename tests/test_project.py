"""Project files agree with each other; source notebooks are clean."""
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in meta["optional-dependencies"].values() for r in reqs if _name(r) != "hff-edu"]
    wanted = {_name(r): r for r in meta["dependencies"] + extras}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r): r for r in pip if not r.startswith("-e")}
    assert listed == wanted, f"environment.yml and pyproject.toml disagree: {set(listed) ^ set(wanted)}"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name} stores outputs in code cells {dirty}: run `make strip`"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert re.search(r'^PROFILE\s*=\s*"classroom"', "".join(tagged[0]["source"]), re.M), \
        "the parameters cell sets PROFILE = \"classroom\" by default"
    assert nb["metadata"]["kernelspec"]["name"] == "hff-edu"


def test_every_python_file_compiles():
    """Also the test folders that the default run does not collect (tests/browser, tests/install):
    a syntax error there shows only in CI's browser step, 20 minutes in."""
    broken = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if any(part in (".venv", "build", "node_modules", ".git") or part.startswith(".venv") for part in path.parts):
            continue
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as e:
            broken.append(f"{path.relative_to(ROOT)}:{e.lineno}: {e.msg}")
    assert not broken, "files that do not compile:\n  " + "\n  ".join(broken)
