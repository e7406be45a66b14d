"""Answers to 05's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import statistics
import time

from hff_edu import timing

from ._common import given_samples

# -- 05.1 a fair timer ---------------------------------------------------------------------------


def _median_timer(fn, sync, repeats=7, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _min_timer(fn, sync, repeats=7, warmup=2):  # timeit's choice: also robust to slow outliers
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _block_timer(fn, sync, repeats=7, warmup=2, number=3):  # rule 6: several calls per timed block
    for _ in range(warmup):
        fn()
    blocks = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        blocks.append((time.perf_counter() - start) / number)
    return statistics.median(blocks)


def _no_warmup(fn, sync, repeats=7, warmup=2):
    return _median_timer(fn, sync, repeats, 0)


def _mean(fn, sync, repeats=7, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def _no_sync(fn, sync, repeats=7, warmup=2):
    return _median_timer(fn, lambda: None, repeats, warmup)


def _milliseconds(fn, sync, repeats=7, warmup=2):
    return 1e3 * _median_timer(fn, sync, repeats, warmup)


def _warmup_timed_too(fn, sync, repeats=7, warmup=2):  # the warm-up calls land in the timings
    times = []
    for _ in range(warmup + repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _one_block_mean(fn, sync, repeats=7, warmup=2):  # one timed loop over all repeats: a mean
    for _ in range(warmup):
        fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def _sync_before_only(fn, sync, repeats=7, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _package_timer(fn, sync, repeats=7, warmup=2):
    return statistics.median(timing.time_calls({"f": fn}, repeats, warmup, min_block_s=0.0)["f"])


# -- 05.2 the speed-up, predicted ------------------------------------------------------------------

def _measured_speedups():
    """What the sweep of section 3 gives (the classroom reference: about 0.9 to 1.05 x C at batch 256)."""
    out = []
    for b, f in ((1, 0.9), (256, 1.0)):
        for c, g in ((2, 1.04), (5, 1.0), (10, 0.99), (20, 1.02), (50, 0.97), (100, 0.93)):
            out.append(dict(num_classes=c, batch_size=b, ratio=c * f * g, ratio_over_C=f * g, flop_ratio=c * (0.98 if c < 50 else 0.93)))
    return dict(speedups=out)


# -- 05.3 FLOPs of a convolution ---------------------------------------------------------------------

def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _conv_flops(c_in, c_out, kernel, h, w, stride=1, padding=0):
    return 2 * c_in * c_out * kernel * kernel * _out(h, kernel, stride, padding) * _out(w, kernel, stride, padding)


def _package_conv_flops(c_in, c_out, kernel, h, w, stride=1, padding=0):
    import torch
    conv = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
    return timing.count_flops(lambda: conv(torch.zeros(1, c_in, h, w)))["total"]


SAMPLES = {
    "05.1": dict(
        right={"median after warm-up, synchronised": _median_timer, "min (timeit's choice)": _min_timer,
               "median of blocks of calls": _block_timer},
        wrong={"no warm-up": _no_warmup, "mean instead of median": _mean, "no synchronisation": _no_sync,
               "milliseconds": _milliseconds, "warm-up calls timed too": _warmup_timed_too,
               "one timed loop (a mean)": _one_block_mean, "synchronised before the call only": _sync_before_only,
               "returns every timing": lambda fn, sync, repeats=7, warmup=2: [_median_timer(fn, sync, repeats, warmup)] * 2},
        package={"timing.time_calls": _package_timer},
    ),
    "05.2": given_samples(
        right={"C passes against one": {2: 2, 10: 10, 100: 100},
               "a bit below C (HFF's prototype scores)": {2: 1.9, 10: 9.5, 100: 85}},
        wrong={"the paper's 40x": {2: 40, 10: 40, 100: 40},
               "no difference": {2: 1, 10: 1, 100: 1},
               "C squared": {2: 4, 10: 100, 100: 10000},
               "saturates at 10": {2: 2, 10: 10, 100: 10},
               "half of C": {2: 1, 10: 5, 100: 50},
               "a list, not a dict": [2, 10, 100],
               "C = 100 missing": {2: 2, 10: 10}},
        context=_measured_speedups,
    ),
    "05.3": dict(
        right={"2 c_in c_out k^2 H_out W_out": _conv_flops},
        wrong={"multiply-adds, not FLOPs": lambda *a, **k: _conv_flops(*a, **k) // 2,
               "the input's size": lambda c_in, c_out, kernel, h, w, stride=1, padding=0:
                   2 * c_in * c_out * kernel * kernel * h * w,
               "padding ignored": lambda c_in, c_out, kernel, h, w, stride=1, padding=0:
                   _conv_flops(c_in, c_out, kernel, h, w, stride, 0),
               "k instead of k squared": lambda c_in, c_out, kernel, h, w, stride=1, padding=0:
                   2 * c_in * c_out * kernel * _out(h, kernel, stride, padding) * _out(w, kernel, stride, padding),
               "input channels left out": lambda c_in, c_out, kernel, h, w, stride=1, padding=0:
                   2 * c_out * kernel * kernel * _out(h, kernel, stride, padding) * _out(w, kernel, stride, padding),
               "stride divides the input, rounded up": lambda c_in, c_out, kernel, h, w, stride=1, padding=0:
                   2 * c_in * c_out * kernel * kernel * -(-h // stride) * -(-w // stride)},
        package={"timing.count_flops on a Conv2d": _package_conv_flops},
    ),
    "05.4": given_samples(
        right={"b": "b", "B with spaces": " B "},
        wrong={"a": "a", "c": "c", "d": "d"},
    ),
}
