"""Answers to 01's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch
import torch.nn.functional as F

from hff_edu.methods import ff


def stable_softplus(z):
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs()))


def loss_right(p, n, th):
    return stable_softplus(th - p).mean() + stable_softplus(n - th).mean()


def loss_right_maximum(p, n, th):
    sp = lambda z: torch.maximum(z, torch.zeros_like(z)) + torch.log(1 + torch.exp(-torch.abs(z)))  # noqa: E731
    return sp(th - p).mean() + sp(n - th).mean()


def loss_where(p, n, th):  # finite values, NaN gradients: the unused branch overflows
    sp = lambda z: torch.where(z > 20, z, torch.log1p(torch.exp(z)))  # noqa: E731
    return sp(th - p).mean() + sp(n - th).mean()


def loss_clamped(p, n, th):  # stays finite by clamping, but the value is wrong far from theta
    sp = lambda z: torch.log1p(torch.exp(z.clamp(max=50.0)))  # noqa: E731
    return sp(th - p).mean() + sp(n - th).mean()


def loss_naive_log1p(p, n, th):
    return torch.log1p(torch.exp(th - p)).mean() + torch.log1p(torch.exp(n - th)).mean()


def loss_naive_sigmoid(p, n, th):
    return -(torch.sigmoid(p - th).log().mean() + torch.sigmoid(th - n).log().mean())


def loss_one_mean(p, n, th):  # one mean over both halves: wrong when the batches differ in size
    return torch.cat([stable_softplus(th - p), stable_softplus(n - th)]).mean() * 2


def loss_signs_swapped(p, n, th):
    return stable_softplus(p - th).mean() + stable_softplus(th - n).mean()


def loss_detached(p, n, th):
    return torch.tensor(float(loss_right(p.detach(), n.detach(), th)))


def negatives_shift(y, num_classes, generator):
    shift = torch.randint(1, num_classes, y.shape, generator=generator)
    return (y + shift) % num_classes


def negatives_rejection(y, num_classes, generator):
    out = torch.randint(0, num_classes, y.shape, generator=generator)
    while (bad := out == y).any():
        out[bad] = torch.randint(0, num_classes, (int(bad.sum()),), generator=generator)
    return out


def negatives_multinomial(y, num_classes, generator):
    weights = 1.0 - F.one_hot(y, num_classes).float()
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


def negatives_permutation(y, num_classes, generator):  # the notebook's buggy generator
    return y[torch.randperm(len(y), generator=generator)]


def negatives_any_class(y, num_classes, generator):
    return torch.randint(0, num_classes, y.shape, generator=generator)


def negatives_next_class(y, num_classes, generator):
    return (y + 1) % num_classes


def negatives_off_by_one(y, num_classes, generator):  # randint's high is exclusive: never the class below
    shift = torch.randint(1, num_classes - 1, y.shape, generator=generator) if num_classes > 2 else torch.ones_like(y)
    return (y + shift) % num_classes


def negatives_no_modulo(y, num_classes, generator):
    return y + torch.randint(1, num_classes, y.shape, generator=generator)


def negatives_global_rng(y, num_classes, generator):  # ignores the generator it is given
    return (y + torch.randint(1, num_classes, y.shape)) % num_classes


def negatives_in_place(y, num_classes, generator):  # right labels, but the true ones are overwritten
    y += torch.randint(1, num_classes, y.shape, generator=generator)
    y %= num_classes
    return y


def passes_right(mode, num_classes):
    return 1 if mode == "softmax" else num_classes


SAMPLES = {
    "01.2": dict(
        right={"sum of squares": lambda h: (h ** 2).sum(dim=1), "einsum": lambda h: torch.einsum("nd,nd->n", h, h)},
        wrong={"keepdim=True": lambda h: (h ** 2).sum(dim=1, keepdim=True),
               "mean instead of sum": lambda h: (h ** 2).mean(dim=1),
               "sum over the batch": lambda h: (h ** 2).sum(dim=0),
               "norm, not squared": lambda h: h.norm(dim=1)},
        package={"ff.goodness": lambda h: ff.goodness(h)},
    ),
    "01.3": dict(
        right={"max(z, 0) + log1p(exp(-|z|))": loss_right, "maximum and log(1 + exp)": loss_right_maximum},
        wrong={"naive -log(sigmoid)": loss_naive_sigmoid, "naive log1p(exp)": loss_naive_log1p,
               "torch.where: NaN gradients": loss_where, "clamped before exp": loss_clamped,
               "one mean over both batches": loss_one_mean, "signs swapped": loss_signs_swapped,
               "no gradient": loss_detached,
               "F.softplus (not allowed here)": lambda p, n, th: F.softplus(th - p).mean() + F.softplus(n - th).mean(),
               "torch.logaddexp (not allowed here)": lambda p, n, th: (torch.logaddexp(torch.zeros_like(p), th - p).mean()
                                                                       + torch.logaddexp(torch.zeros_like(n), n - th).mean())},
        package={"ff.ff_loss": lambda p, n, th: ff.ff_loss(p, n, th)},
    ),
    "01.1": dict(
        right={"random shift modulo C": negatives_shift, "draw again where equal": negatives_rejection,
               "multinomial over the wrong classes": negatives_multinomial},
        wrong={"a permutation of the batch": negatives_permutation, "any class": negatives_any_class,
               "always the next class": negatives_next_class, "shift of 1 .. C-2": negatives_off_by_one,
               "no modulo": negatives_no_modulo, "ignores the generator": negatives_global_rng,
               "overwrites the true labels": negatives_in_place},
        package={"ff.wrong_labels": lambda y, c, g: ff.wrong_labels(y, c, g)},
    ),
    "01.4": dict(
        right={"C, C, 1, C": passes_right},
        wrong={"layers >= 2 saves a pass": lambda m, c: c - 1 if m == "goodness, layers >= 2" else passes_right(m, c),
               "each layer needs its own passes": lambda m, c: 2 * c if m == "goodness + each layer" else passes_right(m, c),
               "softmax also tries the labels": lambda m, c: c + 1 if m == "softmax" else passes_right(m, c),
               "one pass per layer and label": lambda m, c: 1 if m == "softmax" else 3 * c},
    ),
    "01.5": dict(
        right={"c": lambda: "c", "C with spaces": lambda: " C "},
        wrong={"a: Adam is too slow": lambda: "a", "b: the positive term's gradient vanishes": lambda: "b",
               "d: the normalisation divides by theta": lambda: "d", "not an option": lambda: "e"},
    ),
}
