"""The course tooling's one command line: ``python -m hff_edu.course <command>``.

    run --profile smoke --html [--jobs 2] [--seed N]  execute the notebooks into build/notebooks/<profile>/
    strip                                             remove outputs from the source notebooks
    lab [--reset]                                     JupyterLab's working copies in build/lab/
    student                                           the student versions (build/student/), nbgrader's sources
    audit                                             exercises per notebook; old-style ones listed
    check --profile smoke                             run both editions, compare their exercise counts (CI)
    warm-cache                                        train and cache every classroom model before a class
    times build/notebooks/classroom                   seconds per notebook section of executed copies
    slides build/notebooks/classroom                  reveal.js slides from the executed notebooks' figures
    plan [--session 90]                               sessions cut from the notebooks' section minutes
    site --profile smoke                              the course website (Jupyter Book 1)
    write DEST [--student]                            the course in a folder (= hff-edu course DEST)
    first-cell [--check]                              every notebook's set-up cell and Colab/Kaggle badges, as
                                                      configured in [tool.hff-edu] (course/first_cell.py)

Every command works on the checkout that :func:`hff_edu.course.checkout.here` finds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..teaching.profiles import PROFILES
from . import cache, first_cell, plan, runner, site, slides, verify
from .checkout import here
from .editions import CourseError, audit, old_style_report, write_versions
from .folder import add_course_arguments, cmd_course


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hff_edu.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="execute the notebooks with papermill (never over the sources)")
    p.add_argument("--profile", default=os.environ.get("PROFILE", "classroom"), choices=PROFILES,
                   help="smoke (CI, seconds), classroom (minutes on a laptop), full (reference numbers)")
    p.add_argument("--html", action="store_true", help="also render each executed notebook to offline HTML")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks run at once, each in its own kernel (those that need every CPU, e.g. 08's "
                        "parallel training, run alone afterwards); default 1")
    p.add_argument("--seed", type=int, default=None, help="the notebooks' SEED parameter (default: their own, 0)")
    p.add_argument("--out", type=Path, default=None,
                   help="build folder (default build/notebooks/<profile>, or <profile>-seed<N> with --seed N)")
    sub.add_parser("strip", help="remove outputs from the source notebooks")
    p = sub.add_parser("lab", help="create missing working copies for JupyterLab in build/lab/")
    p.add_argument("--reset", action="store_true", help="replace the working copies with fresh ones (loses edits)")
    p = sub.add_parser("student", help="write the student versions to build/student/ and the nbgrader "
                                       "sources to build/teacher/")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--teacher-out", type=Path, default=None)
    sub.add_parser("audit", help="exercises per notebook, and the notebooks still in the old style")
    p = sub.add_parser("check", help="execute the teacher and student versions and compare their counts")
    p.add_argument("--profile", default=os.environ.get("PROFILE", "smoke"), choices=PROFILES)
    p.add_argument("--teacher-runs", type=Path, default=None,
                   help="executed teacher notebooks to reuse when fresh (default build/notebooks/<profile>)")
    p = sub.add_parser("warm-cache", help="execute every notebook once so that a class run only loads models")
    p.add_argument("--profile", default="classroom", choices=PROFILES)
    p = sub.add_parser("times", help="run time per notebook section of executed copies (papermill's cell durations)")
    p.add_argument("executed", type=Path, help="folder of executed notebooks, e.g. build/notebooks/classroom")
    p = sub.add_parser("slides", help="reveal.js slides (build/slides/) from executed notebooks: sections, "
                                      "figures with captions, Think! prompts")
    p.add_argument("executed", type=Path, help="folder of executed notebooks, e.g. build/notebooks/classroom")
    p.add_argument("--out", type=Path, default=None, help="default build/slides")
    p.add_argument("--reveal-prefix", default=None,
                   help="where reveal.js is loaded from (default: nbconvert's CDN; a local copy for offline rooms)")
    p = sub.add_parser("plan", help="a session plan from the notebooks' section and exercise minutes")
    p.add_argument("--session", type=int, default=90, help="minutes per session (default 90)")
    p = sub.add_parser("site", help="build the course website in build/book/<profile>/_build/html")
    p.add_argument("--profile", default="classroom", choices=PROFILES)
    p = sub.add_parser("first-cell", help="bring every notebook's set-up cell and Colab/Kaggle badges in step "
                                          "with [tool.hff-edu] (repository, ref, install)")
    p.add_argument("--check", action="store_true", help="only say which notebooks are out of step (exit 1 if any)")
    p = sub.add_parser("write", help="write the course into a folder (= hff-edu course DEST)")
    add_course_arguments(p)
    for name, p in sub.choices.items():
        if name not in ("write",):
            p.add_argument("--only", nargs="*", help="notebook name prefixes (e.g. 00 03_hff)")
    return parser


def main(argv=None) -> int:
    a = make_parser().parse_args(argv)
    try:
        if a.command == "write":
            return cmd_course(a)
        if a.command == "run":
            return runner.run(a.profile, a.only, a.html, a.jobs, a.seed, a.out, a.timeout)
        if a.command == "site":
            report = site.build(a.profile, a.only)
            site.print_report(a.profile, report)
            return 0
        paths = runner.notebook_paths(a.only)
        return COMMANDS[a.command](a, paths)
    except (CourseError, runner.NotebookFailed, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _strip(a, paths) -> int:
    for c in runner.strip_outputs(paths):
        print(f"stripped {c}")
    return 0


def _lab(a, paths) -> int:
    lab = here().lab
    if a.reset:
        for src in paths:
            (lab / src.name).unlink(missing_ok=True)
    for line in runner.lab_copies(paths):
        print(line)
    print(f"JupyterLab working copies in {lab} (the sources in notebooks/ stay clean)")
    return 0


def _student(a, paths) -> int:
    out, teacher = a.out or here().build / "student", a.teacher_out or here().build / "teacher"
    for line in write_versions(paths, out, teacher):
        print(line)
    print(f"student versions in {out}, nbgrader sources (teacher versions) in {teacher}")
    report = old_style_report(audit(paths))
    if report:
        print(report)
    return 0


def _audit(a, paths) -> int:
    found = audit(paths)
    for f in found:
        print(f"{f.name:32s} {f.style:10s} {len(f.answer_cells):2d} answer cells, {f.regions:2d} solutions, "
              f"{len(f.checks):2d} checks")
        for problem in f.problems:
            print(f"  {'problem' if f.blocking else 'to fix when converting'}: {problem}")
    print(old_style_report(found) or "every notebook with exercises follows the convention")
    return 1 if any(f.blocking for f in found) else 0


def _times(a, paths) -> int:
    print(cache.times_table(a.executed, paths))
    return 0


def _slides(a, paths) -> int:
    written = slides.write_slides(a.executed, a.out or here().build / "slides", paths, a.reveal_prefix)
    for path in written:
        print(f"wrote {path}")
    return 0


def _plan(a, paths) -> int:
    print(plan.plan_markdown(paths, a.session), end="")
    return 0


def _first_cell(a, paths) -> int:
    if a.check:
        stale = first_cell.out_of_step(paths)
        for name in stale:
            print(f"out of step: {name} (python -m hff_edu.course first-cell rewrites it)")
        return 1 if stale else 0
    changed = first_cell.rewrite(paths)
    print(f"set-up cells and badges rewritten in {len(changed)} notebook(s)" + (": " + ", ".join(changed) if changed else ""))
    return 0


def _warm(a, paths) -> int:
    seconds = cache.warm_cache(paths, a.profile)
    print(f"warm cache ({a.profile}): {len(seconds)} notebooks in {sum(seconds.values()):.0f} s")
    return 0


def _check(a, paths) -> int:
    report = verify.check(paths, a.profile, a.teacher_runs)
    print(verify.format_report(report))
    (here().build / "student" / f"exercises_{a.profile}.json").write_text(json.dumps(report, indent=2))
    followed = [n for n, e in report["notebooks"].items() if e["style"] == "convention"]
    old = old_style_report([f for f in audit(paths) if f.name in report["old_style"]])
    if old:
        print(old)
    for err in report["errors"]:
        print(f"FAILED: {err}", file=sys.stderr)
    failed = {e.split(":")[0] for e in report["errors"]}
    print(f"exercise counts ({a.profile}): {len(followed) - len(failed)} passed, {len(failed)} failed")
    return 1 if report["errors"] else 0


COMMANDS = {"strip": _strip, "lab": _lab, "student": _student, "audit": _audit, "times": _times,
            "warm-cache": _warm, "check": _check, "slides": _slides,
            "plan": _plan, "first-cell": _first_cell}
