"""Answers to 03's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch

from hff_edu.methods import hff
from hff_edu.training import trainer as train


class _Model:
    """What hff.combine needs of a model."""
    rule, sum_skip_first = "sum", False

    def __init__(self, tau):
        self.tau = tau


# ----------------------------------------------------------------------------
# 03.2


def _sum_rule(scores, tau):
    return sum((s / tau).softmax(dim=1) for s in scores).argmax(dim=1)


def _sum_rule_loop(scores, tau):
    total = torch.zeros_like(scores[0])
    for s in scores:
        e = torch.exp((s - s.max(dim=1, keepdim=True).values) / tau)
        total = total + e / e.sum(dim=1, keepdim=True)
    return torch.argmax(total, dim=1)


def _vote(scores, tau):
    votes = torch.zeros_like(scores[0])
    for s in scores:
        votes[torch.arange(len(s)), s.argmax(1)] += 1
    return votes.argmax(1)


# ----------------------------------------------------------------------------
# 03.4


def _acc(model, split):
    return train.accuracy(model, split)


def _choose(runs, val, test):
    taus = sorted({tau for tau, _ in runs})
    seeds = sorted({s for _, s in runs})
    mean_val = {tau: sum(_acc(runs[tau, s], val) for s in seeds) / len(seeds) for tau in taus}
    best = max(taus, key=mean_val.get)
    return best, sum(_acc(runs[best, s], test) for s in seeds) / len(seeds)


def _choose_by_hand(runs, val, test):
    def acc(model, split):
        return (model.predict(split.x) == split.y).float().mean().item()
    by_tau = {}
    for (tau, seed), model in runs.items():
        by_tau.setdefault(tau, []).append(acc(model, val))
    best = max(by_tau, key=lambda tau: sum(by_tau[tau]) / len(by_tau[tau]))
    scores = [acc(model, test) for (tau, seed), model in runs.items() if tau == best]
    return best, sum(scores) / len(scores)


def _choose_on_test(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    mean_test = {tau: sum(_acc(runs[tau, s], test) for s in seeds) / len(seeds) for tau in taus}
    best = max(taus, key=mean_test.get)
    return best, mean_test[best]


def _choose_first_seed(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    best = max(taus, key=lambda tau: _acc(runs[tau, seeds[0]], val))
    return best, sum(_acc(runs[best, s], test) for s in seeds) / len(seeds)


def _choose_best_seed(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    best = max(taus, key=lambda tau: max(_acc(runs[tau, s], val) for s in seeds))
    return best, sum(_acc(runs[best, s], test) for s in seeds) / len(seeds)


def _choose_but_score_everything(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    table = {(tau, s): (_acc(runs[tau, s], val), _acc(runs[tau, s], test)) for tau in taus for s in seeds}
    best = max(taus, key=lambda tau: sum(table[tau, s][0] for s in seeds))
    return best, sum(table[best, s][1] for s in seeds) / len(seeds)


def _report_val(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    mean_val = {tau: sum(_acc(runs[tau, s], val) for s in seeds) / len(seeds) for tau in taus}
    best = max(taus, key=mean_val.get)
    _acc(runs[best, seeds[0]], test)
    return best, mean_val[best]


def _report_one_seed(runs, val, test):
    taus, seeds = sorted({t for t, _ in runs}), sorted({s for _, s in runs})
    mean_val = {tau: sum(_acc(runs[tau, s], val) for s in seeds) / len(seeds) for tau in taus}
    best = max(taus, key=mean_val.get)
    return best, _acc(runs[best, seeds[0]], test)


SAMPLES = {
    "03.1": dict(
        right={"variances add; correlated errors cancel": lambda: {"sqrt2": "c", "paired": "b"},
               "upper case, spaces": lambda: {"sqrt2": " C", "paired": "B "}},
        wrong={"the errors add": lambda: {"sqrt2": "a", "paired": "b"},
               "two-sided": lambda: {"sqrt2": "b", "paired": "b"},
               "more images": lambda: {"sqrt2": "c", "paired": "a"},
               "McNemar is lenient": lambda: {"sqrt2": "c", "paired": "c"},
               "one-sided": lambda: {"sqrt2": "c", "paired": "d"},
               "one answer only": lambda: {"sqrt2": "c"},
               "a letter, not a dict": lambda: "c"},
    ),
    "03.2": dict(
        right={"sum of softmaxes": _sum_rule, "by hand, stable": _sum_rule_loop},
        wrong={"no division by tau": lambda scores, tau: sum(s.softmax(1) for s in scores).argmax(1),
               "sum of raw scores": lambda scores, tau: sum(scores).argmax(1),
               "last layer only": lambda scores, tau: scores[-1].argmax(1),
               "majority vote": _vote,
               "product of softmaxes": lambda scores, tau: sum((s / tau).log_softmax(1) for s in scores).argmax(1),
               "layer 1 left out": lambda scores, tau: sum((s / tau).softmax(1) for s in scores[1:]).argmax(1),
               "softmax over the samples": lambda scores, tau: sum((s / tau).softmax(0) for s in scores).argmax(1),
               "multiplied by tau": lambda scores, tau: sum((s * tau).softmax(1) for s in scores).argmax(1),
               "keepdim": lambda scores, tau: sum((s / tau).softmax(1) for s in scores).argmax(1, keepdim=True)},
        package={"hff.combine": lambda scores, tau: hff.combine(_Model(tau), scores, "sum")},
    ),
    "03.3": dict(
        right={"vote, then sum of scores": lambda: {"cold": "b", "hot": "c"}},
        wrong={"the last layer when cold": lambda: {"cold": "a", "hot": "c"},
               "the most confident layer": lambda: {"cold": "d", "hot": "c"},
               "limits swapped": lambda: {"cold": "c", "hot": "b"},
               "a vote when hot": lambda: {"cold": "b", "hot": "b"},
               "the last layer when hot": lambda: {"cold": "b", "hot": "a"}},
    ),
    "03.4": dict(
        right={"mean over seeds on val, test once": _choose, "by hand": _choose_by_hand},
        wrong={"chosen on the test split": _choose_on_test,
               "the first seed decides": _choose_first_seed,
               "the best seed decides": _choose_best_seed,
               "test scored for every tau": _choose_but_score_everything,
               "reports the validation accuracy": _report_val,
               "reports one seed's test accuracy": _report_one_seed,
               "returns only tau": lambda runs, val, test: 0.1},
    ),
}
