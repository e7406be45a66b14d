"""The exercises against the answers a student could give: for every exercise of the course, its kind,
difficulty and minutes, whether its notebook shows its header and folded hints, and how its check
judges the answers in ``tests/exercise_samples/`` (right ones accepted, wrong-but-plausible ones and
"call the package" ones caught, a blank not solved yet).

    python benchmarks/exercise_audit.py          # seconds; writes results/exercise_audit.{json,csv,md}

``tests/test_exercise_samples.py`` asserts the same; this prints the counts the course review asks for.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import sys
from collections import Counter
from pathlib import Path

from _common import ROOT, parser, table

sys.path.insert(0, str(ROOT / "tests"))
HINT = re.compile(r"<details>\s*<summary>\s*Hint", re.I)


def samples() -> dict:
    import exercise_samples
    found = {}
    for m in pkgutil.iter_modules(exercise_samples.__path__):
        found.update(importlib.import_module(f"exercise_samples.{m.name}").SAMPLES)
    return found


def notebook_text(number: str) -> str:
    import nbformat
    for path in sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb")):
        return "\n".join(c.source for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "markdown")
    return ""


def judge(key: str, sample: dict) -> dict:
    from hff_edu.teaching import exercises as ex

    def state(answer):
        ex.check(key, answer, **sample.get("context", dict)())
        return ex.RESULTS[key]

    def stub(*args, **kwargs):
        raise NotImplementedError
    counts = Counter()
    for kind in ("right", "wrong", "package"):
        for answer in sample.get(kind, {}).values():
            got = state(answer)
            counts[f"{kind}_n"] += 1
            counts[f"{kind}_ok"] += got == (ex.CORRECT if kind == "right" else ex.WRONG)
    counts["blank_ok"] = state(sample.get("blank", stub)) == ex.UNSOLVED
    return dict(counts)


def main(argv=None) -> int:
    p = parser(__doc__.split("\n\n")[0])
    a = p.parse_args(argv)
    os.environ["HFF_EDU_EXERCISES"] = "friendly"
    import contextlib
    import io
    from hff_edu.teaching import exercises as ex
    found, rows = samples(), []
    texts = {}
    for e in ex.catalogue():
        text = texts.setdefault(e.notebook, notebook_text(e.notebook))
        block = text.split(e.header(), 1)[1] if e.header() in text else ""
        block = re.split(r"\*\*Exercise \d", block, maxsplit=1)[0]
        with contextlib.redirect_stdout(io.StringIO()):
            counts = judge(e.key, found[e.key]) if e.key in found else {}
        rows.append(dict(key=e.key, title=e.title, kind=e.kind, level=e.level, minutes=e.minutes,
                         forbids=len(e.forbid), header_in_notebook=e.header() in text,
                         hints=len(HINT.findall(block)), has_samples=e.key in found, **counts))
    by_nb = Counter(r["key"].split(".")[0] for r in rows)
    lines = table(["exercise", "kind", "level", "min", "header", "hints", "right ok", "wrong caught",
                   "package caught", "blank"],
                  [[f"{r['key']} {r['title']}", r["kind"], "★" * r["level"], r["minutes"],
                    "yes" if r["header_in_notebook"] else "MISSING", r["hints"],
                    f"{r.get('right_ok', 0)}/{r.get('right_n', 0)}", f"{r.get('wrong_ok', 0)}/{r.get('wrong_n', 0)}",
                    f"{r.get('package_ok', 0)}/{r.get('package_n', 0)}", "ok" if r.get("blank_ok") else "NO"]
                   for r in rows])
    kinds = Counter(r["kind"] for r in rows)
    totals = {k: sum(r.get(k, 0) for r in rows) for k in ("wrong_n", "wrong_ok", "package_n", "package_ok")}
    text = (f"{len(rows)} exercises in {len(by_nb)} notebooks ({', '.join(f'{n}: {c}' for n, c in sorted(by_nb.items()))}); "
            f"kinds {dict(kinds)}; {sum(r['minutes'] for r in rows)} minutes in all. Wrong-but-plausible answers "
            f"caught: {totals['wrong_ok']} of {totals['wrong_n']}; answers that call the package caught: "
            f"{totals['package_ok']} of {totals['package_n']}. Command: `python benchmarks/exercise_audit.py`.\n\n"
            f"```\n{lines}\n```\n")
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "exercise_audit.md").write_text(text)
    (out / "exercise_audit.json").write_text(json.dumps(rows, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
