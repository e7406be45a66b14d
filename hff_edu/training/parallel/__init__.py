"""Local learning in parallel: layers pipelined over processes, and data-parallel training, on torch.distributed.

Taught in 08_parallel_training. Jaderberg et al. (2017, "Decoupled Neural Interfaces using
Synthetic Gradients") name three locks that keep backprop's layers waiting for each other:

- **forward lock**: layer l cannot run on a batch before layers 1..l-1 have run on it;
- **update lock**: layer l cannot update before the forward pass has reached the loss at the top;
- **backward lock**: layer l cannot update before the gradient has come back down to it.

With a local loss per layer (HFF, local cross-entropy, FF) layer l's gradient comes from its own
loss on its own detached input, so the update and backward locks are gone. The forward lock stays,
and a pipeline hides it: while stage s works on batch t, stage s-1 already works on batch t+1.

- :func:`pipeline_fit`: the layers (blocks) are cut into S contiguous **stages**, one process each.
  Stage s receives the detached activations of batch t from stage s-1, runs its layers' local
  losses, sends its output to stage s+1 at once, back-propagates inside its own layers and steps
  its own optimiser. Nothing is ever sent backwards. With ``train.fit``'s step order (every
  layer's forward on batch t uses the weights after batch t-1) the pipelined run computes exactly
  what ``fit`` computes (tested). Backprop cannot be pipelined like this: its gradients would have
  to travel back up the pipe.
- :class:`DataParallel` (every model kind, backprop included): each process holds a replica, every
  global batch is split across the ranks, each rank's gradients are weighted by its share of the
  batch and summed by all-reduce as soon as each layer's local backward is done, and BatchNorm uses
  the statistics of the whole batch; the result is that of one process on the whole batch (tested).
  Run it with torchrun (``torchrun --standalone --nproc-per-node 2 -m hff_edu train ...``) or
  :func:`data_parallel_fit`.

Processes are started by the package (:func:`launch`: the ``spawn`` start method, a rendezvous on
127.0.0.1 at a free port), so both work from Jupyter. Every rendezvous, send, receive and collective
has a timeout, and a setup that cannot work raises :class:`ParallelError` saying why: never a hang.
"""
from .command_line import cli_session, cli_trainer
from .data_parallel import (DataParallel, ShardedSteps, SyncBatchNorm1d, SyncBatchNorm2d, data_parallel_fit,
                            shard_bounds, weights_apart)
from .pipeline import (KINDS, PipelineRun, StagePlan, check_pipelinable, finish_pipeline, pipeline_fit, plan_stages,
                       prepare_pipeline, run_stage, simulated_timeline, split_units)
from .processes import (DEFAULT_TIMEOUT, Comm, ParallelError, free_port, init_from_env, init_process_group,
                        is_main_process, launch, under_torchrun)

__all__ = ["DEFAULT_TIMEOUT", "KINDS", "Comm", "DataParallel", "ParallelError", "PipelineRun", "ShardedSteps",
           "StagePlan", "SyncBatchNorm1d", "SyncBatchNorm2d", "cli_session", "cli_trainer",
           "data_parallel_fit", "finish_pipeline", "free_port", "init_from_env", "init_process_group",
           "is_main_process", "launch", "pipeline_fit", "plan_stages", "prepare_pipeline", "run_stage",
           "shard_bounds", "simulated_timeline", "split_units", "under_torchrun", "check_pipelinable", "weights_apart"]
