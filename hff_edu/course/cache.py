"""The training cache warmed before a class, and the run time of every notebook section.

``python -m hff_edu.course warm-cache`` executes every notebook once in the classroom profile so that
each model it trains lands in the training cache (``training/checkpoint.py``) and a class run only
loads; ``times`` reads papermill's per-cell durations back into minutes per section.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import runner as nr
from .checkout import here


def warm_cache(paths: list[Path], profile: str = "classroom", out: Path | None = None,
               timeout: int | None = None) -> dict:
    """Execute every notebook once in ``profile`` so that each model it trains lands in the training
    cache (``train_or_load`` / ``fit_or_load``) and numba's cache is compiled; a later run only loads.
    The executed copies go where ``make notebooks`` puts them (``build/notebooks/<profile>/``), so
    ``make book`` reuses them. Returns the seconds per notebook; a failing notebook raises after the
    others have run."""
    timeout = timeout or nr.TIMEOUTS[profile]
    out = Path(out) if out is not None else here().executed / profile
    seconds, failed = {}, []
    for p in paths:
        print(f"warming {p.name} ({profile}) ...", flush=True)
        try:
            seconds[p.name] = round(nr.execute(p, profile, out, timeout), 1)
            print(f"  {seconds[p.name]:.1f} s", flush=True)
        except nr.NotebookFailed as e:
            failed.append(str(e))
    (out / "timings.json").write_text(json.dumps(dict(profile=profile, seconds=seconds), indent=2))
    if failed:
        raise nr.NotebookFailed("\n".join(failed))
    return seconds


def section_times(executed: Path) -> list[tuple[str, float]]:
    """Seconds per section (``## `` heading) of an executed notebook, from papermill's per-cell
    durations; what comes before the first section (imports, parameters, data) is ``start``."""
    import nbformat
    nb = nbformat.read(str(executed), as_version=4)
    sections, name = {}, "start"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            headings = [line[3:].strip() for line in cell.source.splitlines() if line.startswith("## ")]
            name = headings[-1] if headings else name  # the code that follows belongs to the last one
        seconds = cell.metadata.get("papermill", {}).get("duration") or 0.0
        sections[name] = sections.get(name, 0.0) + float(seconds)
    return [(k, round(v, 1)) for k, v in sections.items()]


def times_table(executed_dir: Path, paths: list[Path]) -> str:
    """A Markdown table of every section's run time in the executed copies in ``executed_dir``."""
    lines = ["| notebook | section | s |", "|---|---|---|"]
    for p in paths:
        done = executed_dir / p.name
        if not done.is_file():
            continue
        rows = section_times(done)
        lines += [f"| {p.stem} | {name} | {sec:.1f} |" for name, sec in rows]
        lines.append(f"| {p.stem} | **all** | **{sum(sec for _, sec in rows):.1f}** |")
    return "\n".join(lines)
