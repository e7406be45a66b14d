"""Shared plumbing of the benchmark scripts: arguments, metadata, result files, tables.

Every script writes ``<out-dir>/<name>.json`` (metadata + configuration + rows),
``<name>.csv`` (the rows) and ``<name>.png`` (a figure), and prints a summary
table. ``--quick`` runs a tiny configuration (< 1 minute) and writes
``<name>_quick.*`` so that it never overwrites a full run.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from hff_edu import timing  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def parse_widths(text: str) -> list[int]:
    """``"3x500"`` or ``"500,500,500"`` -> [500, 500, 500]."""
    try:
        if "x" in text.lower():
            n, w = text.lower().split("x")
            return [int(w)] * int(n)
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths {text!r}: write e.g. 3x500 or 500,500,500.")


def widths_label(widths) -> str:
    return f"{len(widths)}x{widths[0]}" if len(set(widths)) == 1 else ",".join(map(str, widths))


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.replace(" ", "").split(",") if v]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny configuration, under a minute; writes *_quick.*")
    p.add_argument("--device", default="cpu", help="cpu or cuda (timings synchronise CUDA)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's own choice; recorded in the metadata)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and initialisation")
    p.add_argument("--out-dir", default=str(RESULTS), help="where the JSON, CSV and PNG go")
    p.add_argument("--no-plot", action="store_true", help="skip the figure")
    p.add_argument("--tag", default="", help="appended to the output file names (keeps other runs' results)")
    return p


def setup(args) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for but torch sees no CUDA device.")
    return device


def quick_defaults(p: argparse.ArgumentParser, args, **values) -> None:
    """With ``--quick``, use these values for every option the user left at its default."""
    if args.quick:
        for key, value in values.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)


def out_name(name: str, args) -> str:
    name = f"{name}_quick" if args.quick else name
    return f"{name}_{args.tag}" if getattr(args, "tag", "") else name


def metadata(args, device, config: dict, command: str) -> dict:
    return dict(command=command, date=_dt.datetime.now().isoformat(timespec="seconds"),
                **timing.machine_info(device), seed=args.seed, quick=bool(args.quick), config=config)


def _flat(value):
    return json.dumps(value) if isinstance(value, (list, dict, tuple)) else value


def write_results(name: str, args, meta: dict, rows: list[dict], extra: dict | None = None) -> Path:
    """``<name>.json`` with metadata, configuration and rows; ``<name>.csv`` with the rows."""
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["load_avg_at_end"] = timing.machine_info(args.device).get("load_avg_1_5_15min")
    path = out / f"{name}.json"
    path.write_text(json.dumps(dict(meta=meta, rows=rows, **(extra or {})), indent=2, default=str))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: _flat(r.get(k)) for k in keys})
    return path


def save_figure(fig, name: str, args) -> Path | None:
    if args.no_plot:
        return None
    import matplotlib.pyplot as plt
    path = Path(args.out_dir) / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def finish(name: str, args, text: str, start: float) -> int:
    """The end of a script whose summary is markdown: write ``text`` to ``<out-dir>/<name>.md``, print it and
    how long the run took since ``start`` (a ``time.perf_counter()``); returns 0, the exit status."""
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text)
    print(text)
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


def table(headers: list[str], rows: list[list]) -> str:
    """A plain aligned text table (first column left-aligned, the rest right-aligned)."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * x for x in w)] + [line(r) for r in cells[1:]])


def header(title: str, meta: dict) -> str:
    load = meta.get("load_avg_1_5_15min")
    return (f"== {title} ==\n{meta['cpu']} ({meta['logical_cpus']} logical CPUs), torch {meta['torch']}, "
            f"device {meta['device']}, {meta['threads']} threads, seed {meta['seed']}, "
            f"load average at start {load}")
