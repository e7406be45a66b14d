"""Which notebook claims hold for which seed: every notebook run with several seeds (``make claims-sweep``).

A claim a notebook checks must hold for any seed, or it is luck. This runs the notebooks in one
profile with ``SEED`` = 0, 1, 2, ... (the claims in ``record`` mode: a claim that does not hold is
printed and the notebook goes on, so every claim is seen), reads the ``[claim]`` lines of every
executed notebook and writes which claims held, were skipped or failed, per seed:

    python benchmarks/claims_sweep.py                         # classroom, seeds 0-4 (tens of minutes)
    python benchmarks/claims_sweep.py --profile smoke --seeds 0,1,2,3,4
    python benchmarks/claims_sweep.py --only 03 07 --seeds 1,2   # some notebooks
    python benchmarks/claims_sweep.py --parse-only            # re-read the executed notebooks

Writes ``results/claims_sweep_<profile>.{json,csv,md}`` and exits 1 when a claim failed or a
notebook did not run to its end for some seed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, metadata, parser, table, write_results

import nbformat
from hff_edu.teaching.profiles import PROFILES

CLAIM = re.compile(r"^\[claim\] (?P<name>.+?): (?:(?P<holds>holds)(?: \((?P<detail>.*)\))?|"
                   r"(?P<skipped>skipped) in \w+: (?P<reason>.*)|(?P<failed>FAILED) \((?P<fdetail>.*)\))$")
MARK = {"holds": "held", "skipped": "skipped", "failed": "FAILED"}


def claim_lines(path: Path) -> tuple[list[dict], str | None]:
    """The claims an executed notebook printed, in order, and the error that stopped it (if any)."""
    nb = nbformat.read(str(path), as_version=4)
    found, error = [], None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    m = CLAIM.match(line.strip())
                    if m:
                        state = "holds" if m["holds"] else "skipped" if m["skipped"] else "failed"
                        found.append(dict(claim=m["name"], state=state,
                                          detail=m["detail"] or m["reason"] or m["fdetail"] or ""))
            elif out.get("output_type") == "error":
                error = f"{out.get('ename')}: {out.get('evalue')}"[:300]
    return found, error


def run_seed(profile: str, seed: int, out: Path, only: list[str] | None, jobs: int) -> float:
    env = {**os.environ, "HFF_EDU_CLAIMS": "record"}
    cmd = [sys.executable, "-m", "hff_edu.course", "run", "--profile", profile, "--seed", str(seed),
           "--out", str(out), "--jobs", str(jobs)] + (["--only", *only] if only else [])
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env)  # a failed notebook is read from its executed copy below
    return time.perf_counter() - start


def main() -> int:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="classroom", choices=PROFILES)
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    p.add_argument("--only", nargs="*", help="notebook name prefixes (default: all)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks run at once (the notebook runner's --jobs)")
    p.add_argument("--parse-only", action="store_true", help="read the executed notebooks of an earlier sweep")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    build = ROOT / "build" / "claims-sweep" / args.profile
    seconds = {}
    if not args.parse_only:
        for seed in seeds:
            print(f"== {args.profile}, SEED = {seed}", flush=True)
            seconds[seed] = round(run_seed(args.profile, seed, build / f"seed{seed}", args.only, args.jobs), 1)
    rows, notebooks = [], {}
    for seed in seeds:
        for path in sorted((build / f"seed{seed}").glob("[0-9][0-9]*_*.ipynb")):
            if args.only and not any(path.stem.startswith(o) for o in args.only):
                continue
            found, error = claim_lines(path)
            nb = notebooks.setdefault(path.stem, {})
            counts = {"holds": 0, "skipped": 0, "failed": 0}
            for c in found:
                counts[c["state"]] += 1
                rows.append(dict(notebook=path.stem, seed=seed, **c))
            nb[seed] = dict(counts, error=error)
    if not rows and not notebooks:
        raise SystemExit(f"No executed notebooks under {build}: run without --parse-only first.")
    claims = list(dict.fromkeys((r["notebook"], r["claim"]) for r in rows))
    states = {(r["notebook"], r["claim"], r["seed"]): r["state"] for r in rows}
    per_claim = [[f"{nb.split('_')[0]} {name}"] + [MARK.get(states.get((nb, name, s)), "not reached") for s in seeds]
                 for nb, name in claims]
    per_nb = [[name] + [("ERROR " if v.get(s, {}).get("error") else "")
                        + "{holds}/{skipped}/{failed}".format(**v[s]) if s in v else "not run" for s in seeds]
              for name, v in notebooks.items()]
    text_nb = table(["notebook (held/skipped/failed)"] + [f"seed {s}" for s in seeds], per_nb)
    text_claims = table(["claim"] + [f"seed {s}" for s in seeds], per_claim)
    print(text_nb + "\n\n" + text_claims)
    failed = sorted({f"{r['notebook']}: {r['claim']} (seed {r['seed']})" for r in rows if r["state"] == "failed"})
    broken = sorted(f"{name} (seed {s}): {v['error']}" for name, runs in notebooks.items()
                    for s, v in runs.items() if v.get("error"))
    meta = metadata(args, "cpu", dict(profile=args.profile, seeds=seeds, only=args.only, jobs=args.jobs, seconds=seconds),
                    f"python benchmarks/claims_sweep.py --profile {args.profile} --seeds {args.seeds}")
    name = f"claims_sweep_{args.profile}" + (f"_{args.tag}" if args.tag else "")
    write_results(name, args, meta, rows, extra=dict(notebooks=notebooks, failed=failed, errors=broken))
    (Path(args.out_dir) / f"{name}.md").write_text(
        f"# Claim sweep: {args.profile} profile, seeds {', '.join(map(str, seeds))}\n\n"
        f"`{meta['command']}` on {meta['cpu']} ({meta['logical_cpus']} logical CPUs), {meta['date']}; "
        f"run time per seed (s): {seconds or 'not re-run (--parse-only)'}.\n\n"
        f"## Per notebook: claims held / skipped / failed\n\n```\n{text_nb}\n```\n\n"
        f"## Per claim\n\n```\n{text_claims}\n```\n\n"
        + ("## Failed\n\n" + "\n".join(f"- {f}" for f in failed) + "\n\n" if failed else "No claim failed.\n\n")
        + ("## Notebooks that stopped\n\n" + "\n".join(f"- {b}" for b in broken) + "\n" if broken else ""))
    print(f"\n{len(failed)} failed claim(s), {len(broken)} notebook run(s) stopped; "
          f"results in {Path(args.out_dir) / name}.md")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
