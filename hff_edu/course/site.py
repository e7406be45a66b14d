"""Build the course website with Jupyter Book 1 (Sphinx): `make book` (PROFILE=classroom by default).

    python -m hff_edu.course site --profile smoke        # what CI runs (make book PROFILE=smoke)
    python -m hff_edu.course site --profile classroom    # the site to publish (executes what is stale first)

The site's configuration is the checkout's ``book/`` folder (``_config.yml``, ``_toc.yml``, ``_ext/``).

1. Every notebook is executed in the profile by the notebook runner, unless its executed copy in
   ``build/notebooks/<profile>/`` is newer than its source (``make test`` leaves the smoke ones).
2. The site's sources are staged in ``build/book/<profile>/src``, laid out like the repository so
   that relative links keep working: the README as the home page, ``notebooks/`` (the executed
   copies), ``docs/`` (teaching guide, glossary, paper vs measured, architecture; a page that has not
   been written yet gets a placeholder that says so), ``benchmarks/README.md``, a page of every
   figure in ``benchmarks/results/`` and every result table stored there as Markdown (``*.md``). Links into a notebook's sections written the Jupyter way
   (``05_timing.ipynb#5.-Memory-against-depth``) are rewritten to the site's anchors.
3. ``jupyter-book build`` writes ``build/book/<profile>/_build/html``; MathJax, the widget renderer
   and plotly.js are served from its ``_static/`` (from js/node_modules and the plotly package) and
   the build fails if a page would load anything from the network (book/_ext/hff_offline.py).

Why Jupyter Book 1 (Sphinx) and not 2 (MyST): version 2's builder (the bundled mystmd) downloads its
site template ("book-theme") from the MyST template service on the first build, and its site is a
JavaScript application; version 1's theme, search (a local search index) and extensions are Python
packages, its output is static HTML that works from ``file://``, and every script a page loads can be
pointed at a local copy (``mathjax_path``, ``nb_ipywidgets_js``). This machine reaches only the package
registries, and the site must work without a network when it is viewed: version 1 does both.

``build/book/<profile>/report.json`` records the time of each step, the pages and the warnings.
Open ``build/book/<profile>/_build/html/index.html`` in a browser: it works from the disk, offline.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

from . import runner as nr
from .checkout import here

#: file under js/node_modules -> where the site serves it (under _static/)
ASSETS = {"mathjax/es5/tex-svg-full.js": "mathjax/tex-svg-full.js",
          "@jupyter-widgets/html-manager/dist/embed.js": "widgets/embed.js"}
#: pages another issue writes; until they exist the site shows a placeholder that says so
PLANNED = {"docs/glossary.md": "Glossary", "docs/paper_vs_measured.md": "Paper vs measured"}
HUB_SHIM = """// The widget renderer typesets labels with MathJax 2's API (MathJax.Hub.Queue): map it onto MathJax 3.
window.MathJax = window.MathJax || {};
MathJax.Hub = MathJax.Hub || {Queue: function () {
  Array.prototype.forEach.call(arguments, function (cmd) {
    if (Array.isArray(cmd) && cmd[0] === 'Typeset' && cmd[2] && MathJax.startup) {
      MathJax.startup.promise.then(function () { return MathJax.typesetPromise([cmd[2]]); });
    }
  });
}};
"""
JUPYTER_ANCHOR = re.compile(r"(\]\((?:[^)#\s]*/)?[^)#\s/]+\.ipynb)#([^)\s]+)\)")


def slug(anchor: str) -> str:
    """myst's GitHub-style heading anchor (``myst_heading_anchors``) for a heading or for the anchor
    Jupyter gives it: ``5.-Memory-against-depth`` and ``5. Memory against depth`` -> ``5-memory-against-depth``."""
    from myst_parser.mdit_to_docutils.base import default_slugify
    return default_slugify(unquote(anchor))  # Jupyter percent-encodes quotes: %22local%22 -> "local"


def site_links(text: str) -> str:
    """Jupyter-style section links to notebooks rewritten to the site's anchors."""
    return JUPYTER_ANCHOR.sub(lambda m: f"{m.group(1)}#{slug(m.group(2))})", text)


def execute_stale(profile: str, paths: list[Path]) -> dict:
    """Execute every notebook whose executed copy is missing or older than its source; returns seconds."""
    out_dir = here().executed / profile
    timeout = nr.TIMEOUTS[profile]
    ran = {}
    for p in paths:
        done = out_dir / p.name
        if done.is_file() and done.stat().st_mtime >= p.stat().st_mtime:
            continue
        print(f"executing {p.name} ({profile}) ...", flush=True)
        ran[p.name] = round(nr.execute(p, profile, out_dir, timeout), 1)
    return ran


def _readme_page() -> str:
    text = (here().root / "README.md").read_text(encoding="utf-8")
    return text


def _figures_page() -> str:
    figures = sorted((here().root / "benchmarks" / "results").glob("*.png"))
    lines = ["# Benchmark figures", "",
             "Every figure the benchmarks wrote to `benchmarks/results/` (the commands and the tables are in",
             "[the benchmarks' README](README.md)); a figure's numbers are in the `.csv` / `.json` of the same name.", ""]
    for f in figures:
        title = f.stem.replace("_", " ")
        data = [s for s in (f.with_suffix(".csv"), f.with_suffix(".json")) if s.is_file()]
        lines += [f"## {title}", "", f"![{title}](results/{f.name})", ""]
        if data:
            lines += ["Data: " + ", ".join(f"[`{d.name}`](results/{d.name})" for d in data), ""]
    return "\n".join(lines)


def _placeholder(title: str, rel: str) -> str:
    return (f"# {title}\n\n*This page is not written yet:* `{rel}` does not exist in this checkout. "
            "It is written by another part of the project; `make book` puts it here once it lands.\n")


def stage(profile: str, src: Path, paths: list[Path]) -> dict:
    """Lay out the site's sources in ``src``; returns what was staged."""
    import nbformat
    root, book, js = here().root, here().book, here().js
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "_ext"):
        item = book / name
        (shutil.copytree if item.is_dir() else shutil.copyfile)(item, src / name)
    toc = (book / "_toc.yml").read_text()
    entries = "".join(f"      - file: notebooks/{p.stem}\n" for p in paths)
    toc = toc.replace("  - caption: Notebooks\n    chapters: []\n", "  - caption: Notebooks\n    chapters:\n" + entries)
    # every stored result page (tables the benchmarks wrote: results/*.md) is a page of its own
    results = "".join(f"      - file: benchmarks/results/{md.stem}\n"
                      for md in sorted((root / "benchmarks" / "results").glob("*.md")))
    toc = toc.replace("  - caption: Results\n    chapters: []\n", "  - caption: Results\n    chapters:\n" + results)
    (src / "_toc.yml").write_text(toc)
    (src / "index.md").write_text(site_links(_readme_page()), encoding="utf-8")
    for p in paths:
        nb = nbformat.read(str(here().executed / profile / p.name), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = site_links(cell.source)
        nbformat.write(nb, str(src / "notebooks" / p.name))
    staged = {"placeholders": []}
    (src / "docs").mkdir()
    for md in sorted((root / "docs").glob("*.md")):
        (src / "docs" / md.name).write_text(site_links(md.read_text(encoding="utf-8")), encoding="utf-8")
    for folder in sorted(p for p in (root / "docs").iterdir() if p.is_dir()):  # docs/images: the README's screenshots
        shutil.copytree(folder, src / "docs" / folder.name)
    for rel, title in PLANNED.items():
        if not (src / rel).exists():
            (src / rel).write_text(_placeholder(title, rel))
            staged["placeholders"].append(rel)
    (src / "benchmarks" / "results").mkdir(parents=True)
    shutil.copyfile(root / "benchmarks" / "README.md", src / "benchmarks" / "README.md")
    for f in (root / "benchmarks" / "results").iterdir():
        if f.suffix == ".md":  # a page of its own: it needs a title for the table of contents
            text = f.read_text(encoding="utf-8")
            title = "" if text.lstrip().startswith("# ") else f"# {f.stem.replace('_', ' ')}\n\n"
            (src / "benchmarks" / "results" / f.name).write_text(title + text, encoding="utf-8")
        elif f.suffix in (".png", ".csv", ".json", ".txt"):
            shutil.copyfile(f, src / "benchmarks" / "results" / f.name)
    (src / "benchmarks" / "figures.md").write_text(_figures_page())
    static = src / "_assets"  # not _static: Jupyter Book adds every .js in _static/ to every page
    missing = [rel for rel in ASSETS if not (js / rel).is_file()]
    if missing:
        raise SystemExit(f"The site needs {', '.join(missing)} under {js}: run `npm ci --prefix js` "
                         "(make setup does), which installs MathJax and the widget renderer from npm.")
    for rel, target in ASSETS.items():
        (static / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(js / rel, static / target)
    # the widget renderer loads its icon fonts from beside itself
    for font in (js / "@jupyter-widgets/html-manager/dist").iterdir():
        if font.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg"):
            shutil.copyfile(font, static / "widgets" / font.name)
    (static / "widgets" / "mathjax-hub-shim.js").write_text(HUB_SHIM)
    from plotly.offline import get_plotlyjs
    (static / "plotly").mkdir()
    (static / "plotly" / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    return staged


WARNING = re.compile(r"^(?P<where>\S.*?): WARNING: (?P<what>.*)$", re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: warnings that mean a reader would meet a broken link or a missing page: they fail the build
BROKEN = re.compile(r"xref_missing|local id not found|undefined label|unknown document|not included in any toctree|"
                    r"nonexisting document|image file not readable")


def build(profile: str, only: list[str] | None = None) -> dict:
    out = here().build / "book" / profile
    src = out / "src"
    paths = nr.notebook_paths(only)
    report = dict(profile=profile, steps={})
    t0 = time.perf_counter()
    report["executed"] = execute_stale(profile, paths)
    report["steps"]["execute"] = round(time.perf_counter() - t0, 1)
    t1 = time.perf_counter()
    report.update(stage(profile, src, paths))
    report["steps"]["stage"] = round(time.perf_counter() - t1, 1)
    t2 = time.perf_counter()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(out),
           "--builder", "html", "--keep-going"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    report["steps"]["jupyter-book"] = round(time.perf_counter() - t2, 1)
    log = ANSI.sub("", r.stdout + r.stderr)
    (out / "build.log").write_text(log)
    report["warnings"] = [f"{m.group('where').replace(str(src) + '/', '')}: {m.group('what')}"
                          for m in WARNING.finditer(log)]
    html = out / "_build" / "html"
    report["pages"] = sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                             if not p.relative_to(html).parts[0].startswith("_"))
    report["total_s"] = round(time.perf_counter() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if r.returncode != 0:
        tail = "\n".join(log.splitlines()[-30:])
        raise SystemExit(f"jupyter-book failed ({r.returncode}); log in {out / 'build.log'}:\n{tail}")
    broken = [w for w in report["warnings"] if BROKEN.search(w)]
    if broken:
        raise SystemExit("the site has broken links or missing pages:\n  " + "\n  ".join(broken))
    return report


def print_report(profile: str, report: dict) -> None:
    """What ``build`` did, as the command line prints it."""
    for w in report["warnings"]:
        print(f"warning: {w}")
    for rel in report.get("placeholders", []):
        print(f"placeholder page (not written yet): {rel}")
    print(f"site: build/book/{profile}/_build/html/index.html ({len(report['pages'])} pages, "
          f"{len(report['warnings'])} warnings); steps {report['steps']}, {report['total_s']:.0f} s in all")
