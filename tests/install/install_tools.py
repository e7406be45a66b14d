"""Fresh environments outside the checkout, as a student's or a hosted kernel's: a shell environment
with none of our paths, a virtual environment of its own, the wheel built from the checkout, and each
step timed. Used by tests/install/ and by benchmarks/first_figure.py."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the environment variables a student's shell would not have (ours point into the checkout)
OURS = ("PYTHONPATH", "VIRTUAL_ENV", "HFF_EDU_DATA", "NUMBA_CACHE_DIR", "JUPYTER_PATH", "JUPYTER_DATA_DIR",
        "JUPYTER_CONFIG_DIR", "MPLBACKEND", "HFF_EDU_INSTALL")


def clean_env(home: Path) -> dict:
    """The environment of a student's shell: none of our Python paths, the data root not set, and a
    home of its own (so the per-user cache folder is a fresh one)."""
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local" / "share"),
               OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off")
    return env


def run(report: dict, step: str, cmd: list, env: dict, cwd: Path, timeout: int = 1800) -> str:
    """Run ``cmd``; its time goes to ``report["steps"][step]``; a failure shows its output."""
    start = time.perf_counter()
    r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    report.setdefault("steps", {})[step] = round(time.perf_counter() - start, 1)
    print(f"[{step}] {report['steps'][step]:.1f} s: {' '.join(map(str, cmd))}", flush=True)
    assert r.returncode == 0, f"{step} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def build_wheel(report: dict, dest: Path) -> Path:
    """The wheel of the checkout (it ships the notebooks) in ``dest``."""
    run(report, "build wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dest, ROOT],
        dict(os.environ), dest.parent)
    (wheel,) = Path(dest).glob("hff_edu-*.whl")
    report["wheel"] = dict(name=wheel.name, bytes=wheel.stat().st_size)
    return wheel


def make_venv(report: dict, venv: Path, env: dict) -> Path:
    """A virtual environment at ``venv`` (from the base interpreter, not ours); ``env`` is activated
    for it in place. Returns its python."""
    run(report, "create venv", [getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv], env,
        venv.parent)
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return venv / "bin" / "python"


def du(path: Path) -> int:
    """Bytes on disk under ``path`` (files only, links not followed)."""
    return sum(p.lstat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink())
