"""The same seed, the same numbers, on every CPU: the reproducibility tests and a seeded run of every
model kind under other code paths of MKL and ATen and other thread counts (``make repro``).

A teacher's laptop picks other kernels than our CI machine (AVX-512, AVX2, SSE4.2; another thread
count). Environment variables make this machine take those paths, so together they stand in for
the machines we do not have:

    python benchmarks/portability.py            # every code path: the tests, then the differences
    python benchmarks/portability.py --no-tests # only the differences table

For each code path it (1) runs ``tests/test_reference.py`` and ``tests/test_portable.py`` (the
stored reference must match to rtol 1e-4) and (2) trains every model kind of the reference test
(two short epochs, fixed seeds) in a fresh process and compares losses, weights and predictions
with the default path's. Writes ``results/portability.{json,csv,md}``; exits 1 when a test fails
or a difference exceeds ``--tolerance``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, metadata, parser, table, write_results

import torch

#: name -> the environment that selects that code path (the default path: nothing set)
CODE_PATHS = {
    "default": {},
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2"},
    "MKL AVX2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "MKL SSE4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "ATen default (no SIMD)": {"ATEN_CPU_CAPABILITY": "default"},
}
TESTS = ["tests/test_reference.py", "tests/test_portable.py"]


def child(out: str) -> None:
    """Run in a fresh process under one code path: every kind's seeded numbers, saved to ``out``."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_reference as ref
    from hff_edu import geometry
    results = {kind: ref.compute(kind) for kind in ref.KINDS}
    results["etf 10 in R^500"] = dict(state={"prototypes": geometry.simplex_etf(10, 500, seed=0)})
    results["cpu capability"] = torch.backends.cpu.get_cpu_capability()
    torch.save(results, out)


def run_child(env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "numbers.pt"
        run = subprocess.run([sys.executable, __file__, "--child", str(out)], cwd=ROOT, text=True,
                             env={**os.environ, **env, "PYTHONWARNINGS": "ignore"}, capture_output=True)
        if run.returncode:
            raise SystemExit(f"the seeded run under {env} failed:\n{run.stderr[-3000:]}")
        return torch.load(out, weights_only=False)


def largest_difference(a: dict, b: dict) -> tuple[float, int]:
    """The largest absolute difference of any loss or weight, and how many predictions differ."""
    diff, flips = 0.0, 0
    for key in ("losses", "test_acc"):
        if key in a:
            diff = max(diff, float((a[key] - b[key]).abs().max()))
    for name, value in a["state"].items():
        if value.is_floating_point():
            diff = max(diff, float((value - b["state"][name]).abs().max()))
    for key in ("pred", "layers"):
        if key in a:
            flips += int((a[key] != b[key]).sum())
    return diff, flips


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--no-tests", action="store_true", help="skip the pytest runs, measure only")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest difference allowed")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child)
        return 0
    failed = []
    if not args.no_tests:
        for name, env in CODE_PATHS.items():
            print(f"== pytest {' '.join(TESTS)} under {name} {env or ''}", flush=True)
            rc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                                cwd=ROOT, env={**os.environ, **env}).returncode
            if rc:
                failed.append(name)
    print("== seeded runs of every model kind under each code path (fresh processes)", flush=True)
    numbers = {name: run_child(env) for name, env in CODE_PATHS.items()}
    base = numbers["default"]
    rows = []
    for name, got in numbers.items():
        for kind, value in got.items():
            if kind == "cpu capability":
                continue
            diff, flips = largest_difference(value, base[kind])
            rows.append(dict(code_path=name, env=CODE_PATHS[name], aten_capability=got["cpu capability"],
                             kind=kind, largest_difference=diff, prediction_flips=flips))
    worst = {}
    for r in rows:
        w = worst.setdefault(r["code_path"], dict(diff=0.0, flips=0, kind=""))
        if r["largest_difference"] >= w["diff"]:
            w.update(diff=r["largest_difference"], kind=r["kind"])
        w["flips"] += r["prediction_flips"]
    lines = [[name, numbers[name]["cpu capability"], f"{w['diff']:.1e}", w["kind"], w["flips"]]
             for name, w in worst.items()]
    text = table(["code path", "ATen", "largest difference", "in", "prediction flips"], lines)
    print(text)
    meta = metadata(args, "cpu", dict(code_paths=CODE_PATHS, tests=TESTS, tolerance=args.tolerance),
                    "python benchmarks/portability.py")
    name = "portability" + (f"_{args.tag}" if args.tag else "")
    write_results(name, args, meta, rows, extra=dict(failed_tests=failed))
    (Path(args.out_dir) / f"{name}.md").write_text(
        f"Seeded runs of every model kind against the default code path ({meta['cpu']}, "
        f"{meta['date']}; `python benchmarks/portability.py`):\n\n```\n{text}\n```\n")
    bad = [n for n, w in worst.items() if w["diff"] > args.tolerance]
    if failed:
        print(f"tests failed under: {', '.join(failed)}", file=sys.stderr)
    if bad:
        print(f"differences above {args.tolerance:g} under: {', '.join(bad)}", file=sys.stderr)
    return 1 if failed or bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
