"""Forward-Forward (Hinton, 2022), MLP and conv: goodness of positive vs negative data, layer by layer.

Read side by side with ``hff.py``: the same six parts in the same order
(input, layer/block, loss, MLP network, conv network, predict). Taught in
01_forward_forward (MLP) and 06_convolutional_hff (conv).

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

The conv version [ours where the paper is silent]: the label enters as C extra
constant input planes, a block's goodness is the sum over channels of its mean
square activity, BatchNorm sees positive and negative data together, and
prediction still tries every label (C forward passes).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.blocks import ConvModel, gap
from ..core.palette import ORANGE
from ..core.protocol import MLPModel, check_bool, check_choice, check_positive, tracing
from .spec import MethodSpec, Option, Readout

EPS = 1e-8


# ----------------------------------------------------------------------------
# 1. input: the label written into the data

def rms_norm(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``n(x) = x / (sqrt(mean(x^2)) + eps)``: keeps the direction, drops the length (the goodness)."""
    return x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + eps)


def rms_norm_image(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``n(x) = x / sqrt(mean_{c,h,w} x^2)`` per sample: the next block cannot read the goodness."""
    return x / (x.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + eps)


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
        code = F.one_hot(_label_tensor(label, n, num_classes, x.device), num_classes).to(x.dtype) * scale
    if mode == "append":
        return torch.cat([x, code], dim=1)
    if mode == "overwrite":
        return torch.cat([code, x[:, num_classes:]], dim=1)
    raise ValueError(f"Unknown label mode {mode!r}: choose 'overwrite' or 'append'.")


def _label_tensor(label, n: int, num_classes: int, device) -> torch.Tensor:
    """``label`` (an int for the whole batch, or one class index per sample) as a long tensor of
    ``n`` classes, each checked to lie in ``[0, num_classes)``."""
    if not torch.is_tensor(label):
        if isinstance(label, bool) or not hasattr(label, "__index__"):
            raise ValueError(f"label is a {type(label).__name__}: give a class index (an int for the whole "
                             f"batch, or a tensor of {n} class indices), or None for the neutral label.")
        label = torch.full((n,), label.__index__(), device=device, dtype=torch.long)
    if label.dtype.is_floating_point or label.dtype == torch.bool:
        raise ValueError(f"label has dtype {label.dtype}: give integer class indices (torch.long).")
    if label.numel() and not tracing() and (int(label.min()) < 0 or int(label.max()) >= num_classes):
        raise ValueError(f"label {int(label.min()) if int(label.min()) < 0 else int(label.max())} is not a "
                         f"class: this model has {num_classes} classes, labelled 0 to {num_classes - 1}.")
    return label.long()


def label_planes(x: torch.Tensor, label, num_classes: int, mode: str = "channels") -> torch.Tensor:
    """Write a label into images ``x`` (N, c, H, W): the conv version of :func:`overlay_label`.

    ``mode="channels"`` appends C constant planes, plane c equal to 1 for label c
    (0 elsewhere); ``mode="overlay"`` overwrites the first C pixels of the top
    row of every channel with the one-hot code (Hinton's MNIST trick, in 2-D).
    ``label=None`` gives the neutral label (1/C everywhere); an int labels the whole
    batch; a float tensor (N, C) is used as the code itself.
    """
    n, _, h, w = x.shape
    if label is None:
        code = torch.full((n, num_classes), 1.0 / num_classes, device=x.device, dtype=x.dtype)
    elif torch.is_tensor(label) and label.dim() == 2:  # a ready-made code (N, C)
        code = label.to(x.dtype)
    else:
        code = F.one_hot(_label_tensor(label, n, num_classes, x.device), num_classes).to(x.dtype)
    if mode == "channels":
        return torch.cat([x, code[:, :, None, None].expand(n, num_classes, h, w)], dim=1)
    if mode == "overlay":
        out = x.clone()
        out[:, :, 0, :num_classes] = code[:, None, :]
        return out
    raise ValueError(f"Unknown label_mode {mode!r}: choose 'channels' or 'overlay'.")


def choose_label_mode(x: torch.Tensor, num_classes: int, tol: float = 1e-6) -> str:
    """``"overwrite"`` when the first C input features are a blank border (constant
    over the data, as in MNIST), else ``"append"`` so that no pixel is lost."""
    first = x.reshape(x.shape[0], -1)[:, :num_classes]
    blank = bool((first.max(dim=0).values - first.min(dim=0).values).max() <= tol)
    return "overwrite" if blank else "append"


def skip_wrong_labels(model, generator, n: int) -> None:
    """Draw from ``generator`` what :func:`wrong_labels` draws for ``n`` samples (and throw it away)."""
    if n <= 0:
        return
    c, dev = model.num_classes, generator.device
    if model.negatives == "uniform":
        torch.randint(1, c, (n,), device=dev, generator=generator)
    else:
        torch.multinomial(torch.ones(n, c, device=dev), 1, generator=generator)


def hard_negatives_refusal(model) -> str | None:
    """Why ``model`` cannot be pipelined: hard negatives need a pass through every stage first."""
    if model.negatives != "hard":
        return None
    return (f"{type(model).__name__} with negatives='hard' cannot be pipelined: its negative labels come from "
            "the softmax head's prediction, which needs a pass through every stage before the first layer may "
            "run on the batch (a forward lock). Use negatives='uniform', or data parallelism "
            "(parallel.data_parallel_fit).")


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
# 2. layer and block, and their goodness

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


def conv_goodness(a: torch.Tensor, kind: str = "sum") -> torch.Tensor:
    """Goodness of a feature map per sample: ``sum_c mean_{h,w} a^2`` (``"sum"``, the MLP's
    sum over units with one unit per channel) or ``mean_{c,h,w} a^2`` (``"mean"``)."""
    sq = a.pow(2).mean(dim=(2, 3))
    return sq.mean(1) if kind == "mean" else sq.sum(1)


# ----------------------------------------------------------------------------
# 3. loss

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
# 4. MLP network

#: The MLP defaults [ours], tuned on Fashion-MNIST's validation split (3x500, 30 Optuna TPE trials
#: of 5 epochs on 20000 samples, the same budget as every other method; benchmarks/tune.py, its study
#: in benchmarks/results/tune_fashion-mnist.journal): best trial lr 6.9e-4, threshold 0.081 x width,
#: label value 27.6, hard negatives, goodness summed over every layer -> 86.96 % validation accuracy,
#: against 75.41 % in the same readout (81.88 % in their best, softmax) for the previous defaults
#: (threshold = width, label value 1, uniform negatives).
THETA_PER_UNIT = 0.08
#: The label's share of the input [ours]: the one-hot label is written with the value
#: sqrt(LABEL_ENERGY x D / C), so that its energy (one input at that value: value^2 = LABEL_ENERGY x D / C)
#: is LABEL_ENERGY / C times that of D standardised features (energy D), whatever D is. On Fashion-MNIST (D = 784, C = 10)
#: this is the tuned label value 28 (27.6 in the study); on a 4-feature table a fixed 28 would drown
#: the features (iris: 83 % against 97.8 % for logistic regression, benchmarks/tabular.py).
LABEL_ENERGY = 10.0


def default_label_scale(in_features: int, num_classes: int) -> float:
    """The label value :class:`FFNet` writes by default: ``sqrt(LABEL_ENERGY * D / C)`` (28 for 784 x 10)."""
    return math.sqrt(LABEL_ENERGY * in_features / num_classes)


class FFNet(MLPModel):
    """A Forward-Forward MLP with both prediction modes.

    Args:
        in_features: flattened input size.
        widths: hidden layer widths, e.g. ``[1000, 1000, 1000]``.
        num_classes: C.
        theta: goodness threshold per layer; ``None`` = :data:`THETA_PER_UNIT` x the layer
            width [ours: tuned on the validation split, ``benchmarks/tune.py``]. The layer
            width itself (mean square 1, Hinton's code) is the classic choice: pass
            ``theta=width``; a default layer starts near G = width/6, so with it the deeper
            layers train only after many epochs.
        label_mode: ``"append"`` C inputs (the default: no pixel is lost) or
            ``"overwrite"`` the first C inputs (Hinton's choice for MNIST, whose
            top-left pixels are blank border). :func:`choose_label_mode` decides from
            the data; ``models.build`` uses it.
        label_scale: value written for the one-hot label (see :func:`overlay_label`);
            ``None`` = :func:`default_label_scale`, ``sqrt(10 D / C)``: 28 on Fashion-MNIST
            [ours: tuned there, scaled with the input so the label's share of the input is
            the same on any data; Hinton's code writes 1]. A loud label keeps the label from
            drowning in a standardised image's 784 inputs.
        negatives: ``"uniform"`` wrong labels or ``"hard"`` (from the current softmax; the
            default [ours: tuned, +1-3 points on the validation split at the same budget]).
        predict_mode: default mode of :meth:`predict`: ``"goodness"`` (C passes) or ``"softmax"`` (1 pass).
            With the tuned defaults use goodness: on Fashion-MNIST (3x500) the one-pass softmax
            readout fell from 84 % after 5 epochs to 71 % after 20 (benchmarks/results/accuracy_*).
        sum_skip_first: ``True`` sums the goodness of layers >= 2 only (Hinton's choice);
            the default ``False`` sums every layer's [ours: tuned; in every one of the eight
            best trials every layer's sum scored 0.9-1.6 points higher on the validation split].
        seed: initialisation seed.
    """

    def __init__(self, in_features: int, widths, num_classes: int, theta: float | None = None,
                 label_mode: str = "append", label_scale: float | None = None, negatives: str = "hard",
                 predict_mode: str = "goodness", sum_skip_first: bool = False, seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(
            theta=theta, label_mode=label_mode, label_scale=label_scale, negatives=negatives,
            predict_mode=predict_mode, sum_skip_first=sum_skip_first, seed=seed))
        check_choice("label_mode", label_mode, ("append", "overwrite"))
        if label_mode == "overwrite" and in_features <= num_classes:
            raise ValueError(f"Cannot overwrite {num_classes} label positions of a {in_features}-feature "
                             "input: use label_mode='append'.")
        self.label_mode = label_mode
        self.label_scale = check_positive(
            "label_scale", label_scale if label_scale is not None else default_label_scale(in_features, num_classes),
            "It is the value written for the label; None scales it with the input (28 for 784 features and 10 "
            "classes, tuned), Hinton's code writes 1.")
        self.negatives = check_negatives(negatives)
        self.predict_mode = check_mode(predict_mode)
        self.sum_skip_first = check_bool("sum_skip_first", sum_skip_first)
        self.thetas = [check_positive("theta", theta, THETA_HINT) if theta is not None
                       else THETA_PER_UNIT * w for w in self.widths]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            first = in_features + (num_classes if label_mode == "append" else 0)
            sizes = [first] + self.widths
            self.layers = nn.ModuleList(FFLayer(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            # One-pass softmax head on the normalised activities of layers >= 2.
            self.head = nn.Linear(sum(self.widths[self.first_scored:]), num_classes)

    @property
    def first_scored(self) -> int:
        """Index of the first layer whose goodness counts: layer 2 when there are two or more."""
        return first_scored(self.num_layers)

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

    def layer_goodness(self, h: torch.Tensor) -> torch.Tensor:
        """``G(h)`` of one layer's activity, per sample."""
        return goodness(h)

    def head_vector(self, h: torch.Tensor) -> torch.Tensor:
        """What the softmax head (and a visualisation) reads of a layer: its direction ``n(h)``."""
        return rms_norm(h)

    def embeddings(self, x: torch.Tensor, label=None) -> list[torch.Tensor]:
        """Per-layer directions (``head_vector``; neutral label by default), for visualisation."""
        with torch.no_grad():
            return [self.head_vector(h) for h in self.activities(self.model_input(x), label)]

    def head_features(self, hs: list[torch.Tensor]) -> torch.Tensor:
        """The softmax head's input: the directions of layers >= 2, concatenated."""
        return torch.cat([self.head_vector(h) for h in hs[self.first_scored:]], dim=1)

    # -- training: the protocol's iter_losses steps through these ---------------------------------
    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The state: positive data (true label written in), negative data (a wrong label) and the labels.

        Hard negatives need the softmax head's prediction first, so in one process the head's loss
        is computed here, streamed (:class:`StreamedHeadCE`: no layer's features are kept, peak
        memory stays flat in depth). ``carry=True`` (pipeline stages) carries the neutral pass
        forward instead, layer by layer, and ``end`` scores the head on the features it gathered.
        """
        x = self.model_input(x)
        y = self.check_labels(y, x.shape[0])
        state = {"y": y}
        if carry:
            state["neu"] = overlay_label(x, None, self.num_classes, self.label_mode, self.label_scale)
            probs = None  # hard negatives cannot be pipelined (pipeline_refusal)
        else:
            state["head"], logits = StreamedHeadCE.apply(
                self.head.weight, self.head.bias, lambda: self._iter_head_features(x), y)
            probs = logits.softmax(1) if self.negatives == "hard" else None
        y_neg = wrong_labels(y, self.num_classes, generator, probs)
        state["pos"] = overlay_label(x, y, self.num_classes, self.label_mode, self.label_scale)
        state["neg"] = overlay_label(x, y_neg, self.num_classes, self.label_mode, self.label_scale)
        return state

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Layer i on the detached positive and negative data: ``ff_loss(G(h_pos), G(h_neg), theta_i)``."""
        layer = self.layers[i]
        state["pos"], state["neg"] = layer(state["pos"].detach()), layer(state["neg"].detach())
        if "neu" in state:  # carried: the head's neutral pass, no gradient
            with torch.no_grad():
                state["neu"] = layer(state["neu"])
                if i >= self.first_scored:
                    state[f"f{i}"] = rms_norm(state["neu"])
        return self._loss(goodness(state["pos"]), goodness(state["neg"]), self.thetas[i])

    def _loss(self, g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float) -> torch.Tensor:
        """The layer's loss on the goodness of its positive and negative data (SymBa overrides it)."""
        return ff_loss(g_pos, g_neg, theta)

    @staticmethod
    def data_defaults(x: torch.Tensor, num_classes: int) -> dict:
        """What ``methods.build`` chooses from the data: the label overlay (the first C inputs only
        where they are a blank border, as in MNIST; else appended)."""
        return {"label_mode": choose_label_mode(x, num_classes)}

    def end(self, state: dict) -> list[torch.Tensor]:
        """The softmax head's loss: computed in ``begin`` in one process, else from the carried features."""
        if "head" in state:
            return [state["head"]]
        feats = [state[f"f{i}"] for i in range(self.first_scored, self.num_layers)]
        return [StreamedHeadCE.apply(self.head.weight, self.head.bias, lambda: iter(feats), state["y"])[0]]

    def unit_modules(self, i: int) -> list[str]:
        return [f"layers.{i}"]

    extra_modules = ("head",)

    def pipeline_refusal(self) -> str | None:
        return hard_negatives_refusal(self)

    def skip_draws(self, generator, n: int) -> None:
        skip_wrong_labels(self, generator, n)

    def _iter_head_features(self, x: torch.Tensor):
        """The head's input, one layer's block at a time: ``n(h_l)`` of the neutral pass, l >= 2."""
        a = overlay_label(x, None, self.num_classes, self.label_mode, self.label_scale)
        for i, layer in enumerate(self.layers):
            a = layer(a)
            if i >= self.first_scored:
                yield rms_norm(a)

    # -- prediction: section 6, shared with FFConvNet ---------------------------
    def goodness_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, C): goodness of every layer for every candidate label (C forward passes)."""
        return goodness_scores(self, x)

    def predict(self, x: torch.Tensor, mode: str | None = None, skip_first: bool | None = None) -> torch.Tensor:
        """``goodness``: argmax_c of the summed goodness of layers >= 2 (every layer when
        ``skip_first`` is False; default: the model's ``sum_skip_first``) over C passes;
        ``softmax``: the linear head on one pass with the neutral label."""
        return predict(self, x, mode, skip_first)

    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own goodness argmax over the C labels."""
        return layer_predictions(self, goodness_scores(self, x))

    def predict_and_layers(self, x: torch.Tensor):
        """The prediction and every layer's, from the same C passes in goodness mode."""
        return predict_and_layers(self, x)


# ----------------------------------------------------------------------------
# 5. conv network

class FFConvNet(ConvModel):
    """Forward-Forward CNN: the label is C extra input planes; goodness per block.

    Training runs positive (true label), negative (wrong label) and neutral
    (label 1/C) images through each block as one batch: BatchNorm statistics
    then mix positive and negative data [ours]. Normalising them apart would
    give both the same mean square and erase the goodness difference FF learns.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        channels: block widths, e.g. ``[64, 128, 256]``.
        num_classes: C.
        theta: goodness threshold; ``None`` = c_l for ``goodness="sum"`` (mean square 1
            per channel, like the MLP's theta = width), 1 for ``"mean"``.
        label_mode: ``"channels"`` (C one-hot planes) or ``"overlay"`` (top-row pixels).
        goodness: ``"sum"`` (sum over channels of the spatial mean square, the default [ours])
            or ``"mean"`` (mean over channels too: gradients c_l times weaker, slow to learn).
        negatives: ``"uniform"`` wrong labels or ``"hard"`` (from the current softmax head).
        predict_mode: ``"goodness"`` (C passes) or ``"softmax"`` (one neutral pass + linear head).
        sum_skip_first: as :class:`FFNet`; here ``True`` (Hinton's choice: the conv defaults are not tuned yet).
        label_every_block: also append the C label planes to every block's input [ours]:
            a label seen only by the first block reaches deeper blocks only through
            block 1's features.
        pool: MaxPool after every block (a bool, or one per block).
        convs_per_block: 1 (layer-local) or 2 (block-local: two convs, one loss).
        batchnorm: BatchNorm after every convolution.
        seed: initialisation seed.
    """

    def __init__(self, in_channels: int, channels, num_classes: int, theta: float | None = None,
                 label_mode: str = "channels", goodness: str = "sum",
                 negatives: str = "uniform", predict_mode: str = "goodness",
                 label_every_block: bool = False, sum_skip_first: bool = True, pool=True,
                 convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(
            theta=theta, label_mode=label_mode, goodness=goodness,
            negatives=negatives, predict_mode=predict_mode, label_every_block=label_every_block,
            sum_skip_first=sum_skip_first, seed=seed), pool=pool, convs_per_block=convs_per_block, batchnorm=batchnorm)
        check_choice("label_mode", label_mode, ("channels", "overlay"))
        check_choice("goodness", goodness, ("sum", "mean"))
        self.label_mode, self.goodness_kind = label_mode, goodness
        self.label_every_block = check_bool("label_every_block", label_every_block)
        self.sum_skip_first = check_bool("sum_skip_first", sum_skip_first)
        if self.label_every_block and label_mode != "channels":
            raise ValueError("label_every_block=True needs label_mode='channels'.")
        self.negatives = check_negatives(negatives)
        self.predict_mode = check_mode(predict_mode)
        self.thetas = [check_positive("theta", theta, THETA_HINT) if theta is not None
                       else (1.0 if goodness == "mean" else float(c)) for c in self.channels]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            extra = num_classes if label_mode == "channels" else 0
            later = num_classes if self.label_every_block else 0
            self.blocks = self._make_blocks(self.in_channels + extra, later)
            self.head = nn.Linear(sum(self.channels[self.first_scored:]), num_classes)

    # The same bookkeeping as the MLP's: one piece of code serves both.
    first_scored = FFNet.first_scored
    passes_per_prediction = FFNet.passes_per_prediction
    loss_names = FFNet.loss_names
    embeddings = FFNet.embeddings
    head_features = FFNet.head_features

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        x = super().model_input(x)
        if self.label_mode == "overlay" and x.shape[3] < self.num_classes:
            raise ValueError(f"Images {x.shape[3]} pixels wide cannot hold a {self.num_classes}-pixel "
                             "label overlay: use label_mode='channels'.")
        return x

    def _block_input(self, i: int, a: torch.Tensor, label) -> torch.Tensor:
        """What block i sees: the RMS-normalised map (only its direction, not its goodness),
        with the label planes appended where the label goes into every block."""
        a = rms_norm_image(a)
        if i > 0 and self.label_every_block:
            a = label_planes(a, label, self.num_classes, "channels")
        return a

    def activities(self, x: torch.Tensor, label) -> list[torch.Tensor]:
        """One forward pass with ``label`` written in (None = neutral); every block's map."""
        a, maps = label_planes(x, label, self.num_classes, self.label_mode), []
        for i, block in enumerate(self.blocks):
            a = block(self._block_input(i, a.detach(), label))
            maps.append(a)
        return maps

    def layer_goodness(self, a: torch.Tensor) -> torch.Tensor:
        """:func:`conv_goodness` of one block's map, per sample."""
        return conv_goodness(a, self.goodness_kind)

    def head_vector(self, a: torch.Tensor) -> torch.Tensor:
        """What the softmax head reads of a block: the direction of its pooled activity
        ``n(GAP(A_l))`` (the head cannot read the goodness either)."""
        return rms_norm(gap(a))

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor, label=None) -> list[torch.Tensor]:
        """Every block's feature map A_l with ``label`` written in (neutral by default)."""
        return self.activities(self.model_input(x), label)

    _loss = FFNet._loss

    # -- training: the protocol's iter_losses steps through these ---------------------------------
    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The state: positive, negative and neutral images as one batch of 3N (``a``), the labels,
        the wrong labels. Hard negatives come from the softmax head's prediction on an extra
        neutral pass (eval mode: it must not touch BatchNorm's running statistics)."""
        x = self.model_input(x)
        y = self.check_labels(y, x.shape[0])
        probs = None
        if self.negatives == "hard" and not carry:
            with torch.no_grad():
                was = self.training
                self.eval()
                probs = self.head(self.head_features(self.activities(x, None))).softmax(1)
                self.train(was)
        y_neg = wrong_labels(y, self.num_classes, generator, probs)
        a = torch.cat([label_planes(x, lab, self.num_classes, self.label_mode) for lab in (y, y_neg, None)])
        return {"a": a, "y": y, "y_neg": y_neg}

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Block i on the detached 3N batch (its input label-conditioned as ``_block_input`` says);
        the FF loss on the positive and negative thirds; the neutral third's head features kept."""
        y, n, c = state["y"], state["y"].shape[0], self.num_classes
        every = torch.cat([F.one_hot(y, c).float(), F.one_hot(state["y_neg"], c).float(),
                           torch.full((n, c), 1.0 / c, device=y.device)])
        state["a"] = a = self.blocks[i](self._block_input(i, state["a"].detach(), every))
        g = conv_goodness(a[:2 * n], self.goodness_kind)
        if i >= self.first_scored:
            state[f"f{i}"] = self.head_vector(a[2 * n:].detach())
        return self._loss(g[:n], g[n:], self.thetas[i])

    def end(self, state: dict) -> list[torch.Tensor]:
        """The softmax head's cross-entropy on the neutral thirds' features."""
        feats = [state[f"f{i}"] for i in range(self.first_scored, self.num_layers)]
        return [F.cross_entropy(self.head(torch.cat(feats, dim=1)), state["y"])]

    def unit_modules(self, i: int) -> list[str]:
        return [f"blocks.{i}"]

    extra_modules = FFNet.extra_modules
    pipeline_refusal = FFNet.pipeline_refusal
    skip_draws = FFNet.skip_draws

    # -- prediction: section 6, the same code as the MLP's ----------------------
    goodness_scores = FFNet.goodness_scores
    predict = FFNet.predict
    layer_predictions = FFNet.layer_predictions
    predict_and_layers = FFNet.predict_and_layers


# ----------------------------------------------------------------------------
# 6. predict (both networks)

def first_scored(num_layers: int) -> int:
    """Index of the first layer whose goodness counts: 1 (layer 2) when there are two or
    more layers, as in Hinton's code: layer 1's goodness mostly reads the label itself."""
    return 1 if num_layers > 1 else 0


@torch.no_grad()
def goodness_scores(model, x: torch.Tensor) -> torch.Tensor:
    """(N, L, C): every layer's goodness with every candidate label written in: C forward passes."""
    x = model.model_input(x)
    per_label = [torch.stack([model.layer_goodness(h) for h in model.activities(x, c)], dim=1)
                 for c in range(model.num_classes)]
    return torch.stack(per_label, dim=2)


@torch.no_grad()
def predict(model, x: torch.Tensor, mode: str | None = None, skip_first: bool | None = None) -> torch.Tensor:
    """``goodness``: argmax_c sum_{l >= 2} G_l(c) over C passes (``l >= 1`` without
    ``skip_first``); ``softmax``: the linear head on one pass with the neutral label."""
    if check_mode(mode or model.predict_mode) == "softmax":
        hs = model.activities(model.model_input(x), None)
        return model.head(model.head_features(hs)).argmax(1)
    return summed_goodness(model, goodness_scores(model, x), skip_first).argmax(1)


def summed_goodness(model, scores: torch.Tensor, skip_first: bool | None = None) -> torch.Tensor:
    """(N, C): the goodness summed over layers >= 2 (or every layer when ``skip_first`` is
    False; default: the model's ``sum_skip_first``), from :func:`goodness_scores`."""
    skip = model.sum_skip_first if skip_first is None else skip_first
    return scores[:, model.first_scored if skip else 0:].sum(1)


def layer_predictions(model, scores: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's own argmax over the C labels, from :func:`goodness_scores`."""
    return [scores[:, i].argmax(1) for i in range(model.num_layers)]


@torch.no_grad()
def predict_and_layers(model, x: torch.Tensor):
    """Prediction and per-layer predictions; in goodness mode both come from the same C passes."""
    scores = goodness_scores(model, x)
    if model.predict_mode == "softmax":
        return predict(model, x, "softmax"), layer_predictions(model, scores)
    return summed_goodness(model, scores).argmax(1), layer_predictions(model, scores)


THETA_HINT = "It is the goodness threshold; None uses 0.08 x the layer width (tuned), the width is the classic choice."


def check_mode(mode: str) -> str:
    return check_choice("FF prediction mode", mode, ("goodness", "softmax"))


def check_negatives(negatives: str) -> str:
    return check_choice("negatives", negatives, ("uniform", "hard"))


# ----------------------------------------------------------------------------
# 7. the declaration: everything the rest of the package needs to know about FF

#: the command-line options of FF (and of the rules built on it: symba.py)
OPTIONS = (
    Option("--theta", "theta", "goodness threshold (default: the model's, 0.08 x the layer width for the MLP, "
           "tuned; c_l for conv)", kind="positive"),
    Option("--label-scale", "label_scale", "value written for the one-hot label (default: the model's; for the MLP "
           "sqrt(10 x features / classes), 28 on Fashion-MNIST, tuned)", kind="positive", arch=("mlp",)),
    Option("--negatives", "negatives", "wrong labels drawn uniformly or from the current softmax (default: the "
           "model's, hard for the MLP, uniform for conv)", kind="choice", choices=("uniform", "hard")),
    Option("--sum-all-layers", "sum_skip_first", "goodness mode sums every layer (the MLP default, tuned)",
           kind="false", dest="sum_skip_first"),
    Option("--skip-first", "sum_skip_first", "goodness mode sums layers >= 2 only (Hinton's choice)",
           kind="true", dest="sum_skip_first"),
    Option("--ff-mode", "predict_mode", "default prediction mode (both are reported)", kind="choice",
           choices=("goodness", "softmax"), default="goodness"),
)

#: every readout of an FF-style network: goodness (the model's layer sum), Hinton's layers >= 2, softmax
READOUTS = (Readout("goodness", dict(mode="goodness"), passes="C"),
            Readout("goodness, layers >= 2", dict(mode="goodness", skip_first=True), passes="C"),
            Readout("softmax", dict(mode="softmax")))


def tuning(space, width: int) -> tuple[dict, dict]:
    """The tuning study's search space for FF (besides the learning rate): threshold per unit, label
    value, negatives; and the schedule."""
    model = dict(theta=space.float("theta_per_unit", 0.01, 1.0, log=True) * width,
                 label_scale=space.float("label_scale", 1.0, 30.0, log=True),
                 negatives=space.choice("negatives", ["uniform", "hard"]))
    return model, dict(schedule=space.choice("schedule", ["simultaneous", "greedy"]))


def tuning_defaults(width: int, num_classes: int, in_features: int) -> dict:
    """FF's package defaults in the search space's terms."""
    probe = FFNet(in_features, [width], num_classes)
    return dict(theta_per_unit=probe.thetas[0] / width, label_scale=probe.label_scale,
                negatives=probe.negatives, schedule="simultaneous")


SPECS = (MethodSpec(
    name="ff", label="FF", title="Forward-Forward (Hinton 2022)", mlp=FFNet, conv=FFConvNet,
    # MLP: tuned on the validation split (benchmarks/tune.py, see THETA_PER_UNIT); conv: Adam with batch
    # 64-128 as the conv runs here used (not tuned yet)
    lr=7e-4, conv_lr=2e-3,
    readouts=READOUTS, tuning=tuning, tuning_defaults=tuning_defaults,
    color=ORANGE, linestyle="--", options=OPTIONS, order=20, taught_in="01_forward_forward",
    reference="G. Hinton, The Forward-Forward Algorithm, arXiv 2212.13345 (2022)"),)
