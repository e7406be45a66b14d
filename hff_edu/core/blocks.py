"""The convolutional parts every conv model shares: channel checks, the block, pooling,
and the conv model base class. Taught in 06_convolutional_hff.

A *block* is ``Conv3x3 -> BatchNorm -> ReLU`` (optionally twice) then, by
default, ``MaxPool 2x2``. The conv versions of FF, HFF and the baselines (in
``ff.py``, ``hff.py`` and ``baselines.py``) differ only in what sits on top of
each block and in where gradients may flow:

    A_l = block_l(A_{l-1}.detach())             feature map (N, c_l, H_l, W_l)

**Two convolutions per block** (``convs_per_block=2``) are trained together by
one local loss: that network is *block-local*, not layer-local; backprop runs
inside each block (through two convolutions), never across blocks.

**BatchNorm** behaves differently in ``train()`` (batch statistics, running
averages updated) and ``eval()`` (running averages): ``train.fit`` switches
modes for you, and ``predict``/``layer_predictions`` always run in eval mode
(``protocol.in_eval_mode``). A training batch that holds a single value per
channel (one sample, or one sample whose map has shrunk to 1x1) has no batch
statistics at all: :class:`BatchNorm1d`/:class:`BatchNorm2d` below normalise it
with the running averages instead, as eval does, and leave those unchanged.

This module is vocabulary: it never imports an algorithm.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import LocalModel, check_bool, check_int, check_widths


def check_channels(channels) -> list[int]:
    """``channels`` as a list of positive block widths (an int means one block)."""
    return check_widths(channels, "channels")


def check_pool(pool, n_blocks: int) -> list[bool]:
    """``pool`` as one bool per block (a single bool applies to all)."""
    if not isinstance(pool, (list, tuple)):
        return [check_bool("pool", pool)] * n_blocks
    pool = [check_bool("pool", p) for p in pool]
    if len(pool) != n_blocks:
        raise ValueError(f"pool has {len(pool)} entries but there are {n_blocks} blocks: give one "
                         "True/False per block, or a single bool for all.")
    return pool


def check_head_dim(head_dim) -> int | None:
    """The AuxConv size d: a positive int, or ``None`` for the model's default."""
    if head_dim is None:
        return None
    return check_int("head_dim", head_dim, 1, "It is the AuxConv output size d; None picks a default.")


class _OneValueSafe:
    """BatchNorm that accepts a training batch with one value per channel.

    Batch statistics of a single value are undefined (torch raises "Expected more
    than 1 value per channel when training"): that happens for a batch of one
    sample in a head's ``BatchNorm1d``, or in a ``BatchNorm2d`` whose map is 1x1.
    Such a batch is normalised with the running averages (what eval mode uses, the
    best estimate there is) and does not update them: one sample is no estimate of
    the batch statistics. Gradients still reach the input and the affine weights.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.numel() == x.shape[1]:  # N * H * W == 1
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, momentum=0.0, eps=self.eps)
        return super().forward(x)


class BatchNorm1d(_OneValueSafe, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that also trains on a batch of one sample (see :class:`_OneValueSafe`)."""


class BatchNorm2d(_OneValueSafe, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that also trains on one sample with a 1x1 map (see :class:`_OneValueSafe`)."""


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
                layers.append(BatchNorm2d(out_channels))
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
    """Shared bookkeeping of the conv models: blocks, image input checks, names.

    ``config`` holds the subclass's own constructor arguments; the shared ones
    (``in_channels``, ``channels``, ``num_classes``, ``pool``, ``convs_per_block``,
    ``batchnorm``) are added here, in the order the subclasses used to write them.
    """

    #: built from (in_channels, channels, num_classes), not from in_features (see ``models.build``)
    takes_images = True

    def __init__(self, in_channels: int, channels, num_classes: int, config: dict,
                 pool=True, convs_per_block: int = 1, batchnorm: bool = True):
        seed = config.pop("seed")
        super().__init__(num_classes, dict(
            in_channels=in_channels, channels=check_channels(channels), num_classes=num_classes,
            **config, pool=pool if isinstance(pool, bool) else list(pool),
            convs_per_block=convs_per_block, batchnorm=batchnorm, seed=seed))
        self.in_channels = check_int("in_channels", in_channels, 1, "Give the number of image channels "
                                     "(1 for Fashion-MNIST, 3 for CIFAR; data bundles give it as input_shape[0]).")
        self.channels = check_channels(channels)
        self.pool = check_pool(pool, len(self.channels))
        if isinstance(convs_per_block, bool) or convs_per_block not in (1, 2):
            raise ValueError(f"convs_per_block={convs_per_block!r}: choose 1 (layer-local) or 2 (block-local).")
        self.convs_per_block = int(convs_per_block)
        self.batchnorm = check_bool("batchnorm", batchnorm)

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

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check an image batch (N, C, H, W) and move it to the model's device."""
        if not torch.is_tensor(x):
            raise TypeError(f"Expected a torch.Tensor input, got {type(x).__name__}: "
                            "convert with torch.as_tensor(x, dtype=torch.float32).")
        if x.dim() == 3 and x.shape[0] == self.in_channels and x.shape[0] != 0:
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
        return self.as_batch(x)

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
        return self._blocks_forward(self.model_input(x))
