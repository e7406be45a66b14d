"""Exercises of 04_hypersphere_views: predict where a ReLU head can put its points, fix a margin that is
never positive, and measure alignment and uniformity yourself."""
from __future__ import annotations

import math

import torch

from ..exercises import Wrong, digest, exercise

# ----------------------------------------------------------------------------
# 04.1 where can a ReLU head go?

_OCTANT = {
    "octant": (digest("c"), {
        "a": "1/8 is what points spread evenly over the sphere would give. What sign can a coordinate of "
             "ReLU(h) / ||ReLU(h)|| have, whatever the weights?",
        "b": "half would mean one coordinate's sign is free. ReLU sets every negative coordinate to 0, and dividing "
             "by a positive length keeps the signs.",
        "d": "training changes W and b, so it changes where in the octant a point lands, not the sign of ReLU's "
             "output."}),
    "dead": (digest("a"), {
        "b": "a sample with h = 0 has no direction: z = h / (||h|| + eps) is the zero vector, not a point on "
             "the sphere, so it is equally near (cosine 0) to every prototype.",
        "c": "z = 0 gives every class the same score 0; argmax breaks the tie by taking the first class. And "
             "ReLU's slope is 0 where its input is negative, so no gradient reaches the weights.",
        "d": "the loss is not infinite: with every score 0 the softmax is uniform and the loss is log C. The "
             "problem is that its gradient cannot reach the layer's weights through a ReLU that is off."}),
}


@exercise("04.1", "where can a ReLU head go?", kind="predict", level=1, minutes=5)
def _octant(t, my_prediction):
    t.choices(my_prediction, _OCTANT, part="question")


# ----------------------------------------------------------------------------
# 04.2 debug: a margin that is never positive

def _margin(z, p, y):
    s = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(p, dim=1).T
    own = s.gather(1, y[:, None]).squeeze(1)
    return own - s.masked_fill(torch.nn.functional.one_hot(y, p.shape[0]).bool(), float("-inf")).amax(1)


def _margin_cases():
    """Hidden cases: prototypes and embeddings that are not unit length (so a missing normalisation shows),
    samples whose other cosines are all negative (so masking the own class with 0 shows), many classes."""
    g = torch.Generator().manual_seed(4042)
    cases = []
    z = torch.randn(60, 5, generator=g) * 3
    p = torch.randn(6, 5, generator=g) * torch.tensor([[0.2], [1.0], [4.0], [0.5], [2.0], [9.0]])
    cases.append((z, p, torch.randint(6, (60,), generator=g), "60 samples, 6 prototypes of lengths 0.2 to 9"))
    p3 = torch.tensor([[2.0, 0.0, 0.0], [-1.0, 0.1, 0.0], [0.0, -3.0, 0.0], [-0.5, 0.0, -0.5]])
    z3 = torch.tensor([[1.0, 0.2, 0.1], [3.0, 0.5, 0.0], [-1.0, 0.0, 0.0], [0.0, -2.0, 0.1]])
    cases.append((z3, p3, torch.tensor([0, 0, 1, 2]), "4 samples whose other cosines are all negative"))
    z10 = torch.randn(200, 12, generator=g).relu() + 0.01
    p10 = torch.randn(10, 12, generator=g) * 0.3
    cases.append((z10, p10, torch.randint(10, (200,), generator=g), "200 non-negative samples, 10 classes"))
    return cases


@exercise("04.2", "the margin that is never positive", kind="debug", level=2, minutes=10,
          forbid=["hff_edu.core.geometry.prototype_margin"])
def _margin_check(t, my_margin):
    for z, p, y, what in _margin_cases():
        got = t.call(my_margin, z.clone(), p.clone(), y.clone())
        t.require(torch.is_tensor(got), f"for {what} the margin should be a tensor, one value per sample.")
        expected = _margin(z, p, y)
        t.require(got.shape == expected.shape,
                  f"for {what} the margin has shape {tuple(got.shape)}; give one value per sample ({len(y)},).")
        if bool((got <= 1e-9).all()) and bool((expected > 0).any()):
            raise Wrong(f"for {what} no margin is positive, although some samples are nearest their own prototype: "
                        "which classes does the 'best other' cosine range over?")
        raw = z @ p.T
        dots = raw.gather(1, y[:, None]).squeeze(1) - raw.masked_fill(
            torch.nn.functional.one_hot(y, p.shape[0]).bool(), float("-inf")).amax(1)
        if got.shape == dots.shape and torch.allclose(got.double(), dots.double(), rtol=1e-4, atol=1e-5):
            raise Wrong(f"for {what} your margins are differences of dot products, not of cosines: these embeddings "
                        "and prototypes are not unit length.")
        t.close(got, expected, what, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# 04.3 alignment and uniformity, measured yourself

def _pairs(z):
    i, j = torch.triu_indices(len(z), len(z), offset=1)
    return i, j, (z[i] - z[j]).pow(2).sum(1)


def _stats(z, y):
    z = torch.nn.functional.normalize(z.double(), dim=1)
    i, j, d2 = _pairs(z)
    same = y[i] == y[j]
    align = d2[same].mean()
    uniform = torch.logsumexp(-2 * d2, 0) - math.log(len(d2))
    return float(align), float(uniform), float(align / d2.mean())


def _embedding_cases():
    """Hidden embeddings: not unit length, classes of very different sizes, one class with a single sample
    (no same-class pair of its own), and a nearly collapsed cloud."""
    g = torch.Generator().manual_seed(4043)
    centres = torch.randn(4, 6, generator=g)
    sizes = [30, 5, 12, 1]
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    z = centres[y] + 0.4 * torch.randn(len(y), 6, generator=g)
    z = z * (0.5 + 3 * torch.rand(len(y), 1, generator=g))  # lengths 0.5 to 3.5
    collapsed = torch.tensor([1.0, 0.0, 0.0]) + 0.05 * torch.randn(40, 3, generator=g)
    y2 = torch.arange(40) % 3
    return [(z, y, "48 embeddings of lengths 0.5 to 3.5, classes of 30, 5, 12 and 1 samples"),
            (collapsed * 4, y2, "40 embeddings near one direction")]


@exercise("04.3", "alignment and uniformity, measured yourself", kind="compute", level=2, minutes=12,
          forbid=["hff_edu.core.geometry.class_alignment", "hff_edu.core.geometry.alignment",
                  "hff_edu.core.geometry.uniformity", "hff_edu.viz.embedding_views.alignment_uniformity",
                  "hff_edu.viz.embedding_views.spread"])
def _align_uniform(t, my_alignment_uniformity):
    names = ("alignment", "uniformity", "ratio")
    for z, y, what in _embedding_cases():
        got = t.call(my_alignment_uniformity, z.clone(), y.clone())
        t.require(isinstance(got, (tuple, list)) and len(got) == 3,
                  "return three numbers: (alignment, uniformity, ratio).")
        i, j, d2 = _pairs(z.double())
        raw = float(d2[y[i] == y[j]].mean())
        if math.isclose(float(t.number(got[0], "the alignment")), raw, rel_tol=1e-3):
            raise Wrong(f"for {what} the alignment is measured on the raw embeddings: put them on the sphere first "
                        "(these are not unit length).")
        zn = torch.nn.functional.normalize(z.double(), dim=1)
        full = torch.cdist(zn, zn).pow(2)
        if math.isclose(float(got[0]), float(full[y[:, None] == y[None, :]].mean()), rel_tol=1e-3):
            raise Wrong(f"for {what} the alignment counts the pairs of a sample with itself (distance 0): only "
                        "pairs of two distinct samples count.")
        for name, value, expected in zip(names, got, _stats(z, y)):
            t.close(t.number(value, f"the {name}"), expected, f"the {name} of {what}", rtol=1e-3, atol=1e-6)
