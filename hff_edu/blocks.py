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
modes for you; call ``model.eval()`` yourself before predicting by hand.

This module is vocabulary: it never imports an algorithm.
"""
from __future__ import annotations

import torch
from torch import nn

from .protocol import LocalModel


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


def check_pool(pool, n_blocks: int) -> list[bool]:
    """``pool`` as one bool per block (a single bool applies to all)."""
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
        if int(in_channels) != in_channels or in_channels <= 0:
            raise ValueError(f"in_channels={in_channels}: give the number of image channels "
                             "(1 for Fashion-MNIST, 3 for CIFAR; data bundles give it as input_shape[0]).")
        self.in_channels = int(in_channels)
        self.channels = check_channels(channels)
        self.pool = check_pool(pool, len(self.channels))
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

    def model_input(self, x: torch.Tensor) -> torch.Tensor:
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
        return self._blocks_forward(self.model_input(x))
