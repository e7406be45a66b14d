"""Answers to 07's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch
import torch.nn.functional as F

from hff_edu.training import transfer


# 07.1 class-mean prototypes ---------------------------------------------------------------------

def means_loop(z, y, num_classes):
    z = z / z.norm(dim=1, keepdim=True)
    means = torch.stack([z[y == c].mean(0) for c in range(num_classes)])
    return means / means.norm(dim=1, keepdim=True)


def means_index_add(z, y, num_classes):  # sums, not means: the normalisation removes the count
    sums = torch.zeros(num_classes, z.shape[1]).index_add_(0, y, F.normalize(z, dim=1))
    return F.normalize(sums, dim=1)


def means_one_hot(z, y, num_classes):
    onehot = F.one_hot(y, num_classes).float()
    return F.normalize(onehot.T @ F.normalize(z, dim=1), dim=1)


def means_raw_rows(z, y, num_classes):  # rows not put on the sphere first
    means = torch.stack([z[y == c].mean(0) for c in range(num_classes)])
    return means / means.norm(dim=1, keepdim=True)


def means_not_normalised(z, y, num_classes):
    z = F.normalize(z, dim=1)
    return torch.stack([z[y == c].mean(0) for c in range(num_classes)])


def means_wrong_dim(z, y, num_classes):
    z = F.normalize(z, dim=1)
    return F.normalize(torch.stack([z[y == c].mean(0) for c in range(num_classes)]), dim=0)


def means_transposed(z, y, num_classes):
    return means_loop(z, y, num_classes).T


def means_no_mask(z, y, num_classes):  # every class gets the mean of all samples
    m = F.normalize(F.normalize(z, dim=1).mean(0), dim=0)
    return m.expand(num_classes, -1).clone()


# 07.2 choose the block without the test images (design) ---------------------------------------------

def _unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def _means(z, y):
    return _unit(torch.stack([z[y == c].mean(0) for c in range(int(y.max()) + 1)]))


def _acc(z, y, p):
    return float(((z @ p.T).argmax(1) == y).float().mean())


def choose_holdout(z_blocks, y):  # prototypes from half the examples, scored on the other half
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    fit, val = order[: len(y) // 2], order[len(y) // 2:]
    scores = [_acc(z[val], y[val], _means(z[fit], y[fit])) for z in z_blocks]
    return max(range(len(scores)), key=lambda b: scores[b]) + 1


def choose_leave_one_out(z_blocks, y):  # each example left out of its own class mean
    scores = []
    for z in z_blocks:
        classes = int(y.max()) + 1
        sums = torch.zeros(classes, z.shape[1]).index_add_(0, y, z)
        counts = torch.bincount(y, minlength=classes).float()
        own = sums[y] - z  # the class sum without the example
        s = z @ _unit(sums).T
        s[torch.arange(len(y)), y] = (z * _unit(own)).sum(1)
        scores.append(float((s.argmax(1) == y).float().mean()))
    return max(range(len(scores)), key=lambda b: scores[b]) + 1


def choose_k_fold(z_blocks, y, k=5):
    folds = torch.arange(len(y)) % k
    scores = []
    for z in z_blocks:
        right = 0
        for f in range(k):
            fit, val = folds != f, folds == f
            right += _acc(z[val], y[val], _means(z[fit], y[fit])) * int(val.sum())
        scores.append(right / len(y))
    return max(range(len(scores)), key=lambda b: scores[b]) + 1


def choose_on_themselves(z_blocks, y):  # prototypes scored on the examples they were built from
    scores = [_acc(z, y, _means(z, y)) for z in z_blocks]
    return max(range(len(scores)), key=lambda b: scores[b]) + 1


def choose_holdout_zero_based(z_blocks, y):
    return choose_holdout(z_blocks, y) - 1


def choose_widest(z_blocks, y):  # "more dimensions, more information"
    return max(range(len(z_blocks)), key=lambda b: z_blocks[b].shape[1]) + 1


def choose_narrowest(z_blocks, y):
    return min(range(len(z_blocks)), key=lambda b: z_blocks[b].shape[1]) + 1


def choose_tightest(z_blocks, y):  # the block whose classes cluster tightest (longest class means)
    lengths = [float(torch.stack([z[y == c].mean(0) for c in range(int(y.max()) + 1)]).norm(dim=1).mean())
               for z in z_blocks]
    return max(range(len(lengths)), key=lambda b: lengths[b]) + 1


def choose_best_accuracy_value(z_blocks, y):  # returns the accuracy, not the block
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    fit, val = order[: len(y) // 2], order[len(y) // 2:]
    return max(_acc(z[val], y[val], _means(z[fit], y[fit])) for z in z_blocks)


# 07.4 the nearest-prototype accuracy (debug) ---------------------------------------------------------

def buggy_accuracy(z, y, prototypes):  # the notebook's given code, unfixed
    scores = z @ prototypes.T
    return float((scores.argmax(1) == y).float().mean())


def fixed_accuracy(z, y, prototypes):
    p = prototypes / prototypes.norm(dim=1, keepdim=True)
    return float(((z @ p.T).argmax(1) == y).float().mean())


def fixed_with_normalize(z, y, prototypes):
    return ((F.normalize(z, dim=1) @ F.normalize(prototypes, dim=1).T).argmax(1) == y).double().mean().item()


def fixed_by_distance(z, y, prototypes):  # nearest unit prototype by Euclidean distance: the same rule
    return float((torch.cdist(z, F.normalize(prototypes, dim=1)).argmin(1) == y).float().mean())


def normalises_z_only(z, y, prototypes):  # changes nothing: every row of z is scaled alike
    return buggy_accuracy(F.normalize(z, dim=1), y, prototypes)


def normalises_wrong_dim(z, y, prototypes):
    return buggy_accuracy(z, y, F.normalize(prototypes, dim=0))


def raw_distance(z, y, prototypes):  # Snell's rule: nearest raw prototype by distance, not the cosine
    return float((torch.cdist(z, prototypes).argmin(1) == y).float().mean())


def count_not_fraction(z, y, prototypes):
    return float(((z @ F.normalize(prototypes, dim=1).T).argmax(1) == y).sum())


SAMPLES = {
    "07.1": dict(
        right={"loop": means_loop, "index_add": means_index_add, "one-hot matrix product": means_one_hot},
        wrong={"rows not normalised first": means_raw_rows, "means not normalised": means_not_normalised,
               "normalised along the classes": means_wrong_dim, "transposed": means_transposed,
               "no class mask": means_no_mask},
        package={"transfer.mean_prototypes": lambda z, y, c: transfer.mean_prototypes(z, y, c),
                 "transfer.class_mean_prototypes": lambda z, y, c: transfer.class_mean_prototypes(None, z, y, -1, c)},
    ),
    "07.2": dict(
        right={"half to build, half to score": choose_holdout, "leave one out": choose_leave_one_out,
               "5-fold": choose_k_fold,
               "a tensor block number": lambda z, y: torch.tensor(choose_holdout(z, y))},
        wrong={"scored on the examples the prototypes came from": choose_on_themselves,
               "numbered from 0": choose_holdout_zero_based, "the widest block": choose_widest,
               "the narrowest block": choose_narrowest, "the tightest clusters": choose_tightest,
               "always the last block": lambda z, y: len(z), "an accuracy": choose_best_accuracy_value},
    ),
    "07.3": dict(
        right={"b": lambda: "b", "B": lambda: "B"},
        wrong={"a": lambda: "a", "c": lambda: "c", "d": lambda: "d"},
    ),
    "07.4": dict(
        right={"normalise the prototypes": fixed_accuracy, "F.normalize both": fixed_with_normalize,
               "nearest unit prototype by distance": fixed_by_distance},
        wrong={"unfixed": buggy_accuracy, "normalises z instead": normalises_z_only,
               "normalises along dim 0": normalises_wrong_dim, "Snell's raw distance": raw_distance,
               "a count": count_not_fraction},
        package={"transfer.prototype_accuracy": lambda z, y, p: transfer.prototype_accuracy(z, y, p),
                 "transfer.prototype_correct": lambda z, y, p: float(transfer.prototype_correct(z, y, p).float().mean())},
    ),
}
