"""What else the machine was doing while we measured: the CPU time other programs took.

A timing claim ("the pipeline is 1.2x faster") is only a result on a machine that gave us the
cores we asked for. The load average at the start is not that (it lags by a minute and counts
ourselves): :class:`LoadMeter` reads the whole machine's busy CPU time and this process's own
(with its children, e.g. pipeline stages and kernels' workers) before and after the measurement,
and reports how many CPUs *other* programs kept busy in between.

    with LoadMeter(cpus_needed=2) as load:
        run = parallel.pipeline_fit(...)
    load.others    # CPUs' worth of other programs' work during the run, e.g. 0.04
    load.busy      # True when they took more than the spare cores allow
    load.reason()  # a sentence for a skipped claim

Taught in 05_timing and 08_parallel_training; used by :mod:`hff_edu.teaching.claims`.
"""
from __future__ import annotations

import os
import time

#: CPUs' worth of other programs' work tolerated during a measurement beyond the spare cores
TOLERATED = 0.25


def _machine_busy_seconds() -> float:
    """CPU seconds every program on the machine has been busy since boot (all cores)."""
    import psutil
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return sum(t) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


def _own_seconds() -> float:
    """CPU seconds of this process, its living children and the children it has waited for."""
    import psutil
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    t = os.times()
    total += t.children_user + t.children_system  # finished (waited-for) children
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:  # ended between the listing and the reading
            pass
    return total


class LoadMeter:
    """Context manager: other programs' CPU use during the ``with`` block (see the module docstring).

    ``cpus_needed``: how many cores the measured work wants to itself (2 for a 2-stage pipeline,
    1 for single-threaded timings). The machine counts as busy when other programs took more
    than the cores left over plus :data:`TOLERATED`.
    """

    def __init__(self, cpus_needed: int = 1):
        self.cpus_needed = int(cpus_needed)
        self.cpus = os.cpu_count() or 1
        self.others = float("nan")
        self.seconds = 0.0

    def __enter__(self) -> "LoadMeter":
        try:
            self._start = (time.perf_counter(), _machine_busy_seconds(), _own_seconds())
        except Exception:  # psutil missing or the platform hides the counters
            self._start = None
        return self

    def __exit__(self, *exc) -> bool:
        if self._start is not None:
            wall0, busy0, own0 = self._start
            self.seconds = time.perf_counter() - wall0
            others = (_machine_busy_seconds() - busy0) - (_own_seconds() - own0)
            self.others = max(0.0, others) / max(self.seconds, 1e-9)
        return False

    @property
    def known(self) -> bool:
        return self.others == self.others  # not NaN

    @property
    def spare(self) -> int:
        return max(0, self.cpus - self.cpus_needed)

    @property
    def busy(self) -> bool:
        """True when other programs took cores this measurement needed (False when unknown)."""
        return self.known and self.others > self.spare + TOLERATED

    @property
    def too_few_cpus(self) -> bool:
        return self.cpus < self.cpus_needed

    def reason(self) -> str:
        """Why a timing claim cannot be judged on this run (empty when it can)."""
        if self.too_few_cpus:
            return f"this machine has {self.cpus} CPU(s) and the measurement needs {self.cpus_needed}"
        if self.busy:
            return (f"other programs kept {self.others:.2f} CPUs busy during the measurement ({self.seconds:.2g} s) "
                    f"on a machine with {self.cpus}, where {self.spare} were spare: the measured work did not "
                    f"have its {self.cpus_needed} core(s) to itself")
        return ""

    def __str__(self) -> str:
        if not self.known:
            return f"load during the measurement unknown ({self.cpus} CPUs)"
        return (f"other programs used {self.others:.2f} of {self.cpus} CPUs during the measurement "
                f"({self.seconds:.1f} s)")
