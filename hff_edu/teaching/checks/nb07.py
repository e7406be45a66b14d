"""Exercises of 07_transfer_and_prototypes: class-mean prototypes from frozen features, choosing the block to
read from without the test images (design), why class means work (Snell et al.), and a nearest-prototype
accuracy to debug."""
from __future__ import annotations

import functools
import numbers

import torch

from ..exercises import digest, exercise


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def _features(seed: int, n: int, d: int, classes: int, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden features: class clusters in d dimensions whose rows have lengths from 1/spread to spread
    (a layer's raw features are not unit vectors), labels in a shuffled order, every class present."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * 2
    y = torch.cat([torch.arange(classes), torch.randint(0, classes, (n - classes,), generator=g)])
    y = y[torch.randperm(n, generator=g)]
    z = centres[y] + torch.randn(n, d, generator=g)
    lengths = spread ** (2 * torch.rand(n, 1, generator=g) - 1)
    return _unit(z) * lengths, y


#: (seed, samples, dimensions, classes, row lengths up to x and down to 1/x); one case has a class with one example
_MEAN_CASES = [(701, 40, 6, 3, 10.0), (702, 7, 5, 6, 4.0), (703, 200, 32, 5, 100.0)]


@exercise("07.1", "class-mean prototypes", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.training.transfer.mean_prototypes", "hff_edu.training.transfer.class_mean_prototypes"])
def _class_means(t, my_class_means):
    for seed, n, d, classes, spread in _MEAN_CASES:
        z, y = _features(seed, n, d, classes, spread)
        what = f"{n} samples of {d} features in {classes} classes"
        got = t.call(my_class_means, z.clone(), y.clone(), classes)
        t.require(torch.is_tensor(got), f"for {what} the answer should be a tensor of shape ({classes}, {d}).")
        t.require(tuple(got.shape) == (classes, d),
                  f"for {what} the result has shape {tuple(got.shape)}: give one row per class, ({classes}, {d}).")
        got = got.detach().double()
        t.require(torch.allclose(got.norm(dim=1), torch.ones(classes, dtype=torch.float64), atol=1e-4),
                  f"for {what} the rows are not unit length: a prototype is a direction on the sphere.")
        expected = _unit(torch.stack([_unit(z[y == c].double()).mean(0) for c in range(classes)]))
        raw = _unit(torch.stack([z[y == c].double().mean(0) for c in range(classes)]))
        if torch.allclose(got, raw, atol=1e-5) and not torch.allclose(raw, expected, atol=1e-5):
            t.fail(f"for {what} the rows of z are not all unit length, and your means let the long rows outweigh "
                   "the short ones: put every row on the sphere (as the network's embeddings are) before averaging.")
        t.close(got, expected, what, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# 07.2: choose the block on labelled examples only (design)

def _cluster_block(g, centres: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """Unit embeddings of one block: the class centre plus noise of size ``sigma`` per coordinate."""
    return _unit(centres[y] + sigma * torch.randn(len(y), centres.shape[1], generator=g))


@functools.lru_cache(maxsize=None)
def _block_case(seed: int, specs: tuple, classes: int, per_class: int):
    """Hidden blocks: ``specs`` holds (dimensions, sigma) per block, sigma None for a block whose
    embeddings carry no class information at all (many dimensions, few examples: class means built from
    the examples themselves fit them perfectly). Returns the labelled examples per block and labels,
    and what class means built from those examples score on 4000 fresh images per class (chance for a
    block without information). Cached: the cases are the same at every check."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(per_class)
    y = y[torch.randperm(len(y), generator=g)]
    y_new = torch.arange(classes).repeat_interleave(4000)
    blocks, fresh = [], []
    for d, sigma in specs:
        if sigma is None:  # no information: new images are classified at chance level
            z = _unit(torch.randn(len(y), d, generator=g))
            blocks.append(z)
            fresh.append(1.0 / classes)
            continue
        else:
            centres = _unit(torch.randn(classes, d, generator=g))
            z, z_new = _cluster_block(g, centres, y, sigma), _cluster_block(g, centres, y_new, sigma)
        p = _unit(torch.stack([z[y == c].mean(0) for c in range(classes)]))
        blocks.append(z)
        fresh.append(float(((z_new @ p.T).argmax(1) == y_new).double().mean()))
    return blocks, y, fresh


def _scored_on_themselves(blocks, y, classes: int) -> list[float]:
    out = []
    for z in blocks:
        p = _unit(torch.stack([z[y == c].mean(0) for c in range(classes)]))
        out.append(float(((z @ p.T).argmax(1) == y).double().mean()))
    return out


#: (seed, [(dimensions, sigma or None: no class information) per block], classes, examples per class)
_BLOCK_CASES = [(722, [(32, 0.38), (4, 0.8), (2000, None)], 4, 25),
                (721, [(8, 0.9), (1500, None), (16, 0.33)], 5, 20),
                (723, [(1200, None), (64, 0.3), (8, 0.5), (24, 0.6)], 6, 15),
                (724, [(6, 0.3), (12, 0.9)], 3, 30)]


@exercise("07.2", "choose the block without the test images", kind="design", level=2, minutes=12)
def _choose_block(t, my_choose_block):
    for seed, specs, classes, per_class in _BLOCK_CASES:
        blocks, y, fresh = _block_case(seed, tuple(specs), classes, per_class)
        what = (f"{len(blocks)} blocks of {', '.join(str(d) for d, _ in specs)} dimensions, {per_class} labelled "
                f"examples of each of {classes} classes")
        got = t.value(t.call(my_choose_block, [z.clone() for z in blocks], y.clone()))
        if torch.is_tensor(got) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, numbers.Number) or float(got) != int(got):
            t.fail(f"for {what} the answer should be a block number, a whole number from 1 to {len(blocks)}; "
                   f"got {got!r:.40}.")
        block, best = int(got), max(range(len(blocks)), key=lambda b: fresh[b]) + 1
        t.require(1 <= block <= len(blocks), f"for {what} the answer is {block}: the blocks are numbered 1 to "
                                             f"{len(blocks)} (block 1 reads the image).")
        if block == best:
            continue
        themselves = _scored_on_themselves(blocks, y, classes)
        if block == max(range(len(blocks)), key=lambda b: themselves[b]) + 1:
            t.fail(f"for {what} you chose block {block}. Its class means classify the examples they were built "
                   "from very well, and new images of the same classes badly: each example is part of its own "
                   "class mean. Score the prototypes on examples they were not built from.")
        if block == best - 1:
            t.fail(f"for {what} your answer is one below a good choice: are your blocks numbered from 0? "
                   "Return the number the notebook uses (block 1 reads the image).")
        t.fail(f"for {what} prototypes from block {block} do clearly worse on new images of these classes than "
               "those of another block. Measure each block on labelled examples its prototypes were not built "
               "from, and pick the best.")


@exercise("07.3", "why class means work as prototypes", kind="explain", level=1, minutes=5)
def _why_means(t, my_explanation):
    t.choice(my_explanation, digest("b"), {
        "a": ("the learned prototypes are not the class means (the agreement figure: cosines well below 1), and "
              "with all of B's labels they beat them: the HFF loss also pushes each prototype away from the other "
              "classes, which a mean ignores."),
        "c": ("HFF's prototypes are learned parameters, not means of embeddings, and the random body's class "
              "means also score far above chance: the argument cannot rest on how the body was trained."),
        "d": ("the shots curve rises with k: a mean of a few examples is a noisy estimate of the class's mean, "
              "which is why one shot depends so much on the example drawn (the band)."),
    })


def _scores_case(seed: int, n: int, d: int, classes: int, spread: float):
    """Unit embeddings, and prototypes of very different lengths (Snell's raw class means are shorter the
    less a class clusters): cosine and plain dot product then pick different classes."""
    g = torch.Generator().manual_seed(seed)
    z = _unit(torch.randn(n, d, generator=g))
    y = torch.randint(0, classes, (n,), generator=g)
    p = _unit(torch.randn(classes, d, generator=g)) * spread ** (2 * torch.rand(classes, 1, generator=g) - 1)
    return z, y, p


#: (seed, samples, dimensions, classes, prototype lengths up to x and down to 1/x); the last has unit prototypes
_ACC_CASES = [(741, 300, 8, 5, 5.0), (742, 500, 3, 4, 3.0), (743, 64, 16, 10, 20.0), (744, 100, 6, 3, 1.0)]


@exercise("07.4", "the nearest-prototype accuracy", kind="debug", level=1, minutes=8,
          forbid=["hff_edu.training.transfer.prototype_accuracy", "hff_edu.training.transfer.prototype_correct"])
def _accuracy(t, my_accuracy):
    for seed, n, d, classes, spread in _ACC_CASES:
        z, y, p = _scores_case(seed, n, d, classes, spread)
        what = (f"{n} unit embeddings and {classes} prototypes of lengths {p.norm(dim=1).min():.2g} to "
                f"{p.norm(dim=1).max():.2g}")
        got = t.number(t.call(my_accuracy, z.clone(), y.clone(), p.clone()), f"for {what}, the accuracy")
        t.require(0.0 <= got <= 1.0, f"for {what} the answer is {got:g}: an accuracy is a fraction in [0, 1].")
        expected = float(((z @ _unit(p).T).argmax(1) == y).double().mean())
        dot = float(((z @ p.T).argmax(1) == y).double().mean())
        half = 0.5 / n  # less than one sample: float32 or float64 means both pass
        if abs(got - dot) < half and abs(dot - expected) > half:
            t.fail(f"for {what} your answer is still the buggy one: with prototypes of different lengths "
                   "`z @ prototypes.T` is not the cosine.")
        t.require(abs(got - expected) <= half, f"for {what} the accuracy is not right (off by more than one "
                                               "sample's share).")
