"""Processes for parallel training: process groups, messages with timeouts, and the launcher.

Everything here waits with a timeout and turns a failure into a :class:`ParallelError` that names the
rank, what it was waiting for and what to do. :func:`launch` starts the processes from Python (and
from Jupyter); torchrun starts them from the shell (:func:`init_from_env`). Taught in 08_parallel_training.
"""
from __future__ import annotations

import datetime
import os
import queue as queue_module
import socket
import sys
import tempfile
import time
import traceback
from typing import Callable

import torch
import torch.distributed as dist

from ..trainer import default_device

#: seconds any one rendezvous, message or collective may take before the run stops with an error
DEFAULT_TIMEOUT = 300.0


class ParallelError(RuntimeError):
    """A parallel run that cannot start or had to stop; the message names the rank, the cause and the fix."""


# ----------------------------------------------------------------------------
# 1. process groups and messages, every one with a timeout

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the operating system picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _timedelta(seconds: float) -> datetime.timedelta:
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"timeout={seconds!r}: give the seconds a rendezvous or message may take (> 0).")
    return datetime.timedelta(seconds=float(seconds))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def init_process_group(rank: int, world_size: int, port: int, host: str = "127.0.0.1",
                       backend: str = "gloo", timeout: float = DEFAULT_TIMEOUT) -> None:
    """Join the default process group at ``tcp://host:port`` as ``rank`` of ``world_size``.

    Raises :class:`ParallelError` when the other processes do not all arrive within ``timeout`` s.
    """
    if dist.is_initialized():
        raise ParallelError("This process already belongs to a torch.distributed process group: call "
                            "torch.distributed.destroy_process_group() first.")
    if not (int(world_size) == world_size and world_size >= 1 and 0 <= rank < world_size):
        raise ValueError(f"rank={rank}, world_size={world_size}: need world_size >= 1 and 0 <= rank < world_size.")
    try:
        dist.init_process_group(backend, init_method=f"tcp://{host}:{port}", rank=rank,
                                world_size=world_size, timeout=_timedelta(timeout))
    except (RuntimeError, ValueError) as e:
        if _peer_stopped(_first_line(e)):  # a peer that failed early closes the half-made connections
            raise ParallelError(f"rank {rank} of {world_size}: the rendezvous at tcp://{host}:{port} failed: "
                                f"{PEER_STOPPED}. [{_first_line(e)}]") from None
        raise ParallelError(
            f"rank {rank} of {world_size}: the rendezvous at tcp://{host}:{port} did not complete within "
            f"{timeout:g} s ({_first_line(e)}). All {world_size} processes must start and reach it: start "
            f"them together (torchrun --nproc-per-node {world_size} ...), and check that nothing else "
            "uses the port.") from None


PEER_STOPPED = "another process stopped (its own error, reported with this one, says why)"


def _peer_stopped(message: str) -> bool:
    """Does a communication error say that the other end went away (rather than a timeout)?"""
    low = message.lower()
    return "closed" in low or "reset" in low or "broken pipe" in low


def under_torchrun() -> bool:
    """Was this process started by torchrun (or another launcher that sets RANK and WORLD_SIZE)?"""
    return "TORCHELASTIC_RUN_ID" in os.environ or all(v in os.environ for v in ("RANK", "WORLD_SIZE"))


def init_from_env(device=None, timeout: float = DEFAULT_TIMEOUT) -> torch.device:
    """Join the process group that torchrun describes in the environment; returns this rank's device.

    The backend is gloo on the CPU and NCCL on CUDA when every rank has a GPU of its own
    (rank ``LOCAL_RANK`` takes ``cuda:LOCAL_RANK``); ranks sharing a GPU talk through gloo.
    """
    needed = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    missing = [v for v in needed if v not in os.environ]
    if missing:
        raise ParallelError(f"torch.distributed's environment is incomplete ({', '.join(missing)} not set): "
                            "start the processes with torchrun, e.g. "
                            "`torchrun --standalone --nproc-per-node 2 -m hff_edu train ...`.")
    keep_freed_memory()
    local, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    device = torch.device(device) if device else default_device()
    backend = "gloo"
    if device.type == "cuda":
        n_gpus = torch.cuda.device_count()
        if device.index is None:
            device = torch.device("cuda", local % max(n_gpus, 1))
        torch.cuda.set_device(device)
        backend = "nccl" if local_world <= n_gpus else "gloo"
    if dist.is_initialized():
        return device
    try:
        dist.init_process_group(backend, timeout=_timedelta(timeout))
    except (RuntimeError, ValueError) as e:
        if _peer_stopped(_first_line(e)):
            raise ParallelError(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: the rendezvous at "
                                f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} failed: {PEER_STOPPED}. "
                                f"[{_first_line(e)}]") from None
        raise ParallelError(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: the rendezvous at "
                            f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} did not complete within "
                            f"{timeout:g} s ({_first_line(e)}): start all the processes with one torchrun "
                            "command.") from None
    return device


def is_main_process() -> bool:
    """True outside a process group and on rank 0 inside one: the process that prints and saves."""
    return not dist.is_initialized() or dist.get_rank() == 0


class Comm:
    """This process's sends, receives and collectives, each waited for with a timeout.

    A message that does not arrive in time, or a peer that stopped, raises :class:`ParallelError`
    naming this rank and what it was waiting for. Tensors travel from ``self.device`` (host memory
    for gloo, this rank's GPU for NCCL) and are copied there and back when they live elsewhere.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        if not dist.is_initialized():
            raise ParallelError("No torch.distributed process group: start the processes with torchrun, "
                                "call parallel.init_process_group(...) or parallel.init_from_env() first, or "
                                "use parallel.pipeline_fit / parallel.data_parallel_fit, which start them.")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.timeout = float(timeout)
        self._timeout = _timedelta(timeout)
        self.gloo = dist.get_backend() == "gloo"
        self.device = torch.device("cpu") if self.gloo else torch.device("cuda", torch.cuda.current_device())

    def staged(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` where this backend can send it (itself when it is there already)."""
        return t if t.device == self.device else t.to(self.device)

    def wait(self, work, what: str) -> None:
        try:
            work.wait(self._timeout)
        except RuntimeError as e:
            raise ParallelError(self.explain(what, e)) from None

    def explain(self, what: str, e: BaseException) -> str:
        msg = _first_line(e)
        low = msg.lower()
        if _peer_stopped(msg):
            cause = PEER_STOPPED
        elif "timed out" in low or "timeout" in low:
            cause = (f"no answer within {self.timeout:g} s: another process crashed, is stuck, or is slower "
                     "than that (pass a larger timeout= if its work really takes longer)")
        else:
            cause = msg
        return f"rank {self.rank}: {what} failed: {cause}. [{msg}]"

    def send(self, t: torch.Tensor, dst: int, tag: int, what: str) -> None:
        self.wait(dist.isend(self.staged(t).contiguous(), dst, tag=tag), what)

    def recv(self, t: torch.Tensor, src: int, tag: int, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.irecv(buf, src, tag=tag), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def all_reduce(self, t: torch.Tensor, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.all_reduce(buf, async_op=True), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def all_gather(self, t: torch.Tensor, what: str) -> list[torch.Tensor]:
        buf = self.staged(t.contiguous())
        out = [torch.empty_like(buf) for _ in range(self.world_size)]
        self.wait(dist.all_gather(out, buf, async_op=True), what)
        return [o.to(t.device) for o in out]

    def broadcast(self, t: torch.Tensor, src: int, what: str) -> torch.Tensor:
        buf = self.staged(t)
        self.wait(dist.broadcast(buf, src, async_op=True), what)
        if buf is not t:
            t.copy_(buf)
        return t

    def barrier(self, what: str) -> None:
        try:
            if self.gloo:  # names the rank that did not arrive
                dist.monitored_barrier(timeout=self._timeout)
            else:
                dist.barrier(async_op=True).wait(self._timeout)
        except RuntimeError as e:
            raise ParallelError(self.explain(what, e)) from None


# ----------------------------------------------------------------------------
# 2. starting processes from Python (and from Jupyter)

_REPORT: Callable | None = None  # set in a worker: puts progress messages on the parent's queue


def _report(*message) -> None:
    if _REPORT is not None:
        _REPORT(message)


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep large freed blocks for reuse instead of returning them to the OS.

    A training step allocates and frees the same few-MB tensors (activations, gradients) every
    time. glibc serves blocks above its mmap threshold with fresh mmaps, which the kernel fills page
    by page: in a new process that costs 200,000-300,000 page faults and 15% more CPU per epoch of a
    4x1000 MLP (measured here). A long-running process has usually raised the threshold already
    (glibc raises it when a large block is freed), so without this the worker processes would be
    slower than the process that started them. Returns whether the setting took (glibc only).
    """
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 256 << 20))


def _worker(fn, rank, world_size, port, backend, timeout, threads, job_path, result_path, messages):
    global _REPORT
    failed_at = None  # when fn failed: before leaving the group makes the peers fail too (the root cause is first)
    try:
        keep_freed_memory()
        if threads:
            torch.set_num_threads(threads)
        _REPORT = messages.put
        args = torch.load(job_path, map_location="cpu", weights_only=False)  # not mmap: training writes to it
        init_process_group(rank, world_size, port, backend=backend, timeout=timeout)
        try:
            out = fn(rank, world_size, *args)
        except BaseException:
            failed_at = time.time()
            raise
        finally:
            dist.destroy_process_group()  # peers still waiting on this rank fail at once, not at their timeout
        if rank == 0:
            torch.save(out, result_path)
        messages.put(("done", rank))
    except BaseException as e:  # noqa: BLE001 - every failure is reported to the parent, then the process exits
        messages.put(("error", rank, failed_at or time.time(), f"{type(e).__name__}: {e}", traceback.format_exc()))
        sys.exit(1)


def launch(fn: Callable, world_size: int, *args, threads: int | None = 1, timeout: float = DEFAULT_TIMEOUT,
           backend: str = "gloo", progress: dict | None = None):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` new processes joined in one process group.

    The processes are started with the ``spawn`` method (so this works from Jupyter: ``fn`` must be a
    module-level function, ``args`` picklable), meet at 127.0.0.1 on a free port, and run with
    ``threads`` torch threads each. Returns rank 0's return value. If a rank fails, the others are
    stopped and :class:`ParallelError` reports the first failure with its traceback.
    ``progress=dict(total=..., desc=...)`` shows a bar fed by the workers' ``("progress", n)`` messages.
    """
    _timedelta(timeout)
    if int(world_size) != world_size or world_size < 1:
        raise ValueError(f"world_size={world_size}: give the number of processes (>= 1).")
    ctx = torch.multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="hff_edu_parallel_") as tmp:
        job, result = os.path.join(tmp, "job.pt"), os.path.join(tmp, "result.pt")
        try:
            torch.save(args, job)
        except Exception as e:  # noqa: BLE001 - say what could not be sent
            raise ParallelError(f"The arguments cannot be sent to the worker processes ({_first_line(e)}): "
                                "models, datasets and callables must be picklable, and their classes "
                                "defined in an importable module (not in a notebook cell).") from None
        port = free_port()
        procs = [ctx.Process(target=_worker, name=f"hff_edu rank {r}", daemon=True,
                             args=(fn, r, world_size, port, backend, timeout, threads, job, result, messages))
                 for r in range(world_size)]
        bar = _bar(progress)
        try:
            for p in procs:
                p.start()
            errors = _supervise(procs, messages, bar)
        finally:
            for p in procs:
                if p.pid is None:  # never started
                    continue
                if p.is_alive():
                    p.terminate()
                p.join(5)
            if bar is not None:
                bar.close()
            messages.close()
        if errors:
            raise ParallelError(_failure_report(errors, world_size))
        return torch.load(result, map_location="cpu", weights_only=False)


def _bar(progress: dict | None):
    if not progress or not progress.get("total"):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=progress["total"], desc=progress.get("desc"), unit=progress.get("unit", "batch"), leave=False)


def _supervise(procs, messages, bar, grace: float = 3.0) -> dict:
    """Collect messages until every rank is done or one failed (then wait ``grace`` s for the others' errors)."""
    done, errors, first_error, dead_since = set(), {}, None, {}
    while len(done) + len(errors) < len(procs):
        try:
            msg = messages.get(timeout=0.1)
        except queue_module.Empty:
            msg = None
        if msg is not None:
            if msg[0] == "done":
                done.add(msg[1])
            elif msg[0] == "error":
                errors[msg[1]] = msg[2:]
                first_error = first_error or time.time()
            elif msg[0] == "progress" and bar is not None:
                bar.update(msg[1] - bar.n)
            continue
        now = time.time()
        for rank, p in enumerate(procs):  # a process killed from outside never reports: notice it
            if p.exitcode is not None and rank not in done and rank not in errors:
                if now - dead_since.setdefault(rank, now) > 1.0:
                    errors[rank] = (now, f"the process exited with code {p.exitcode} without a Python error "
                                         "(killed, out of memory, or a crash in native code)", "")
                    first_error = first_error or now
        if first_error is not None and now - first_error > grace:
            break
    return errors


def _failure_report(errors: dict, world_size: int) -> str:
    first = min(errors, key=lambda r: errors[r][0])
    _, message, tb = errors[first]
    lines = [f"rank {first} of {world_size} failed first: {message}"]
    lines += [f"rank {r} then: {errors[r][1]}" for r in sorted(errors) if r != first]
    if tb:
        lines.append(f"traceback of rank {first}:\n{tb.rstrip()}")
    return "\n".join(lines)
