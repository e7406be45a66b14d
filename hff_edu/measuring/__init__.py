"""What a model costs, one module per question; this package is also the one namespace the
notebooks and benchmarks time with (``from hff_edu import timing``, then ``timing.time_calls``):

    clocks          how a time is taken: warm-up, median, interleaved rounds, CUDA synchronisation
    inference       inference speed against the number of classes, profiles of where time goes
    flops           work counted: FLOPs of the matrix products, the machine's matmul peak, replays
    training_cost   seconds, phases and FLOP rates of a training step, method by method
    memory          activation memory of a training step, against depth
    load            what else the machine was doing during a measurement
"""
from .clocks import CLOCKS, calls_per_block, clock_fn, machine_info, summarise, synchronize, time_calls
from .flops import count_flops, matmul_peak, matmul_replay, peak_of, square_matmul
from .inference import (DEFAULT_VARIANTS, INFERENCE_VARIANTS, MATMUL_OPS, count_forward_passes, format_profile,
                        inference_vs_classes, make_model, profile_interleaved, profile_ops, speedups, time_inference)
from .training_cost import profile_training, time_training, training_flops, training_matmuls, training_phases

__all__ = ["CLOCKS", "calls_per_block", "clock_fn", "machine_info", "summarise", "synchronize", "time_calls",
           "count_flops", "matmul_peak", "matmul_replay", "peak_of", "square_matmul", "DEFAULT_VARIANTS",
           "INFERENCE_VARIANTS", "MATMUL_OPS", "count_forward_passes", "format_profile", "inference_vs_classes",
           "make_model", "profile_interleaved", "profile_ops", "speedups", "time_inference", "profile_training",
           "time_training", "training_flops", "training_matmuls", "training_phases"]
