"""Exercises of 05_timing: a fair timer, FF's speed-up predicted before it is measured, the FLOPs of a
convolution counted by hand, and why a local method's flat memory line can start above backprop's."""
from __future__ import annotations

import time

import torch

from ..exercises import digest, exercise

# ----------------------------------------------------------------------------
# 05.1 a fair timer

#: what one call of the test functions costs (seconds), and what a slow call costs
_COST, _SLOW = 0.004, 0.08


class _Timed:
    """A function to time whose true cost the check knows. It sleeps (so the machine's load hardly
    matters), counts its calls, and can be slow on its first calls (lazy initialisation), slow on two
    calls of the timed rounds (a background process), or queue its work and return at once (a GPU
    kernel: the work is done when ``sync`` is called)."""

    def __init__(self, first_slow: int = 0, spikes_after: int | None = None, asynchronous: bool = False):
        self.first_slow, self.spikes_after, self.asynchronous = first_slow, spikes_after, asynchronous
        self.calls, self.syncs, self.pending = 0, 0, 0.0

    def __call__(self):
        self.calls += 1
        cost = _COST
        if self.calls <= self.first_slow:
            cost = _SLOW
        elif self.spikes_after is not None and self.calls - self.spikes_after in (3, 6):
            cost = _SLOW
        if self.asynchronous:
            self.pending += cost  # queued: the call returns before the work is done
        else:
            time.sleep(cost)

    def sync(self):
        self.syncs += 1
        if self.pending:
            time.sleep(self.pending)
            self.pending = 0.0


#: (what the case is, the function, repeats, warmup, what a wrong result means)
def _timer_cases():
    return [
        ("a function that costs the same on every call", _Timed(), 5, 1, None),
        ("a function whose first 3 calls are slow (lazy initialisation), timed with warmup=3 and repeats=3",
         _Timed(first_slow=3), 3, 3,
         "the slow first calls reach your result: are the warm-up calls run, and kept out of the timings?"),
        ("a function of which 2 of the timed calls are slow (a background process took the CPU), repeats=7",
         _Timed(spikes_after=1), 7, 1,
         "two slow calls out of seven moved your result: which statistic of the repeats ignores a few outliers?"),
        ("a function that queues its work and returns at once (like a CUDA kernel); sync() waits for the work",
         _Timed(asynchronous=True), 5, 1,
         "you timed the launch, not the work: the clock must stop only after sync() has returned"),
    ]


@exercise("05.1", "a fair timer", kind="design", level=2, minutes=15,
          forbid=["hff_edu.measuring.clocks.time_calls", "hff_edu.measuring.clocks._block_seconds",
                  "hff_edu.measuring.clocks.calls_per_block", "hff_edu.measuring.inference.time_inference"])
def _timer(t, my_time):
    for what, fn, repeats, warmup, hint in _timer_cases():
        got = t.number(t.call(my_time, fn, fn.sync, repeats=repeats, warmup=warmup), f"the time of {what}")
        t.require(fn.calls >= repeats + warmup,
                  f"for {what} your timer called the function {fn.calls} time(s) with repeats={repeats} and "
                  f"warmup={warmup}: run the warm-up calls, then one timed call per repeat.")
        if 300 < got / _COST < 3000:
            t.fail(f"for {what} the result looks like milliseconds: return seconds per call, as "
                   "time.perf_counter() gives them.")
        if not 0.7 <= got / _COST <= 2.0:
            t.fail(f"for {what} your result is not the time one call takes"
                   + (f": {hint}" + ("" if hint.endswith("?") else ".") if hint
                      else " (seconds per call, as time.perf_counter() measures them)."))


# ----------------------------------------------------------------------------
# 05.2 FF's speed-up, predicted before it is measured

#: how far (as a factor) a prediction may be from the measured ratio or from the ratio of counted FLOPs:
#: the small extras of each pass (FF's label overlay, HFF's prototype scores) stay well inside it
_PREDICT_FACTOR = 1.5


@exercise("05.2", "predict the speed-up", kind="predict", level=1, minutes=5)
def _predict(t, my_prediction, speedups):
    """Right if, for C = 2, 10 and 100, the prediction is within a factor 1.5 of the time ratio measured at
    the largest batch, or of the ratio of counted FLOPs there (what the timing would show on a quiet
    machine: a busy one can push the measured ratio anywhere, and a student's right prediction must not
    fail because of it)."""
    got = t.value(my_prediction)
    if not isinstance(got, dict):
        t.fail(f"the prediction should be a dict {{C: ratio}} for C = 2, 10 and 100; it is a {type(got).__name__}.")
    batch = max(s["batch_size"] for s in speedups)
    at = {s["num_classes"]: s for s in speedups if s["batch_size"] == batch}
    for c in (2, 10, 100):
        t.require(c in got, f"the prediction has no entry for C = {c}: give one ratio each for C = 2, 10 and 100.")
        p = t.number(got[c], f"the prediction for C = {c}")
        t.require(p > 0, f"the prediction for C = {c} is {p:g}: a ratio of two times is positive.")
        if c not in at:
            continue
        refs = [at[c][k] for k in ("ratio", "flop_ratio") if at[c].get(k)]
        offs = [p / r for r in refs]
        if not any(1 / _PREDICT_FACTOR <= off <= _PREDICT_FACTOR for off in offs):
            t.fail(f"at C = {c} your prediction is more than {_PREDICT_FACTOR:g}x {'above' if offs[0] > 1 else 'below'} "
                   f"what the sweep measured at batch {batch}. Count what FF's goodness rule does per prediction "
                   "that HFF does once.")


# ----------------------------------------------------------------------------
# 05.3 the FLOPs of a convolution

#: (c_in, c_out, kernel, h, w, stride, padding): conv FF's first block (1 + C input channels), odd sizes,
#: stride 2 with and without padding, a 1x1 convolution (the AuxConv), a non-square image
_CONV_CASES = [(1, 16, 3, 28, 28, 1, 1), (11, 16, 3, 28, 28, 1, 1), (16, 32, 3, 14, 14, 1, 1),
               (3, 8, 5, 32, 32, 2, 2), (4, 6, 3, 9, 7, 2, 0), (64, 64, 1, 3, 3, 1, 0), (2, 5, 4, 10, 13, 3, 1)]


def _conv_flops(c_in, c_out, kernel, h, w, stride, padding) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    conv = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        conv(torch.zeros(1, c_in, h, w))
    return int(counter.get_total_flops())


@exercise("05.3", "FLOPs of a convolution", kind="compute", level=2, minutes=12,
          forbid=["hff_edu.measuring.flops.count_flops", "torch.utils.flop_counter.FlopCounterMode",
                  "torch.utils.flop_counter.conv_flop_count", "torch.nn.functional.conv2d"])
def _conv(t, conv_flops):
    for c_in, c_out, k, h, w, s, p in _CONV_CASES:
        what = f"a {k}x{k} convolution from {c_in} to {c_out} channels on a {h}x{w} image (stride {s}, padding {p})"
        expected = _conv_flops(c_in, c_out, k, h, w, s, p)
        got = t.number(t.call(conv_flops, c_in, c_out, k, h, w, stride=s, padding=p), what)
        if got == expected:
            continue
        if 2 * got == expected:
            t.fail(f"for {what} you counted multiply-adds; the exercise asks for FLOPs (2 per multiply-add).")
        if got == 2 * c_in * c_out * k * k * h * w and expected != got:
            t.fail(f"for {what} your count uses the input's size; how many output positions does the kernel visit "
                   "with this stride and padding?")
        t.fail(f"for {what} the count is not right: check the number of output positions (stride and padding) "
               "and the work done at each of them.")


# ----------------------------------------------------------------------------
# 05.4 why a flat memory line can start above backprop's

@exercise("05.4", "flat but higher", kind="explain", level=2, minutes=6)
def _memory(t, answer):
    t.choice(answer, digest("b"), {
        "a": "if HFF kept every layer's activations, its peak would grow with depth like backprop's; the "
             "printout shows it flat (x1.00 from the shallowest to the deepest network).",
        "c": "parameters, gradients and Adam's state are left out of this count (section 6 says so), and they "
             "would grow with depth anyway.",
        "d": "backprop cannot free anything before its backward pass starts, and that starts only once the "
             "forward pass has reached the loss at the top: at that moment every layer's activations are held. "
             "That is why its line grows.",
    })
