"""Forward-Forward (Hinton, 2022): goodness of positive vs negative data, layer by layer.

Read side by side with ``hff.py``: the same four parts (layer, loss, network,
predict), in the same order. Taught in 01_forward_forward.

Notation (the notebooks use the same):

    n(x)   = x / (sqrt(mean(x^2)) + eps)        RMS length normalisation, no mean subtraction
    h      = ReLU(W n(x) + b)                   one layer
    G(h)   = sum_j h_j^2                        goodness
    L      = softplus(theta - G(h_pos)) + softplus(G(h_neg) - theta)
           = -log sigmoid(G_pos - theta) - log sigmoid(theta - G_neg)

Positive data: the input with its true label written into it (one-hot).
Negative data: the same input with a wrong label, drawn uniformly from the
C-1 wrong classes (never the true one), or "hard" from the current softmax.
Each layer's input is detached: no gradient crosses a layer boundary.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import MLPModel, check_positive

EPS = 1e-8


# ----------------------------------------------------------------------------
# 1. input: the label written into the image

def rms_norm(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``n(x) = x / (sqrt(mean(x^2)) + eps)``: keeps the direction, drops the length (the goodness)."""
    return x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + eps)


def overlay_label(x: torch.Tensor, label: torch.Tensor | None, num_classes: int,
                  mode: str = "overwrite", scale: float = 1.0) -> torch.Tensor:
    """Write a one-hot label into flat inputs ``x`` (N, D).

    ``mode="overwrite"`` replaces the first C features (Hinton's choice for
    MNIST, whose top-left pixels are blank border); ``mode="append"`` adds C
    features at the end instead, so small inputs keep every pixel.
    ``label=None`` writes the *neutral* label, 1/C everywhere (one-pass softmax mode).
    ``label`` may be a tensor of shape (N,), or a Python int for the whole batch.
    ``scale`` is the value written for the label (default 1): against standardised
    images of hundreds of pixels a single 1 is a quiet signal after the RMS
    normalisation, and a louder label lets the first layer pick it up sooner.
    """
    n = x.shape[0]
    if label is None:
        code = torch.full((n, num_classes), scale / num_classes, device=x.device, dtype=x.dtype)
    else:
        if isinstance(label, int):
            label = torch.full((n,), label, device=x.device, dtype=torch.long)
        code = F.one_hot(label, num_classes).to(x.dtype) * scale
    if mode == "append":
        return torch.cat([x, code], dim=1)
    if mode == "overwrite":
        return torch.cat([code, x[:, num_classes:]], dim=1)
    raise ValueError(f"Unknown label mode {mode!r}: choose 'overwrite' or 'append'.")


def choose_label_mode(x: torch.Tensor, num_classes: int, tol: float = 1e-6) -> str:
    """``"overwrite"`` when the first C input features are a blank border (constant
    over the data, as in MNIST), else ``"append"`` so that no pixel is lost."""
    first = x.reshape(x.shape[0], -1)[:, :num_classes]
    blank = bool((first.max(dim=0).values - first.min(dim=0).values).max() <= tol)
    return "overwrite" if blank else "append"


def wrong_labels(y: torch.Tensor, num_classes: int, generator=None,
                 probs: torch.Tensor | None = None) -> torch.Tensor:
    """A wrong label for every sample: uniform over the C-1 wrong classes, or
    proportional to ``probs`` (hard negatives) with the true class masked out."""
    if probs is None:
        # Shift by 1..C-1 modulo C: uniform over the wrong classes, never the true one.
        shift = torch.randint(1, num_classes, y.shape, device=y.device, generator=generator)
        return (y + shift) % num_classes
    p = probs.detach().clone()
    p.scatter_(1, y[:, None], 0.0)
    p = p + 1e-12 * (1 - F.one_hot(y, num_classes).to(p))  # never all-zero rows
    return torch.multinomial(p, 1, generator=generator).squeeze(1)


# ----------------------------------------------------------------------------
# 2. layer and loss

class FFLayer(nn.Module):
    """``h = ReLU(W n(x) + b)``; its goodness ``G(h) = sum_j h_j^2``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(rms_norm(x)))


def goodness(h: torch.Tensor) -> torch.Tensor:
    """``G(h) = sum_j h_j^2`` per sample."""
    return h.pow(2).sum(dim=1)


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float) -> torch.Tensor:
    """``softplus(theta - G_pos) + softplus(G_neg - theta)``, averaged over the batch.

    Equal to the logistic negative log-likelihood ``-log sigmoid(G_pos - theta)
    - log sigmoid(theta - G_neg)`` of "positive" for p(positive) = sigmoid(G - theta).
    """
    return F.softplus(theta - g_pos).mean() + F.softplus(g_neg - theta).mean()


class StreamedHeadCE(torch.autograd.Function):
    """Cross-entropy of FF's linear softmax head, recomputing its input in backward.

    The head reads the concatenated features ``[n(h_2), ..., n(h_L)]`` of the
    neutral pass, detached. Autograd would keep all of them until backward, so
    FF's memory would grow with depth although every layer trains locally.
    Here forward keeps only the logits (N x C); backward reruns the neutral
    pass (no grad) and adds ``g^T n(h_l)`` to the head's weight gradient one
    layer at a time, with ``g = (softmax - onehot) / N``. The price is one more
    neutral forward pass per step; the gradient is the same (tested).

    ``features()`` must return a fresh iterator over the feature blocks, in
    the order of the weight's columns. Returns ``(loss, logits)``; the logits
    carry no gradient (used for hard negatives).
    """

    @staticmethod
    def forward(ctx, weight, bias, features, y):
        logits = bias.expand(y.shape[0], -1).clone()
        start = 0
        for f in features():
            logits += f @ weight[:, start:start + f.shape[1]].T
            start += f.shape[1]
        if start != weight.shape[1]:
            raise ValueError(f"The head expects {weight.shape[1]} features but got {start}.")
        ctx.features = features
        ctx.save_for_backward(weight, logits, y)
        ctx.mark_non_differentiable(logits)
        return F.cross_entropy(logits, y), logits

    @staticmethod
    def backward(ctx, grad_loss, _grad_logits):
        weight, logits, y = ctx.saved_tensors
        g = logits.softmax(1)
        g[torch.arange(y.shape[0], device=y.device), y] -= 1
        g *= grad_loss / y.shape[0]
        blocks = [g.T @ f for f in ctx.features()]
        return torch.cat(blocks, dim=1), g.sum(0), None, None


# ----------------------------------------------------------------------------
# 3. network

class FFNet(MLPModel):
    """A Forward-Forward MLP with both prediction modes.

    Args:
        in_features: flattened input size.
        widths: hidden layer widths, e.g. ``[1000, 1000, 1000]``.
        num_classes: C.
        theta: goodness threshold per layer; ``None`` = the layer width (mean-square 1,
            the spec's default). A default layer starts near G = width/6, so a lower
            threshold (e.g. 0.1 x width) trains the deeper layers much sooner.
        label_mode: ``"append"`` C inputs (the default: no pixel is lost) or
            ``"overwrite"`` the first C inputs (Hinton's choice for MNIST, whose
            top-left pixels are blank border). :func:`choose_label_mode` decides from
            the data; ``models.build`` uses it.
        label_scale: value written for the one-hot label (see :func:`overlay_label`).
        negatives: ``"uniform"`` wrong labels or ``"hard"`` (from the current softmax).
        predict_mode: default mode of :meth:`predict`: ``"goodness"`` (C passes) or ``"softmax"`` (1 pass).
        seed: initialisation seed.
    """

    def __init__(self, in_features: int, widths, num_classes: int, theta: float | None = None,
                 label_mode: str = "append", label_scale: float = 1.0, negatives: str = "uniform",
                 predict_mode: str = "goodness", seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(
            theta=theta, label_mode=label_mode, label_scale=label_scale, negatives=negatives,
            predict_mode=predict_mode, seed=seed))
        if label_mode not in ("overwrite", "append"):
            raise ValueError(f"Unknown label_mode {label_mode!r}: choose 'append' or 'overwrite'.")
        if label_mode == "overwrite" and in_features <= num_classes:
            raise ValueError(f"Cannot overwrite {num_classes} label positions of a {in_features}-feature "
                             "input: use label_mode='append'.")
        if negatives not in ("uniform", "hard"):
            raise ValueError(f"Unknown negatives {negatives!r}: choose 'uniform' or 'hard'.")
        self.label_mode = label_mode
        self.label_scale = check_positive("label_scale", label_scale)
        self.negatives = negatives
        self.predict_mode = _check_mode(predict_mode)
        self.thetas = [check_positive("theta", theta) if theta is not None else float(w)
                       for w in self.widths]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            first = in_features + (num_classes if label_mode == "append" else 0)
            sizes = [first] + self.widths
            self.layers = nn.ModuleList(FFLayer(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            # One-pass softmax head on the normalised activities of layers >= 2.
            self.head = nn.Linear(sum(self.widths[self._first_scored:]), num_classes)

    @property
    def _first_scored(self) -> int:
        """Index of the first layer whose goodness counts: layer 2 when there are two or more."""
        return 1 if len(self.widths) > 1 else 0

    @property
    def passes_per_prediction(self) -> int:
        return self.num_classes if self.predict_mode == "goodness" else 1

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names + ["softmax head"]

    def activities(self, x: torch.Tensor, label, detach: bool = True) -> list[torch.Tensor]:
        """One forward pass with ``label`` overlaid; returns every layer's ``h``.

        Inputs to each layer are detached (``detach=True``), so a loss on layer
        l can only change layer l.
        """
        a = overlay_label(x, label, self.num_classes, self.label_mode, self.label_scale)
        hs = []
        for layer in self.layers:
            a = layer(a.detach() if detach else a)
            hs.append(a)
        return hs

    def embeddings(self, x: torch.Tensor, label=None) -> list[torch.Tensor]:
        """Per-layer directions ``n(h)`` (neutral label by default), for visualisation."""
        with torch.no_grad():
            return [rms_norm(h) for h in self.activities(self.flat_input(x), label)]

    # -- training --------------------------------------------------------------
    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-layer FF losses on a positive and a negative pass, then the softmax head's loss.

        Yielded layer by layer: the positive and negative passes advance one
        layer at a time on detached inputs. The head's loss keeps no layer's
        features (see :class:`StreamedHeadCE`), so peak memory stays flat in depth.
        """
        x = self.flat_input(x)
        y = self.check_labels(y, x.shape[0])
        head_loss, head_logits = StreamedHeadCE.apply(
            self.head.weight, self.head.bias, lambda: self._iter_head_features(x), y)
        probs = head_logits.softmax(1) if self.negatives == "hard" else None
        y_neg = wrong_labels(y, self.num_classes, generator, probs)
        pos = overlay_label(x, y, self.num_classes, self.label_mode, self.label_scale)
        neg = overlay_label(x, y_neg, self.num_classes, self.label_mode, self.label_scale)
        for layer, theta in zip(self.layers, self.thetas):
            pos, neg = layer(pos.detach()), layer(neg.detach())
            yield ff_loss(goodness(pos), goodness(neg), theta)
        yield head_loss

    def _iter_head_features(self, x: torch.Tensor):
        """The head's input, one layer's block at a time: ``n(h_l)`` of the neutral pass, l >= 2."""
        a = overlay_label(x, None, self.num_classes, self.label_mode, self.label_scale)
        for i, layer in enumerate(self.layers):
            a = layer(a)
            if i >= self._first_scored:
                yield rms_norm(a)

    def _head_features(self, hs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([rms_norm(h) for h in hs[self._first_scored:]], dim=1)

    # -- prediction ------------------------------------------------------------
    @torch.no_grad()
    def goodness_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, C): goodness of every layer for every candidate label (C forward passes)."""
        x = self.flat_input(x)
        per_label = [torch.stack([goodness(h) for h in self.activities(x, c)], dim=1)
                     for c in range(self.num_classes)]
        return torch.stack(per_label, dim=2)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        """``goodness``: argmax_c of the summed goodness of layers >= 2 over C passes;
        ``softmax``: the linear head on one pass with the neutral label."""
        mode = _check_mode(mode or self.predict_mode)
        if mode == "softmax":
            hs = self.activities(self.flat_input(x), None)
            return self.head(self._head_features(hs)).argmax(1)
        return self.goodness_scores(x)[:, self._first_scored:].sum(1).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own goodness argmax over the C labels."""
        g = self.goodness_scores(x)
        return [g[:, i].argmax(1) for i in range(self.num_layers)]

    @torch.no_grad()
    def predict_and_layers(self, x: torch.Tensor):
        """Goodness-mode prediction and per-layer predictions from the same C passes."""
        if self.predict_mode == "softmax":
            return self.predict(x), self.layer_predictions(x)
        g = self.goodness_scores(x)
        return g[:, self._first_scored:].sum(1).argmax(1), [g[:, i].argmax(1) for i in range(self.num_layers)]


def _check_mode(mode: str) -> str:
    if mode not in ("goodness", "softmax"):
        raise ValueError(f"Unknown FF prediction mode {mode!r}: choose 'goodness' or 'softmax'.")
    return mode


def __getattr__(name: str):
    # The convolutional versions live in hff_edu.conv (imported on first use).
    if name in ('FFConvNet',):
        from . import conv
        return getattr(conv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
