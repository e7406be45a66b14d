"""Answers to 08's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import itertools

from hff_edu.training import parallel


# 08.1 the pipeline bubble ----------------------------------------------------------------------

def bubble_formula(stages, micro):
    return (stages - 1) / (micro + stages - 1)


def bubble_from_counts(stages, micro):
    length = micro + stages - 1          # time slots of one batch: fill, then one micro-batch per slot
    return 1 - stages * micro / (stages * length)


def bubble_simulated(stages, micro):     # the package's schedule of a pipeline, measured
    events = parallel.simulated_timeline(stages, micro, "local", forward=1.0, backward=0.0)
    span = max(e["end"] for e in events)
    return 1 - sum(e["end"] - e["start"] for e in events) / (stages * span)


# 08.2 balance the stages ----------------------------------------------------------------------

def cut_brute_force(costs, stages):
    best = None
    for cuts in itertools.combinations(range(1, len(costs)), stages - 1):
        bounds = (0, *cuts, len(costs))
        slowest = max(sum(costs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        if best is None or slowest < best[0]:
            best = (slowest, [b - a for a, b in zip(bounds[:-1], bounds[1:])])
    return best[1]


def cut_dynamic_programming(costs, stages):
    from functools import lru_cache

    @lru_cache(None)
    def best(i, s):                      # (slowest stage, sizes) for costs[i:] on s stages
        if s == 1:
            return sum(costs[i:]), (len(costs) - i,)
        options = []
        for j in range(i + 1, len(costs) - s + 2):
            rest, sizes = best(j, s - 1)
            options.append((max(sum(costs[i:j]), rest), (j - i,) + sizes))
        return min(options)
    return list(best(0, stages)[1])


def cut_equal_counts(costs, stages):
    n = len(costs)
    return [n // stages + (1 if s < n % stages else 0) for s in range(stages)]


def cut_greedy_average(costs, stages):
    target, sizes, run = sum(costs) / stages, [0], 0
    for c in costs:
        if run >= target and len(sizes) < stages:
            sizes.append(0)
            run = 0
        sizes[-1] += 1
        run += c
    return sizes + [0] * (stages - len(sizes))


def cut_positions(costs, stages):        # the cut positions, not the layers per stage
    sizes = cut_brute_force(costs, stages)
    return list(itertools.accumulate(sizes))[:-1] + [len(costs)]


# 08.4 what each kind of parallelism sends ----------------------------------------------------------

def traffic_right(widths, input_size, num_classes, batch_size, cut):
    pipeline = batch_size * (widths[cut - 1] + 1)
    sizes = [input_size] + list(widths)
    params = sum(a * b + b + num_classes * b for a, b in zip(sizes[:-1], sizes[1:]))
    return pipeline, params


def traffic_no_labels(widths, input_size, num_classes, batch_size, cut):
    return batch_size * traffic_right(widths, input_size, num_classes, 1, cut)[0] - batch_size, \
        traffic_right(widths, input_size, num_classes, batch_size, cut)[1]


def traffic_no_prototypes(widths, input_size, num_classes, batch_size, cut):
    sizes = [input_size] + list(widths)
    return batch_size * (widths[cut - 1] + 1), sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def traffic_per_sample_gradients(widths, input_size, num_classes, batch_size, cut):
    pipe, params = traffic_right(widths, input_size, num_classes, batch_size, cut)
    return pipe, params * batch_size


def traffic_wrong_cut(widths, input_size, num_classes, batch_size, cut):  # the first layer of stage 1
    pipe, params = traffic_right(widths, input_size, num_classes, batch_size, cut)
    return batch_size * (widths[cut] + 1), params


def traffic_no_bias(widths, input_size, num_classes, batch_size, cut):
    sizes = [input_size] + list(widths)
    return batch_size * (widths[cut - 1] + 1), sum(a * b + num_classes * b for a, b in zip(sizes[:-1], sizes[1:]))


def traffic_package(widths, input_size, num_classes, batch_size, cut):
    from hff_edu.methods.hff import HFFNet
    model = HFFNet(input_size, list(widths), num_classes, init="random")
    plan = parallel.plan_stages(model, (input_size,), [cut, len(widths) - cut])
    return plan.floats_per_sample(0) * batch_size, sum(p.numel() for p in model.parameters())


def traffic_builds_model(widths, input_size, num_classes, batch_size, cut):  # counts the package's parameters
    from hff_edu.methods.hff import HFFNet
    model = HFFNet(input_size, list(widths), num_classes, init="random")
    return batch_size * (widths[cut - 1] + 1), sum(p.numel() for p in model.parameters())


SAMPLES = {
    "08.1": dict(
        right={"formula": bubble_formula, "from the slot counts": bubble_from_counts},
        wrong={"idle / busy (S-1)/M": lambda s, m: (s - 1) / m,
               "(S-1)/(M+S)": lambda s, m: (s - 1) / (m + s),
               "busy share M/(M+S-1)": lambda s, m: m / (m + s - 1),
               "1 - 1/S (naive model parallelism)": lambda s, m: 1 - 1 / s,
               "a percentage": lambda s, m: 100 * (s - 1) / (m + s - 1),
               "integer division": lambda s, m: (s - 1) // (m + s - 1)},
        package={"simulated with parallel.simulated_timeline": bubble_simulated},
    ),
    "08.2": dict(
        right={"every contiguous cut tried": cut_brute_force, "dynamic programming": cut_dynamic_programming},
        wrong={"equal numbers of layers": cut_equal_counts, "greedy fill to the average": cut_greedy_average,
               "cut positions": cut_positions,
               "stage costs": lambda costs, s: [sum(costs[a:b]) for a, b in
                                                 zip(*(lambda bd: (bd[:-1], bd[1:]))(
                                                     list(itertools.accumulate([0] + cut_brute_force(costs, s)))))]},
        package={"parallel.split_units": lambda costs, s: parallel.split_units(costs, s)},
    ),
    "08.4": dict(
        right={"from the config": traffic_right},
        wrong={"no labels": traffic_no_labels, "no prototypes": traffic_no_prototypes,
               "gradients per sample": traffic_per_sample_gradients, "the wrong layer's width": traffic_wrong_cut,
               "no biases": traffic_no_bias},
        package={"plan_stages and the model": traffic_package, "counts an HFFNet's parameters": traffic_builds_model},
    ),
    "08.3": dict(
        right={"c": lambda: "c", "C with spaces": lambda: " C "},
        wrong={"a": lambda: "a", "b": lambda: "b", "d": lambda: "d", "not an option": lambda: "e"},
    ),
}
