"""Reusing a trained body on new classes: only the prototypes change. Taught in 07_transfer_and_prototypes.

An HFF network's block l maps an input to a point ``z_l`` on the unit sphere and
classifies it by its nearest prototype. To move to new classes we can freeze
the body (every block and AuxConv/linear layer) and give each new class a
prototype, in one of two ways:

- *class means* (few-shot, no training): ``p_c = normalise(mean of z_l over the
  shots of class c)``, from 1 to a few labelled examples per class;
- *learned* prototypes: fit only the prototypes with the HFF loss
  ``cross_entropy(S / tau, y)`` on frozen embeddings (``fit_prototypes_only``).

Works with every model that has ``embeddings(x)`` (HFF, FF, BP, local-CE; MLP
or conv); embeddings that are not unit length are normalised first.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch

from ..core.data import DataBundle, Split
from ..core.geometry import init_prototypes, normalise
from ..methods.hff import default_tau, hff_loss


# ----------------------------------------------------------------------------
# data: class splits and few-shot samples

def split_classes(ds: DataBundle, classes: Sequence[int], name: str | None = None) -> DataBundle:
    """The part of ``ds`` holding only ``classes``, relabelled 0..k-1 in the given order.

    The inputs keep ``ds``'s standardisation (nothing is recomputed), so a body
    trained on one part sees the other part on the same scale.
    """
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes={classes}: give at least 2 distinct class indices.")
    bad = [c for c in classes if not 0 <= c < ds.num_classes]
    if bad:
        raise ValueError(f"classes {bad} are not in {ds.name} (classes 0..{ds.num_classes - 1}).")
    lut = torch.full((ds.num_classes,), -1, dtype=torch.long)
    lut[classes] = torch.arange(len(classes))

    def part(split: Split | None) -> Split | None:
        if split is None:
            return None
        keep = lut[split.y.cpu()] >= 0
        return Split(split.x[keep.to(split.x.device)], lut[split.y.cpu()][keep].to(split.y.device))

    # The same statistics, mode and source: only the classes change (dataclasses.replace keeps the rest).
    return replace(ds, name=name or f"{ds.name}[{','.join(map(str, classes))}]", train=part(ds.train),
                   test=part(ds.test), val=part(ds.val), num_classes=len(classes),
                   class_names=tuple(ds.class_names[c] for c in classes))


def few_shot(split: Split, shots: int, num_classes: int | None = None, seed: int = 0) -> Split:
    """``shots`` random examples of every class of ``split`` (an error if a class has fewer)."""
    if int(shots) != shots or shots < 1:
        raise ValueError(f"shots={shots}: give a positive number of examples per class.")
    y = split.y.cpu()
    num_classes = num_classes or int(y.max()) + 1
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(num_classes):
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < shots:
            raise ValueError(f"Class {c} has only {len(idx)} examples but shots={shots}: lower shots.")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:shots]])
    pick = torch.cat(picks).to(split.x.device)
    return Split(split.x[pick], split.y[pick])


# ----------------------------------------------------------------------------
# frozen features

@torch.no_grad()
def frozen_embeddings(model, x: torch.Tensor, layer: int = -1, batch_size: int = 1000) -> torch.Tensor:
    """Unit-norm embeddings ``z_layer`` (N, d) of a frozen model, in eval mode, on the CPU."""
    was = model.training
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch_size):
        zs = model.embeddings(x[i:i + batch_size].to(model.device))
        if not -len(zs) <= layer < len(zs):
            raise ValueError(f"layer={layer} but the model has {len(zs)} layers/blocks (0..{len(zs) - 1}, or -1 for the last).")
        out.append(normalise(zs[layer].float()).cpu())
    model.train(was)
    return torch.cat(out)


def class_mean_prototypes(model, x: torch.Tensor, y: torch.Tensor, layer: int = -1,
                          num_classes: int | None = None) -> torch.Tensor:
    """Few-shot prototypes ``p_c = normalise(mean_{i: y_i = c} z_i)``, shape (C, d), unit rows.

    ``model`` may also be a tensor of precomputed embeddings (N, d) in place of a model.
    """
    z = x if model is None else frozen_embeddings(model, x, layer)
    return mean_prototypes(z, y, num_classes)


def mean_prototypes(z: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """``normalise(mean of normalise(z) per class)``: (C, d) from embeddings (N, d) and labels (N,)."""
    y = torch.as_tensor(y).cpu().long()
    z = normalise(z.float().cpu())
    num_classes = num_classes or int(y.max()) + 1
    missing = [c for c in range(num_classes) if not (y == c).any()]
    if missing:
        raise ValueError(f"No example of class(es) {missing}: every class needs at least one shot.")
    sums = torch.zeros(num_classes, z.shape[1]).index_add_(0, y, z)
    return normalise(sums)


def prototype_correct(z: torch.Tensor, y: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Right or wrong per sample (bool) of the nearest prototype, argmax_c <z, p_c> (cosine), against ``y``.

    ``prototypes`` is (C, d) or (C, K, d) (then the best of a class's K counts). Paired comparisons
    of two prototype sets on the same test samples (``stats.mcnemar``) start from this.
    """
    p = normalise(prototypes.float().cpu())
    if p.dim() == 3:
        scores = torch.einsum("nd,ckd->nck", normalise(z.float().cpu()), p).amax(2)
    else:
        scores = normalise(z.float().cpu()) @ p.T
    return scores.argmax(1) == torch.as_tensor(y).cpu()


def prototype_accuracy(z: torch.Tensor, y: torch.Tensor, prototypes: torch.Tensor) -> float:
    """Nearest-prototype accuracy: the mean of :func:`prototype_correct`."""
    return float(prototype_correct(z, y, prototypes).float().mean())


def fit_prototypes_only(z: torch.Tensor, y: torch.Tensor, num_classes: int | None = None,
                        epochs: int = 100, lr: float = 0.05, tau: float | None = None,
                        init: str | torch.Tensor = "etf", seed: int = 0,
                        batch_size: int | None = None) -> torch.Tensor:
    """Learn C new prototypes on frozen embeddings ``z`` (N, d): the HFF loss, nothing else trains.

    Minimises ``cross_entropy(<z, p_hat>/tau, y)`` over the raw prototypes with
    Adam (full batch unless ``batch_size``); ``init`` is ``"etf"``, ``"random"``,
    ``"separated"`` or a (C, d) tensor (e.g. class means, to start from them).
    Returns the learned unit prototypes (C, d). Cheap: the body never runs here.
    """
    y = torch.as_tensor(y).cpu().long()
    z = normalise(z.float().cpu())
    num_classes = num_classes or int(y.max()) + 1
    tau = tau if tau is not None else default_tau(num_classes)
    if torch.is_tensor(init):
        raw = init.detach().float().cpu().reshape(num_classes, -1).clone()
    else:
        raw = init_prototypes(num_classes, 1, z.shape[1], init, seed).reshape(num_classes, -1)
    raw.requires_grad_(True)
    opt = torch.optim.Adam([raw], lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = z.shape[0]
    bs = batch_size or n
    for _ in range(int(epochs)):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            hff_loss(z[idx] @ normalise(raw).T, y[idx], tau).backward()
            opt.step()
    return normalise(raw.detach())


# ----------------------------------------------------------------------------
# a shots curve

def shots_curve(model, train: Split, test: Split, shots: Sequence[int], layer: int = -1,
                repeats: int = 3, num_classes: int | None = None, learn: bool = True,
                learn_epochs: int = 100, seed: int = 0) -> dict:
    """Test accuracy of class-mean (and learned) prototypes vs the number of shots per class.

    For each ``shots`` value, ``repeats`` random draws of the few-shot examples
    from ``train``; embeddings of the frozen ``model`` at ``layer``. Returns
    ``dict(shots, mean=(S, R) accuracies, learned=(S, R) or None)``, plus ``all``:
    the class-mean accuracy with every training example, and ``mean_per_sample`` (S, N): for
    every test sample, the share of the R draws whose class means got it right (what a paired
    comparison of two shot counts needs; ``learned_per_sample`` likewise for learned prototypes). Learned prototypes start from ETF and fit only on
    the shots (the same examples as the means).
    """
    num_classes = num_classes or int(train.y.max()) + 1
    z_train = frozen_embeddings(model, train.x, layer)
    z_test = frozen_embeddings(model, test.x, layer)
    y_train, y_test = train.y.cpu(), test.y.cpu()
    mean_acc = torch.zeros(len(shots), repeats)
    learned_acc = torch.zeros(len(shots), repeats) if learn else None
    per_sample = torch.zeros(len(shots), len(y_test), dtype=torch.float64)
    learned_per_sample = torch.zeros_like(per_sample) if learn else None
    for i, k in enumerate(shots):
        for r in range(repeats):
            pick = few_shot(Split(torch.arange(len(y_train))[:, None], y_train), k, num_classes,
                            seed + 1000 * r + k).x.flatten()
            zs, ys = z_train[pick], y_train[pick]
            right = prototype_correct(z_test, y_test, mean_prototypes(zs, ys, num_classes))
            per_sample[i] += right.double() / repeats
            mean_acc[i, r] = float(right.float().mean())
            if learn:
                p = fit_prototypes_only(zs, ys, num_classes, epochs=learn_epochs, seed=seed + r)
                right = prototype_correct(z_test, y_test, p)
                learned_per_sample[i] += right.double() / repeats
                learned_acc[i, r] = float(right.float().mean())
    full = prototype_accuracy(z_test, y_test, mean_prototypes(z_train, y_train, num_classes))
    return dict(shots=list(shots), mean=mean_acc, learned=learned_acc, all=full, mean_per_sample=per_sample,
                learned_per_sample=learned_per_sample)
