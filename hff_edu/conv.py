"""Convolutional versions of every method, on the same blocks. Taught in 06_convolutional_hff.

A *block* is ``Conv3x3 -> BatchNorm -> ReLU`` (optionally twice) then, by
default, ``MaxPool 2x2``. The four models differ only in what sits on top of
each block and in where gradients may flow:

- :class:`HFFConvNet` (Hyperspherical FF): every block has an *AuxConv* head,
  a 1x1 convolution to ``d`` channels, global average pooling (GAP), BatchNorm
  and L2 normalisation onto the sphere; its cosines to the block's own class
  prototypes are scored with the same smooth-margin loss as the MLP
  (``hff.hff_loss``). The next block receives the block's feature map, detached.
- :class:`FFConvNet` (Forward-Forward): the label enters as C extra constant
  input planes (one-hot), each block's goodness is the sum over channels of the
  mean square activity, and prediction tries every label (C forward passes).
- :class:`BPConvNet`: end-to-end backprop, GAP + one linear head.
- :class:`LocalCEConvNet`: every block has its own GAP + linear head and
  cross-entropy, detached between blocks (no sphere, no prototypes).

Notation (06_convolutional_hff uses the same): for block l,

    A_l = block_l(A_{l-1}.detach())             feature map (N, c_l, H_l, W_l)
    z_l = sphere(BN(GAP(Conv1x1(A_l))))         (N, d) on the unit sphere      [HFF]
    S_l = cosines of z_l to the C x K prototypes (LogSumExp over the K)       [HFF]

Choices marked [ours] are this project's (the paper's conv details are not
public): the BatchNorm (centring) inside the AuxConv head, the head reading the
pooled block output, d = max(c_l, C*K) by default, conv FF's goodness (sum over
channels of the spatial mean square),
label planes for conv FF, BatchNorm over positive and negative data together.

**Two convolutions per block** (``convs_per_block=2``) are trained together by
one local loss: that network is *block-local*, not layer-local; backprop runs
inside each block (through two convolutions), never across blocks.

**BatchNorm** behaves differently in ``train()`` (batch statistics, running
averages updated) and ``eval()`` (running averages): ``train.fit`` switches
modes for you; call ``model.eval()`` yourself before predicting by hand.

Train one from the command line (per-epoch table, final accuracy, training and wall time)::

    python -m hff_edu train --method hff-conv --dataset fashion-mnist --channels 64,128,256 --epochs 10 --augment
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .ff import ff_loss, wrong_labels
from .hff import Prototypes, _check_rule, default_tau, hff_loss, sphere
from .protocol import LocalModel, check_positive

EPS = 1e-8


# ----------------------------------------------------------------------------
# 1. shared parts: checks, the block, pooling

def check_channels(channels) -> list[int]:
    """``channels`` as a list of positive block widths (an int means one block)."""
    if isinstance(channels, int):
        channels = [channels]
    channels = list(channels)
    if not channels:
        raise ValueError("channels is empty: give at least one block width, e.g. channels=[64, 128, 256].")
    if any(int(c) != c or c <= 0 for c in channels):
        raise ValueError(f"channels={channels}: every block width must be a positive integer.")
    return [int(c) for c in channels]


def _check_pool(pool, n_blocks: int) -> list[bool]:
    if isinstance(pool, bool):
        return [pool] * n_blocks
    pool = [bool(p) for p in pool]
    if len(pool) != n_blocks:
        raise ValueError(f"pool has {len(pool)} entries but there are {n_blocks} blocks: give one "
                         "True/False per block, or a single bool for all.")
    return pool


class ConvBlock(nn.Module):
    """``[Conv3x3 -> BatchNorm -> ReLU] x convs (-> MaxPool 2x2)``.

    With ``convs=2`` both convolutions learn from the block's one local loss:
    block-local, not layer-local learning.
    """

    def __init__(self, in_channels: int, out_channels: int, convs: int = 1, pool: bool = True,
                 batchnorm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            # No conv bias before BatchNorm: BN's shift makes it redundant.
            layers.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3,
                                    padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU())
        if pool:
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def gap(a: torch.Tensor) -> torch.Tensor:
    """Global average pooling: (N, c, H, W) -> (N, c)."""
    return a.mean(dim=(2, 3))


class ConvModel(LocalModel):
    """Shared bookkeeping of the conv models: blocks, image input checks, names."""

    #: built from (in_channels, channels, num_classes), not from in_features (see :func:`build`)
    takes_images = True

    def __init__(self, in_channels: int, channels, num_classes: int, config: dict,
                 pool=True, convs_per_block: int = 1, batchnorm: bool = True):
        super().__init__(num_classes, config)
        if int(in_channels) != in_channels or in_channels <= 0:
            raise ValueError(f"in_channels={in_channels}: give the number of image channels "
                             "(1 for Fashion-MNIST, 3 for CIFAR; data bundles give it as input_shape[0]).")
        self.in_channels = int(in_channels)
        self.channels = check_channels(channels)
        self.pool = _check_pool(pool, len(self.channels))
        if convs_per_block not in (1, 2):
            raise ValueError(f"convs_per_block={convs_per_block}: choose 1 (layer-local) or 2 (block-local).")
        self.convs_per_block = int(convs_per_block)
        self.batchnorm = bool(batchnorm)

    def _make_blocks(self, first_in: int, extra_later: int = 0) -> nn.ModuleList:
        """Blocks of the given widths; blocks after the first take ``extra_later`` more input channels."""
        sizes = [first_in] + [c + extra_later for c in self.channels[:-1]]
        return nn.ModuleList(ConvBlock(a, b, self.convs_per_block, p, self.batchnorm)
                             for a, b, p in zip(sizes, self.channels, self.pool))

    @property
    def num_layers(self) -> int:
        return len(self.channels)

    @property
    def layer_names(self) -> list[str]:
        return [f"block {i + 1}" for i in range(self.num_layers)]

    def image_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check an image batch (N, C, H, W) and move it to the model's device."""
        if not torch.is_tensor(x):
            raise TypeError(f"Expected a torch.Tensor input, got {type(x).__name__}: "
                            "convert with torch.as_tensor(x, dtype=torch.float32).")
        if x.dim() == 3 and x.shape[0] == self.in_channels:
            raise ValueError(f"Input of shape {tuple(x.shape)} is one image without a batch dimension: "
                             "use x.unsqueeze(0).")
        if x.dim() != 4:
            raise ValueError(f"Input of shape {tuple(x.shape)}: conv models take image batches "
                             f"(N, {self.in_channels}, H, W); reshape flat data with "
                             f"x.reshape(-1, {self.in_channels}, H, W).")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Input has {x.shape[1]} channels but the model expects {self.in_channels}: "
                             f"build it with in_channels={x.shape[1]} (ds.input_shape[0]) or pass "
                             "channels-first images (N, C, H, W).")
        need = 2 ** sum(self.pool)
        if min(x.shape[2], x.shape[3]) < need:
            raise ValueError(f"Images of {x.shape[2]}x{x.shape[3]} are too small for {sum(self.pool)} "
                             f"pooling stages (need at least {need}x{need}): pass pool=False for some "
                             "blocks, or use fewer blocks.")
        self.check_finite(x)
        return x.to(self.device, torch.float32)

    def _blocks_forward(self, x: torch.Tensor, detach: bool = True) -> list[torch.Tensor]:
        """Every block's feature map A_l (inputs detached unless ``detach=False``)."""
        a, maps = x, []
        for block in self.blocks:
            a = block(a.detach() if detach else a)
            maps.append(a)
        return maps

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's feature map A_l (N, c_l, H_l, W_l), for visualisation."""
        return self._blocks_forward(self.image_input(x))


# ----------------------------------------------------------------------------
# 2. HFF: AuxConv head, sphere, prototypes

class AuxConvHead(nn.Module):
    """``z = sphere(BN(GAP(Conv1x1(A))))`` in R^d, then cosine scores to the prototypes.

    The 1x1 convolution maps the c block channels to d: with d too small it is a
    bottleneck (d < C*K - 1 cannot even hold C*K equally spread prototypes).
    BatchNorm over the pooled vector centres it [ours]: the block's output is
    non-negative (after ReLU), so without centring every z starts in the same
    orthant, near every other z, and learning starts slowly.
    """

    def __init__(self, in_channels: int, dim: int, num_classes: int, per_class: int = 1,
                 init: str = "etf", learnable: bool = True, seed: int = 0, tau_p: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, dim, 1)
        self.norm = nn.BatchNorm1d(dim)
        self.prototypes = Prototypes(num_classes, per_class, dim, init, learnable, seed, tau_p)

    def embed(self, a: torch.Tensor) -> torch.Tensor:
        return sphere(self.norm(gap(self.conv(a))))

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.embed(a)
        return z, self.prototypes.scores(z)


class HFFConvNet(ConvModel):
    """Hyperspherical Forward-Forward CNN: every block classifies against its own prototypes.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        channels: block widths, e.g. ``[64, 128, 256]``.
        num_classes: C.
        head_dim: d, the AuxConv output size; an int for every block, or
            ``None`` = max(c_l, C*K) per block [ours].
        tau, protos_per_class, margin, init, learnable, rule, sum_skip_first, tau_p:
            as :class:`hff_edu.hff.HFFNet`.
        pool: MaxPool after every block (a bool, or one per block).
        convs_per_block: 1 (layer-local) or 2 (block-local: two convs, one loss).
        batchnorm: BatchNorm after every convolution.
        seed: initialisation seed.
    """

    passes_per_prediction = 1

    def __init__(self, in_channels: int, channels, num_classes: int, head_dim: int | None = None,
                 tau: float | None = None, protos_per_class: int = 1, margin: float = 0.0,
                 init: str = "etf", learnable: bool = True, rule: str = "last",
                 sum_skip_first: bool = False, tau_p: float = 0.1, pool=True,
                 convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(
            in_channels=in_channels, channels=check_channels(channels), num_classes=num_classes,
            head_dim=head_dim, tau=tau, protos_per_class=protos_per_class, margin=margin, init=init,
            learnable=learnable, rule=rule, sum_skip_first=sum_skip_first, tau_p=tau_p,
            pool=pool if isinstance(pool, bool) else list(pool), convs_per_block=convs_per_block,
            batchnorm=batchnorm, seed=seed), pool=pool, convs_per_block=convs_per_block,
            batchnorm=batchnorm)
        self.tau = check_positive("tau", tau if tau is not None else default_tau(num_classes),
                                  "It is the temperature of the softmax over prototype scores; try 0.1.")
        if int(protos_per_class) != protos_per_class or protos_per_class < 1:
            raise ValueError(f"protos_per_class={protos_per_class}: must be a positive integer.")
        if head_dim is not None and (int(head_dim) != head_dim or head_dim < 1):
            raise ValueError(f"head_dim={head_dim}: give a positive int (the AuxConv output size d) or None.")
        if not margin >= 0:
            raise ValueError(f"margin={margin}: must be >= 0 (0 turns the margin off).")
        self.margin = float(margin)
        self.rule = _check_rule(rule)
        self.sum_skip_first = bool(sum_skip_first)
        k = int(protos_per_class)
        self.head_dims = [int(head_dim) if head_dim is not None else max(c, num_classes * k)
                          for c in self.channels]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.heads = nn.ModuleList(
                AuxConvHead(c, d, num_classes, k, init, learnable, seed + i, tau_p)
                for i, (c, d) in enumerate(zip(self.channels, self.head_dims)))

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass; every block's sphere embedding ``z_l`` and scores ``S_l``."""
        zs, ss = [], []
        for a, head in zip(self._blocks_forward(x, detach), self.heads):
            z, s = head(a)
            zs.append(z)
            ss.append(s)
        return zs, ss

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-block sphere embeddings ``z_l`` (N, d_l), for visualisation and transfer."""
        with torch.no_grad():
            return self.activities(self.image_input(x))[0]

    def prototypes(self) -> list[torch.Tensor]:
        """Per-block unit prototypes, each (C, K, d_l), detached."""
        return [head.prototypes.unit.detach() for head in self.heads]

    # -- training --------------------------------------------------------------
    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-block smooth-margin losses from one forward pass, yielded block by block."""
        x = self.image_input(x)
        y = self.check_labels(y, x.shape[0])
        a = x
        for block, head in zip(self.blocks, self.heads):
            a = block(a.detach())  # the next block sees this map, detached: local learning
            yield hff_loss(head(a)[1], y, self.tau, self.margin)

    # -- prediction ------------------------------------------------------------
    @torch.no_grad()
    def layer_scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's prototype scores ``S_l`` (N, C) from a single forward pass."""
        return self.activities(self.image_input(x))[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """``last``: argmax of the last block's S; ``sum``: argmax of sum_l softmax(S_l / tau)."""
        rule = _check_rule(rule or self.rule)
        if rule == "last":  # only the last block's head: the others are side branches
            return self.heads[-1](self._blocks_forward(self.image_input(x))[-1])[1].argmax(1)
        scores = self.layer_scores(x)
        start = 1 if self.sum_skip_first and len(scores) > 1 else 0
        return sum((s / self.tau).softmax(1) for s in scores[start:]).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's own nearest-prototype class (one pass for all blocks)."""
        return [s.argmax(1) for s in self.layer_scores(x)]


# ----------------------------------------------------------------------------
# 3. FF: label planes, goodness, C passes to predict

def rms_norm_image(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``n(x) = x / sqrt(mean_{c,h,w} x^2)`` per sample: the next block cannot read the goodness."""
    return x / (x.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt() + eps)


def label_planes(x: torch.Tensor, label, num_classes: int, mode: str = "channels") -> torch.Tensor:
    """Write a label into images ``x`` (N, c, H, W).

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
        if isinstance(label, int):
            label = torch.full((n,), label, device=x.device, dtype=torch.long)
        code = F.one_hot(label, num_classes).to(x.dtype)
    if mode == "channels":
        return torch.cat([x, code[:, :, None, None].expand(n, num_classes, h, w)], dim=1)
    if mode == "overlay":
        out = x.clone()
        out[:, :, 0, :num_classes] = code[:, None, :]
        return out
    raise ValueError(f"Unknown label_mode {mode!r}: choose 'channels' or 'overlay'.")


def conv_goodness(a: torch.Tensor, kind: str = "sum") -> torch.Tensor:
    """Goodness of a feature map per sample: ``sum_c mean_{h,w} a^2`` (``"sum"``, the MLP's
    sum over units with one unit per channel) or ``mean_{c,h,w} a^2`` (``"mean"``)."""
    sq = a.pow(2).mean(dim=(2, 3))
    return sq.mean(1) if kind == "mean" else sq.sum(1)


def symba_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """SymBa (Lee & Song, 2023): ``softplus(alpha * (G_neg - G_pos))``: no threshold,
    positive and negative samples pushed apart symmetrically."""
    return F.softplus(alpha * (g_neg - g_pos)).mean()


class FFConvNet(ConvModel):
    """Forward-Forward CNN: the label is C extra input planes; goodness per block.

    Training runs positive (true label), negative (wrong label) and neutral
    (label 1/C) images through each block as one batch: BatchNorm statistics
    then mix positive and negative data [ours]. Normalising them apart would
    give both the same mean square and erase the goodness difference FF learns.

    Args:
        in_channels, channels, num_classes: as :class:`HFFConvNet`.
        theta: goodness threshold; ``None`` = c_l for ``goodness="sum"`` (mean square 1
            per channel, like the MLP's theta = width), 1 for ``"mean"``.
        label_mode: ``"channels"`` (C one-hot planes) or ``"overlay"`` (top-row pixels).
        goodness: ``"sum"`` (sum over channels of the spatial mean square, the default [ours])
            or ``"mean"`` (mean over channels too: gradients c_l times weaker, slow to learn).
        loss: ``"ff"`` (Hinton's thresholded logistic loss) or ``"symba"``
            (``softplus(alpha * (G_neg - G_pos))``).
        alpha: SymBa's scale (4 in Lee & Song).
        negatives: ``"uniform"`` wrong labels or ``"hard"`` (from the current softmax head).
        predict_mode: ``"goodness"`` (C passes) or ``"softmax"`` (one neutral pass + linear head).
        label_every_block: also append the C label planes to every block's input [ours]:
            a label seen only by the first block reaches deeper blocks only through
            block 1's features.
        pool, convs_per_block, batchnorm, seed: as :class:`HFFConvNet`.
    """

    def __init__(self, in_channels: int, channels, num_classes: int, theta: float | None = None,
                 label_mode: str = "channels", goodness: str = "sum", loss: str = "ff",
                 alpha: float = 4.0, negatives: str = "uniform", predict_mode: str = "goodness",
                 label_every_block: bool = False, pool=True, convs_per_block: int = 1,
                 batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(
            in_channels=in_channels, channels=check_channels(channels), num_classes=num_classes,
            theta=theta, label_mode=label_mode, goodness=goodness, loss=loss, alpha=alpha,
            negatives=negatives, predict_mode=predict_mode, label_every_block=label_every_block,
            pool=pool if isinstance(pool, bool) else list(pool), convs_per_block=convs_per_block,
            batchnorm=batchnorm, seed=seed), pool=pool, convs_per_block=convs_per_block,
            batchnorm=batchnorm)
        if label_mode not in ("channels", "overlay"):
            raise ValueError(f"Unknown label_mode {label_mode!r}: choose 'channels' or 'overlay'.")
        if goodness not in ("mean", "sum"):
            raise ValueError(f"Unknown goodness {goodness!r}: choose 'mean' or 'sum'.")
        if loss not in ("ff", "symba"):
            raise ValueError(f"Unknown loss {loss!r}: choose 'ff' (threshold) or 'symba'.")
        if negatives not in ("uniform", "hard"):
            raise ValueError(f"Unknown negatives {negatives!r}: choose 'uniform' or 'hard'.")
        self.label_mode, self.goodness_kind, self.loss_kind = label_mode, goodness, loss
        self.label_every_block = bool(label_every_block)
        if self.label_every_block and label_mode != "channels":
            raise ValueError("label_every_block=True needs label_mode='channels'.")
        self.alpha = check_positive("alpha", alpha, "SymBa's scale; Lee & Song use 4.")
        self.negatives = negatives
        self.predict_mode = _check_mode(predict_mode)
        self.thetas = [check_positive("theta", theta) if theta is not None
                       else (1.0 if goodness == "mean" else float(c)) for c in self.channels]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            extra = num_classes if label_mode == "channels" else 0
            later = num_classes if self.label_every_block else 0
            self.blocks = self._make_blocks(self.in_channels + extra, later)
            self.head = nn.Linear(sum(self.channels[self._first_scored:]), num_classes)

    @property
    def _first_scored(self) -> int:
        """Index of the first block whose goodness counts: block 2 when there are two or more."""
        return 1 if len(self.channels) > 1 else 0

    @property
    def passes_per_prediction(self) -> int:
        return self.num_classes if self.predict_mode == "goodness" else 1

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names + ["softmax head"]

    def image_input(self, x: torch.Tensor) -> torch.Tensor:
        x = super().image_input(x)
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

    def _loss(self, g_pos, g_neg, theta):
        if self.loss_kind == "symba":
            return symba_loss(g_pos, g_neg, self.alpha)
        return ff_loss(g_pos, g_neg, theta)

    def _head_features(self, maps: list[torch.Tensor]) -> torch.Tensor:
        # RMS-normalised pooled activity of blocks >= 2: the head cannot read the goodness either.
        return torch.cat([_rms_vec(gap(a)) for a in maps[self._first_scored:]], dim=1)

    @torch.no_grad()
    def feature_maps(self, x: torch.Tensor, label=None) -> list[torch.Tensor]:
        """Every block's feature map A_l with ``label`` written in (neutral by default)."""
        return self.activities(self.image_input(x), label)

    def embeddings(self, x: torch.Tensor, label=None) -> list[torch.Tensor]:
        """Per-block pooled directions ``n(GAP(A_l))`` (neutral label by default)."""
        with torch.no_grad():
            return [_rms_vec(gap(a)) for a in self.activities(self.image_input(x), label)]

    # -- training --------------------------------------------------------------
    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-block FF losses, then the softmax head's loss.

        Positive, negative and neutral images go through each block as one
        batch of 3N; the head trains on the neutral third, detached.
        """
        x = self.image_input(x)
        y = self.check_labels(y, x.shape[0])
        n = x.shape[0]
        probs = None
        if self.negatives == "hard":
            with torch.no_grad():
                was = self.training
                self.eval()  # do not let this extra pass touch BatchNorm's running statistics
                probs = self.head(self._head_features(self.activities(x, None))).softmax(1)
                self.train(was)
        y_neg = wrong_labels(y, self.num_classes, generator, probs)
        labels = [y, y_neg, None]
        a = torch.cat([label_planes(x, lab, self.num_classes, self.label_mode) for lab in labels])
        every = torch.cat([F.one_hot(y, self.num_classes).float(), F.one_hot(y_neg, self.num_classes).float(),
                           torch.full((n, self.num_classes), 1.0 / self.num_classes, device=x.device)])
        neutral = []
        for i, (block, theta) in enumerate(zip(self.blocks, self.thetas)):
            a = block(self._block_input(i, a.detach(), every))
            g = conv_goodness(a[:2 * n], self.goodness_kind)
            neutral.append(a[2 * n:].detach())
            yield self._loss(g[:n], g[n:], theta)
        yield F.cross_entropy(self.head(self._head_features(neutral)), y)

    # -- prediction ------------------------------------------------------------
    @torch.no_grad()
    def goodness_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, C): goodness of every block for every candidate label (C forward passes)."""
        x = self.image_input(x)
        per_label = [torch.stack([conv_goodness(a, self.goodness_kind) for a in self.activities(x, c)], 1)
                     for c in range(self.num_classes)]
        return torch.stack(per_label, dim=2)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        """``goodness``: argmax_c of the summed goodness of blocks >= 2 over C passes;
        ``softmax``: the linear head on one pass with the neutral label."""
        mode = _check_mode(mode or self.predict_mode)
        if mode == "softmax":
            return self.head(self._head_features(self.activities(self.image_input(x), None))).argmax(1)
        return self.goodness_scores(x)[:, self._first_scored:].sum(1).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's own goodness argmax over the C labels."""
        g = self.goodness_scores(x)
        return [g[:, i].argmax(1) for i in range(self.num_layers)]


def _rms_vec(v: torch.Tensor) -> torch.Tensor:
    return v / (v.pow(2).mean(dim=1, keepdim=True).sqrt() + EPS)


def _check_mode(mode: str) -> str:
    if mode not in ("goodness", "softmax"):
        raise ValueError(f"Unknown FF prediction mode {mode!r}: choose 'goodness' or 'softmax'.")
    return mode


# ----------------------------------------------------------------------------
# 4. baselines on the same blocks

class BPConvNet(ConvModel):
    """The same blocks then GAP + one linear head, trained end to end by backprop.

    ``layer_predictions`` has one entry (the output): hidden blocks of a
    backprop net have no classifier of their own.
    """

    supports_greedy = False

    def __init__(self, in_channels: int, channels, num_classes: int, pool=True,
                 convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(
            in_channels=in_channels, channels=check_channels(channels), num_classes=num_classes,
            pool=pool if isinstance(pool, bool) else list(pool), convs_per_block=convs_per_block,
            batchnorm=batchnorm, seed=seed), pool=pool, convs_per_block=convs_per_block,
            batchnorm=batchnorm)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.head = nn.Linear(self.channels[-1], num_classes)

    @property
    def loss_names(self) -> list[str]:
        return ["end-to-end"]

    @property
    def layer_names(self) -> list[str]:
        return ["output"]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # detach=False: gradients flow through every block
        return self.head(gap(self._blocks_forward(self.image_input(x), detach=False)[-1]))

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """One loss, the cross-entropy at the output: its gradient reaches every block."""
        y = self.check_labels(y, x.shape[0])
        yield F.cross_entropy(self.logits(x), y)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.predict(x)]

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-block pooled activity GAP(A_l)."""
        with torch.no_grad():
            return [gap(a) for a in self._blocks_forward(self.image_input(x))]


class LocalCEConvNet(ConvModel):
    """The same blocks, each with its own GAP + linear head and cross-entropy, detached between blocks.

    ``head_dim=None`` (default) uses GAP + linear; an int puts the same AuxConv
    as HFF (1x1 conv to ``head_dim`` channels, GAP, BatchNorm) before the linear layer, so that the
    comparison with HFF isolates the sphere and the prototypes.
    """

    def __init__(self, in_channels: int, channels, num_classes: int, head_dim: int | None = None,
                 pool=True, convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(
            in_channels=in_channels, channels=check_channels(channels), num_classes=num_classes,
            head_dim=head_dim, pool=pool if isinstance(pool, bool) else list(pool),
            convs_per_block=convs_per_block, batchnorm=batchnorm, seed=seed),
            pool=pool, convs_per_block=convs_per_block, batchnorm=batchnorm)
        if head_dim is not None and (int(head_dim) != head_dim or head_dim < 1):
            raise ValueError(f"head_dim={head_dim}: give a positive int or None (GAP + linear).")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.heads = nn.ModuleList(self._head(c, head_dim, num_classes) for c in self.channels)

    @staticmethod
    def _head(c: int, d: int | None, num_classes: int) -> nn.Module:
        if d is None:
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        return nn.Sequential(nn.Conv2d(c, d, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.BatchNorm1d(d), nn.Linear(d, num_classes))

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-block pooled activity GAP(A_l)."""
        with torch.no_grad():
            return [gap(a) for a in self._blocks_forward(self.image_input(x))]

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-block cross-entropy of each block's own head, yielded block by block."""
        x = self.image_input(x)
        y = self.check_labels(y, x.shape[0])
        a = x
        for block, head in zip(self.blocks, self.heads):
            a = block(a.detach())
            yield F.cross_entropy(head(a), y)

    def _logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [head(a) for a, head in zip(self._blocks_forward(self.image_input(x)), self.heads)]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's head."""
        return self._logits(x)[-1].argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [z.argmax(1) for z in self._logits(x)]


# ----------------------------------------------------------------------------
# 5. registry, building for a dataset, training cache

#: method name -> conv model class
CONV_METHODS = {"hff-conv": HFFConvNet, "ff-conv": FFConvNet, "bp-conv": BPConvNet,
                "local-ce-conv": LocalCEConvNet}
_SHORT = {"hff": "hff-conv", "ff": "ff-conv", "bp": "bp-conv", "local-ce": "local-ce-conv"}


def build(method: str, ds, channels, **kwargs) -> ConvModel:
    """A conv model of kind ``method`` (``"hff"`` or ``"hff-conv"``, ...) sized for ``ds``:
    ``in_channels = ds.input_shape[0]``, ``num_classes = ds.num_classes`` (via ``models.build``)."""
    from . import models
    name = _SHORT.get(method, method)
    if name not in CONV_METHODS:
        raise ValueError(f"Unknown conv method {method!r}: choose one of {', '.join(CONV_METHODS)}.")
    return models.build(name, ds, channels, **kwargs)


def train_or_load(method: str, ds, channels, fit_kwargs: dict | None = None, cache_dir=None,
                  retrain: bool = False, data_kwargs: dict | None = None, **model_kwargs):
    """:func:`hff_edu.checkpoint.train_or_load` for conv models (``"hff"`` or ``"hff-conv"``, ...):
    train, or load from the same cache. Returns ``(model, history)``."""
    from .checkpoint import train_or_load as cached
    name = _SHORT.get(method, method)
    if name not in CONV_METHODS:
        raise ValueError(f"Unknown conv method {method!r}: choose one of {', '.join(CONV_METHODS)}.")
    return cached(name, ds, channels, fit_kwargs, cache_dir, retrain, data_kwargs, **model_kwargs)


def _register() -> None:
    from . import models
    for name, cls in CONV_METHODS.items():
        models.register(name, cls)
        models.DEFAULT_LR.setdefault(name, 2e-3)  # what the conv runs here used (Adam, batch 64-128)


_register()
