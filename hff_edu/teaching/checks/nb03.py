"""Exercises of 03_hff_training: the statistics of a comparison, the sum rule, its temperature limits,
and choosing the temperature the way a study would (validation split, seeds, the test set once)."""
from __future__ import annotations

import math

import torch

from ..exercises import Wrong, digest, exercise

# ----------------------------------------------------------------------------
# 03.1 why sqrt(2), and why paired?

#: per question, the digest of the right option and what each wrong option overlooks
_NOISE_QUESTIONS = {
    "sqrt2": (digest("c"), {
        "a": "standard errors do not add; variances do. Two independent errors of size s give a difference whose "
             "error is sqrt(s^2 + s^2), not s + s.",
        "b": "the two-sided test changes the critical value (about 2 for 5%), not the standard error of the "
             "difference; the sqrt(2) is there for a one-sided test too.",
        "d": "nothing is split: each accuracy is measured on all n images. The sqrt(2) comes from adding the "
             "variances of two estimates."}),
    "paired": (digest("b"), {
        "a": "both tests use the same n test images; the paired one uses them better, not more of them.",
        "c": "equal accuracy is the null hypothesis of every test of a difference, paired or not; it does not "
             "make McNemar lenient. Look at what the images both models get right contribute to the difference.",
        "d": "McNemar's test as used here is two-sided (the p-value doubles the smaller tail)."}),
}


@exercise("03.1", "why sqrt(2), and why paired?", kind="explain", level=2, minutes=8)
def _noise(t, my_answers):
    t.choices(my_answers, _NOISE_QUESTIONS, part="question")


# ----------------------------------------------------------------------------
# 03.2 the sum rule by hand

def _score_cases() -> list[tuple[list[torch.Tensor], float, str]]:
    """Hidden per-layer scores built so that every tempting shortcut disagrees with the sum rule on
    many rows: the layers disagree, and the confident layer is not the one with the largest cosines."""
    g = torch.Generator().manual_seed(303)
    cases = []
    for layers, n, c, tau in ((3, 400, 10, 0.1), (2, 300, 4, 0.5), (4, 250, 7, 0.05)):
        base = torch.rand(n, c, generator=g) * 2 - 1
        scores = []
        for l in range(layers):
            s = 0.6 * base + 0.5 * (torch.rand(n, c, generator=g) * 2 - 1)
            # one layer squeezed towards its mean: small cosines but a clear winner after / tau
            scores.append((s * (0.25 if l == layers - 1 else 1.0)).clamp(-1, 1))
        cases.append((scores, tau, f"{layers} layers, {n} samples, {c} classes, tau = {tau}"))
    # one sample, three classes: where summing raw scores and summing softmaxes disagree
    one = [torch.tensor([[0.9, 0.0, -0.9]]), torch.tensor([[-0.2, 0.1, 0.0]]), torch.tensor([[-0.3, 0.2, -0.1]])]
    cases.append((one, 0.1, "3 layers, 1 sample, 3 classes, tau = 0.1"))
    return cases


@exercise("03.2", "the sum rule by hand", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.methods.hff.combine", "hff_edu.methods.hff.predict",
                  "hff_edu.methods.hff.predict_and_layers"])
def _sum_rule(t, sum_rule_predictions):
    for scores, tau, what in _score_cases():
        got = t.call(sum_rule_predictions, [s.clone() for s in scores], tau)
        t.require(torch.is_tensor(got), f"for {what} the answer should be a tensor of class indices, one per row.")
        t.require(got.shape == (scores[0].shape[0],),
                  f"for {what} the answer has shape {tuple(got.shape)}; give one class index per row "
                  f"(shape ({scores[0].shape[0]},)): the argmax over classes.")
        expected = sum((s / tau).softmax(dim=1) for s in scores).argmax(dim=1)
        wrong = int((got.long().cpu() != expected).sum())
        if wrong:
            raise Wrong(f"for {what}, {wrong} of {len(expected)} predictions are not the sum rule's. Does every "
                        "layer count, with its scores divided by tau before a softmax over the classes?")


# ----------------------------------------------------------------------------
# 03.3 the sum rule from cold to hot

_LIMITS = {
    "cold": (digest("b"), {
        "a": "at a low temperature every layer's softmax becomes one-hot, whatever its cosines: the last layer "
             "gets one vote like the others.",
        "c": "that is the hot limit: a softmax of tiny numbers is nearly linear in them.",
        "d": "confidence stops mattering as T -> 0: every layer's softmax is one-hot, so each layer counts once."}),
    "hot": (digest("c"), {
        "a": "at a high temperature no layer's softmax is confident; the last layer has no special weight.",
        "b": "that is the cold limit: one-hot softmaxes add up to votes.",
        "d": "at a high temperature every softmax is nearly flat: 1/C + (S_c - mean S) / (C T). What survives "
             "the sum over layers?"}),
}


@exercise("03.3", "the sum rule from cold to hot", kind="predict", level=2, minutes=6)
def _limits(t, my_prediction):
    t.choices(my_prediction, _LIMITS, part="limit")


# ----------------------------------------------------------------------------
# 03.4 choose tau the way a study would

class GuardedSplit:
    """A split that records every read of its images (``x``) and labels (``y``): the check can tell
    whether and when the test split was used. Works wherever a ``data.Split`` does (``len``, ``.x``, ``.y``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, name: str, log: list):
        self._x, self._y, self.name, self._log = x, y, name, log

    def __len__(self) -> int:
        return int(self._y.shape[0])

    @property
    def x(self) -> torch.Tensor:
        self._log.append(("read", self.name))
        return self._x

    @property
    def y(self) -> torch.Tensor:
        self._log.append(("read", self.name))
        return self._y

    def to(self, device) -> "GuardedSplit":
        return self


class _TableModel:
    """A stand-in for a trained model: its images are ids, and it predicts from a fixed table, so the
    accuracy on each split is known exactly and every prediction is logged with the split it came from."""

    def __init__(self, key, answers: dict, log: list):
        self.key, self._answers, self._log = key, answers, log
        self.training, self.device = False, torch.device("cpu")

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def to(self, device):
        return self

    def predict(self, x, **kwargs) -> torch.Tensor:
        ids = torch.as_tensor(x).reshape(len(x), -1)[:, 0].long()
        for split in {"val" if int(i) < 100000 else "test" for i in ids}:
            self._log.append(("predict", split, self.key))
        return torch.stack([self._answers[int(i)] for i in ids])

    __call__ = predict


def _labels(n: int, c: int, start: int, g) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(start, start + n, dtype=torch.float32)[:, None], torch.randint(c, (n,), generator=g)


def _runs(taus, seeds, val_acc, test_acc, n_val=200, n_test=300, c=10, seed=404):
    """Stand-in runs {(tau, seed): model} whose accuracies on val and test are exactly the tables given."""
    g = torch.Generator().manual_seed(seed)
    log: list = []
    vx, vy = _labels(n_val, c, 0, g)
    tx, ty = _labels(n_test, c, 100000, g)
    runs = {}
    for i, tau in enumerate(taus):
        for j, s in enumerate(seeds):
            answers = {}
            for xs, ys, acc in ((vx, vy, val_acc[i][j]), (tx, ty, test_acc[i][j])):
                right = torch.randperm(len(ys), generator=g)[:round(acc * len(ys))]
                wrong_pred = (ys + 1 + torch.randint(c - 1, ys.shape, generator=g)) % c
                pred = wrong_pred.clone()
                pred[right] = ys[right]
                answers.update({int(x): p for x, p in zip(xs[:, 0], pred)})
            runs[(tau, s)] = _TableModel((tau, s), answers, log)
    return runs, GuardedSplit(vx, vy, "val", log), GuardedSplit(tx, ty, "test", log), log


def _design_cases():
    """Tables where the shortcuts pick another tau than the mean validation accuracy over seeds: the
    first seed alone, the best single seed, the test set, and where reporting a validation accuracy
    or one seed's test accuracy gives another number."""
    taus = [0.05, 0.1, 0.5, 1.0]
    val = [[0.900, 0.800, 0.805], [0.850, 0.860, 0.855], [0.840, 0.845, 0.850], [0.700, 0.710, 0.720]]
    test = [[0.850, 0.820, 0.830], [0.840, 0.850, 0.830], [0.870, 0.880, 0.875], [0.690, 0.700, 0.710]]
    first = (taus, [0, 1, 2], val, test, 0.1)
    taus2 = [0.3, 0.03]
    val2 = [[0.60, 0.70], [0.66, 0.62]]
    test2 = [[0.65, 0.55], [0.70, 0.72]]
    return [first, (taus2, [5, 7], val2, test2, 0.3)]


@exercise("03.4", "choose tau the way a study would", kind="design", level=3, minutes=15)
def _choose_tau(t, choose_tau, runs=None, val=None, test=None):
    for taus, seeds, val_acc, test_acc, best in _design_cases():
        models, v, te, log = _runs(taus, seeds, val_acc, test_acc)
        got = t.call(choose_tau, models, v, te)
        t.require(isinstance(got, (tuple, list)) and len(got) == 2,
                  "return two things: (the tau you chose, its test accuracy).")
        chosen, test_score = got
        t.require(isinstance(chosen, (int, float)) and any(math.isclose(chosen, x) for x in taus),
                  f"the chosen tau should be one of the taus of the runs; it is {chosen!r}.")
        tested = {key[0] for kind, *rest in log if kind == "predict" and rest[0] == "test" for key in [rest[1]]}
        t.require(tested, "the test split was never scored: report the chosen tau's test accuracy, once, at the end.")
        t.require(tested == {chosen}, "the test split was used for settings you did not choose "
                  f"({len(tested - {chosen})} of them): a study looks at the test set only once, for the "
                  "setting chosen on the validation split, or the choice is tuned to the test set.")
        t.require(math.isclose(chosen, best), "the chosen tau is not the one the validation split supports when "
                  "every seed counts: one seed (or the best seed) is a noisy judge, and the test split is no judge.")
        n_test = len(te)
        expected = sum(round(a * n_test) / n_test for a in test_acc[taus.index(best)]) / len(seeds)
        t.require(math.isclose(float(t.number(test_score, "the test accuracy")), expected, abs_tol=1e-6),
                  "the test accuracy reported is not the chosen tau's mean over its seeds on the test split.")
    if runs is not None:
        _on_this_run(t, choose_tau, runs, val, test)


def _on_this_run(t, choose_tau, runs, val, test) -> None:
    """The answer applied to the notebook's own runs (printed: what the procedure chose here)."""
    log: list = []
    chosen, score = t.call(choose_tau, runs, GuardedSplit(val.x, val.y, "val", log),
                           GuardedSplit(test.x, test.y, "test", log))
    reads = sum(1 for _, name in log if name == "test")
    print(f"    on this notebook's runs your procedure chose tau = {chosen:g}: mean test accuracy {float(score):.4f} "
          f"over {len({s for _, s in runs})} seeds ({reads} reads of the test split, "
          f"{sum(1 for _, name in log if name == 'val')} of the validation split)")
