"""Exercises of 08_parallel_training: the pipeline bubble, balancing the stages, GPipe against a pipeline
of local learners, and what each kind of parallelism sends."""
from __future__ import annotations

import itertools

from ..exercises import digest, exercise

#: (stages, micro-batches) the bubble is checked on: one stage (no bubble), one micro-batch (naive
#: model parallelism), and cases where (S-1)/M, (S-1)/(M+S) and 1-1/S all give other numbers
_BUBBLE_CASES = [(2, 4), (3, 5), (1, 6), (2, 1), (4, 16), (8, 3), (5, 100)]


@exercise("08.1", "the pipeline bubble", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.training.parallel.pipeline.simulated_timeline"])
def _bubble(t, bubble_fraction):
    for stages, micro in _BUBBLE_CASES:
        got = t.number(t.call(bubble_fraction, stages, micro), f"bubble_fraction({stages}, {micro})")
        idle = (stages - 1) / (micro + stages - 1)
        if stages > 1 and abs(got - (stages - 1) / micro) < 1e-9 and abs(got - idle) > 1e-9:
            t.fail(f"for {stages} stages and {micro} micro-batch(es) your answer is the idle time divided by the "
                   "busy time (the ratio some papers call the bubble). The exercise asks for the idle share of ALL "
                   "stage-time: the number of stages x the length of the schedule.")
        if stages > 1 and abs(got - (1 - idle)) < 1e-9 and abs(got - idle) > 1e-9:
            t.fail(f"for {stages} stages and {micro} micro-batch(es) your answer is the share of time the stages are "
                   "busy; the bubble is the share they sit idle.")
        t.require(got <= 1.0, f"for {stages} stage(s) and {micro} micro-batch(es) the answer is {got:g}: give a "
                              "fraction in [0, 1), not a percentage.")
        t.close(got, idle, f"{stages} stage(s) and {micro} micro-batch(es)", rtol=1e-9, atol=1e-12)


def _best_max(costs, stages) -> float:
    """The smallest possible cost of the slowest stage (every contiguous cut tried)."""
    n, best = len(costs), float("inf")
    for cuts in itertools.combinations(range(1, n), stages - 1):
        bounds = (0, *cuts, n)
        best = min(best, max(sum(costs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])))
    return best


#: per-layer costs and stage counts: a heavy first layer (what an MLP on images has), a heavy last one,
#: costs an equal-count split or a greedy fill-to-the-average gets wrong, and one layer per stage
_CUT_CASES = [([784, 1000, 1000, 1000], 2), ([9, 1, 1, 1, 1, 1], 2), ([1, 1, 1, 1, 1, 9], 3),
              ([3, 3, 2, 2, 2, 6, 1], 3), ([5, 1, 5, 1, 5, 1, 5], 4), ([2, 7, 1, 8, 2, 8, 1, 8], 3),
              ([4, 4, 4], 3), ([6, 1, 1, 1, 1, 1, 1], 2)]


@exercise("08.2", "balance the stages", kind="design", level=2, minutes=10,
          forbid=["hff_edu.training.parallel.pipeline.split_units",
                  "hff_edu.training.parallel.pipeline.plan_stages"])
def _cut(t, best_cut):
    for costs, stages in _CUT_CASES:
        what = f"costs {costs} on {stages} stages"
        sizes = t.call(best_cut, list(costs), stages)
        try:
            sizes = [int(s) for s in sizes]
        except (TypeError, ValueError):
            t.fail(f"for {what} the answer should be a list of layers per stage (whole numbers); it is "
                   f"{type(sizes).__name__}.")
        t.require(len(sizes) == stages, f"for {what} the answer has {len(sizes)} entries: give one number of "
                                         "layers per stage.")
        t.require(all(s >= 1 for s in sizes), f"for {what} a stage gets no layer: every stage needs at least one.")
        t.require(sum(sizes) == len(costs), f"for {what} the stages hold {sum(sizes)} layers, not all "
                                            f"{len(costs)}: give the number of layers of each stage (not the "
                                            "cut positions, not the stage costs).")
        bounds = list(itertools.accumulate([0] + sizes))
        slowest = max(sum(costs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        t.require(slowest <= _best_max(costs, stages) + 1e-9,
                  f"for {what} your slowest stage costs {slowest}; another contiguous cut makes the slowest "
                  "stage cheaper (the slowest stage sets the pipeline's pace).")


def _hff_traffic(widths, input_size, num_classes, batch_size, cut):
    """The package's answer: the HFF network's parameters, and the plan's message from stage 0."""
    import warnings

    from ...methods.hff import HFFNet
    from ...training.parallel import plan_stages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # narrow layers: ETF prototypes fall back to another init
        model = HFFNet(input_size, list(widths), num_classes, seed=0)
    plan = plan_stages(model, (input_size,), [cut, len(widths) - cut])
    return plan.floats_per_sample(0) * batch_size, sum(p.numel() for p in model.parameters())


#: (widths, input size, classes, batch size, layers on stage 0): different widths per layer, so that the
#: cut matters; C != 10 and a batch that is not 100, so that no constant of the notebook's network fits
_TRAFFIC_CASES = [([1000, 1000, 1000, 1000], 784, 10, 100, 2), ([64, 32, 48], 100, 7, 32, 1),
                  ([16, 40, 8, 24], 30, 3, 50, 3), ([500, 200], 3072, 100, 64, 1)]


@exercise("08.4", "what each kind of parallelism sends", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.training.parallel.pipeline.plan_stages",
                  "hff_edu.training.parallel.pipeline.StagePlan.floats_per_sample",
                  "hff_edu.methods.build", "hff_edu.methods.hff.HFFNet"])
def _traffic(t, traffic_per_step):
    for widths, input_size, classes, batch, cut in _TRAFFIC_CASES:
        what = (f"widths {widths}, {input_size} inputs, {classes} classes, batches of {batch}, "
                f"{cut} layer(s) on stage 0")
        got = t.call(traffic_per_step, list(widths), input_size, classes, batch, cut)
        t.require(isinstance(got, (tuple, list)) and len(got) == 2,
                  f"for {what} the answer should be a pair (pipeline numbers, data-parallel numbers).")
        pipe, dp = (t.number(v, f"for {what}, each count") for v in got)
        want_pipe, want_dp = _hff_traffic(widths, input_size, classes, batch, cut)
        if pipe == want_pipe - batch:
            t.fail(f"for {what} the pipeline count leaves out the labels: stage 1's losses need each sample's label.")
        t.close(pipe, want_pipe, f"the pipeline's message ({what})", rtol=0, atol=0.5)
        layers_only = want_dp - classes * sum(widths)
        if dp == layers_only:
            t.fail(f"for {what} the data-parallel count leaves out the prototypes: they are parameters too, and "
                   "their gradients are all-reduced like the weights'.")
        if dp == want_dp * batch:
            t.fail(f"for {what} the data-parallel count grows with the batch: a gradient has one number per "
                   "parameter, whatever the batch size.")
        t.close(dp, want_dp, f"the data-parallel all-reduce ({what})", rtol=0, atol=0.5)


@exercise("08.3", "GPipe or a pipeline of local learners", kind="explain", level=1, minutes=5)
def _gpipe(t, my_explanation):
    t.choice(my_explanation, digest("c"), {
        "a": ("with micro-batches backprop's stages do overlap (figure 08.1, middle): the backward lock forces a "
              "flush at the end of every batch, not one busy stage at a time."),
        "b": ("the local pipeline has a bubble too: the pipe fills and drains once per epoch (the evaluation "
              "empties it), and the slowest stage sets the pace; its speed-up is below S."),
        "d": ("1F1B without a flush keeps the stages busy but pays for it: every stage must stash the weights "
              "each batch in flight used (memory), or update with gradients computed on older weights "
              "(staleness), so it no longer computes the sequential run."),
    })
