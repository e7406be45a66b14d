"""What ``python -m hff_edu train`` needs to train in parallel: torchrun sessions and ``--stages``.

Under torchrun every process joins one group and only rank 0 prints and saves; ``--stages S`` pipelines
the layers over S processes (spawned, or torchrun's own, one per stage). Taught in 08_parallel_training.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable

import torch.distributed as dist

from ..trainer import History, fit
from .data_parallel import DataParallel
from .pipeline import finish_pipeline, pipeline_fit, prepare_pipeline, run_stage
from .processes import DEFAULT_TIMEOUT, ParallelError, init_from_env, under_torchrun

# ----------------------------------------------------------------------------
# 7. the command line: torchrun, --stages

@contextlib.contextmanager
def cli_session(args):
    """Around a command: under torchrun, join the process group (gloo on CPU, NCCL on GPUs), let only
    rank 0 print, and leave the group at the end. Outside torchrun, nothing."""
    if not under_torchrun():
        yield
        return
    device = init_from_env(getattr(args, "device", None), getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    if hasattr(args, "device"):
        args.device = str(device)
    quiet = dist.get_rank() != 0
    if quiet and hasattr(args, "quiet"):
        args.quiet = True
    stdout = sys.stdout
    try:
        with open(os.devnull, "w") as devnull:
            if quiet:
                sys.stdout = devnull
            yield
    finally:
        sys.stdout = stdout
        dist.destroy_process_group()


def cli_trainer(args) -> Callable[..., History]:
    """The training function of ``python -m hff_edu train|compare``: ``train.fit``; a data-parallel ``fit``
    when the process belongs to a group (torchrun); ``--stages S``: the layer pipeline over S
    processes, spawned here, or torchrun's processes (then one per stage)."""
    stages = getattr(args, "stages", None)
    timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT
    if stages:
        def train_pipelined(model, ds, **kw):
            if dist.is_initialized():
                return _pipeline_in_group(model, ds, stages, timeout, kw)
            return pipeline_fit(model, ds, stages=stages, timeout=timeout, **kw).history
        return train_pipelined
    if dist.is_initialized():
        def train_data_parallel(model, ds, **kw):
            replica = DataParallel(model, timeout)
            try:
                return fit(replica, ds, **kw)
            finally:
                replica.unwrap()
        return train_data_parallel
    return fit


def _pipeline_in_group(model, ds, stages: int, timeout: float, kw: dict) -> History:
    """The pipeline in an existing group (torchrun): this process is stage ``rank``; every rank ends
    with the trained model and rank 0's history."""
    world = dist.get_world_size()
    if stages != world:
        raise ParallelError(f"torchrun started {world} processes but --stages {stages}: a pipeline needs one "
                            f"process per stage (torchrun --nproc-per-node {stages}), or drop --stages for data "
                            "parallelism.")
    kw = {k: v for k, v in kw.items() if k != "progress"}
    plan, cfg = prepare_pipeline(model, ds, stages, timeout=timeout, max_timeline_steps=0, **kw)
    box = [run_stage(dist.get_rank(), world, model, ds, plan, cfg)]
    dist.broadcast_object_list(box, src=0)
    return finish_pipeline(model, box[0], plan, cfg).history
