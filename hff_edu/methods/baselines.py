"""Baselines that make the comparison honest, on the same layers (MLP) and blocks (conv).

- :class:`BPNet`, :class:`BPConvNet`: end-to-end backpropagation, one linear
  head (after global average pooling for conv), cross-entropy.
- :class:`LocalCENet`, :class:`LocalCEConvNet`: local cross-entropy
  (Mono-Forward / Nokland-Eidnes "pred"): every layer or block has its own
  linear classifier head and its input is detached. No sphere, no prototypes:
  it isolates what the hypersphere and the prototypes add on top of plain
  local classification.

The same order as ``ff.py`` and ``hff.py``: MLP networks, conv networks, then
what both predict with. Taught in 03_hff_training and 06_convolutional_hff.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.blocks import BatchNorm1d, ConvModel, check_head_dim, gap
from ..core.palette import GREEN, GREY
from ..core.protocol import MLPModel
from .spec import MethodSpec, Option, Readout


# ----------------------------------------------------------------------------
# 1. MLP networks

def linear_layers(in_features: int, widths: list[int]) -> nn.ModuleList:
    """The hidden ``Linear`` layers both baselines stack (the ReLU is applied in forward)."""
    sizes = [in_features] + widths
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


class BPNet(MLPModel):
    """``Linear -> ReLU`` layers then a linear head, trained end to end by backprop.

    ``layer_predictions`` returns a single entry (the output): hidden layers of
    a backprop net have no classifier of their own.
    """

    supports_greedy = False

    def __init__(self, in_features: int, widths, num_classes: int, seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(seed=seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = linear_layers(in_features, self.widths)
            self.head = nn.Linear(self.widths[-1], num_classes)

    @property
    def loss_names(self) -> list[str]:
        return ["end-to-end"]

    @property
    def layer_names(self) -> list[str]:
        return ["output"]

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every hidden layer's activity; no detach: gradients flow through all of them."""
        a, out = x, []
        for layer in self.layers:
            a = F.relu(layer(a))
            out.append(a)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: the last hidden layer's activity."""
        return self.hidden(x)[-1]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.model_input(x)))

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer hidden activities, for visualisation."""
        with torch.no_grad():
            return self.hidden(self.model_input(x))

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """One loss, the cross-entropy at the output: its gradient reaches every layer."""
        y = self.check_labels(y, x.shape[0])
        yield F.cross_entropy(self.logits(x), y)

    def pipeline_refusal(self) -> str | None:
        return (f"{type(self).__name__} is trained end to end by backprop and cannot be pipelined: layer l's "
                "gradient needs the gradient of every layer above it, so each stage would have to wait for the "
                "stages after it to send gradients back (the backward lock), and a pipeline here only sends "
                "activations forward. Train backprop with data parallelism (parallel.data_parallel_fit, or "
                "torchrun ... -m hff_edu train without --stages), or pipeline a local method (hff, local-ce, ff).")

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.predict(x)]


class LocalCENet(MLPModel):
    """``Linear -> ReLU`` layers, each with its own linear head and cross-entropy, detached between layers."""

    def __init__(self, in_features: int, widths, num_classes: int, seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(seed=seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = linear_layers(in_features, self.widths)
            self.heads = nn.ModuleList(nn.Linear(w, num_classes) for w in self.widths)

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def unit(self, i: int, a: torch.Tensor) -> torch.Tensor:
        """Layer i's activity from its (detached) input."""
        return F.relu(self.layers[i](a))

    def hidden(self, x: torch.Tensor, detach: bool = True) -> list[torch.Tensor]:
        """Every layer's activity, each computed from a detached input unless ``detach=False``."""
        a, out = x, []
        for i in range(self.num_layers):
            a = self.unit(i, a.detach() if detach else a)
            out.append(a)
        return out

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass: every layer's activity and its head's logits."""
        hs = self.hidden(x, detach)
        return hs, [head(h) for h, head in zip(hs, self.heads)]

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer hidden activities, for visualisation."""
        with torch.no_grad():
            return self.hidden(self.model_input(x))

    # -- training: each unit's own head and cross-entropy (the protocol's iter_losses) ----------
    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The state: the unit's input ``a`` and the labels."""
        x = self.model_input(x)
        return {"a": x, "y": self.check_labels(y, x.shape[0])}

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Unit i on its detached input, then ``CE(head_i(a_i), y)``."""
        state["a"] = self.unit(i, state["a"].detach())
        return F.cross_entropy(self.heads[i](state["a"]), state["y"])

    def unit_modules(self, i: int) -> list[str]:
        return [f"layers.{i}", f"heads.{i}"]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's head."""
        return local_ce_logits(self, x)[-1].argmax(1)

    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [z.argmax(1) for z in local_ce_logits(self, x)]


# ----------------------------------------------------------------------------
# 2. conv networks, on the blocks of ``blocks.py``

class BPConvNet(ConvModel):
    """The same blocks then GAP + one linear head, trained end to end by backprop.

    ``layer_predictions`` has one entry (the output): hidden blocks of a
    backprop net have no classifier of their own.
    """

    supports_greedy = False

    def __init__(self, in_channels: int, channels, num_classes: int, pool=True,
                 convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(seed=seed), pool=pool,
                         convs_per_block=convs_per_block, batchnorm=batchnorm)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.head = nn.Linear(self.channels[-1], num_classes)

    # The same bookkeeping as the MLP's: one piece of code serves both.
    loss_names = BPNet.loss_names
    layer_names = BPNet.layer_names
    logits = BPNet.logits
    iter_losses = BPNet.iter_losses
    pipeline_refusal = BPNet.pipeline_refusal
    predict = BPNet.predict
    layer_predictions = BPNet.layer_predictions

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's input: the last block's map, pooled; detach=False: gradients reach every block."""
        return gap(self._blocks_forward(x, detach=False)[-1])

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-block pooled activity GAP(A_l)."""
        with torch.no_grad():
            return [gap(a) for a in self._blocks_forward(self.model_input(x))]


class LocalCEConvNet(ConvModel):
    """The same blocks, each with its own GAP + linear head and cross-entropy, detached between blocks.

    ``head_dim=None`` (default) uses GAP + linear; an int puts the same AuxConv
    as HFF (1x1 conv to ``head_dim`` channels, GAP, BatchNorm) before the linear layer, so that the
    comparison with HFF isolates the sphere and the prototypes.
    """

    def __init__(self, in_channels: int, channels, num_classes: int, head_dim: int | None = None,
                 pool=True, convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(head_dim=head_dim, seed=seed),
                         pool=pool, convs_per_block=convs_per_block, batchnorm=batchnorm)
        head_dim = check_head_dim(head_dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.heads = nn.ModuleList(self._head(c, head_dim, num_classes) for c in self.channels)

    @staticmethod
    def _head(c: int, d: int | None, num_classes: int) -> nn.Module:
        if d is None:
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))
        # no conv bias: the BatchNorm after it removes any shift (see hff.AuxConvHead)
        return nn.Sequential(nn.Conv2d(c, d, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             BatchNorm1d(d), nn.Linear(d, num_classes))

    # The same bookkeeping as the MLP's: one piece of code serves both.
    loss_names = LocalCENet.loss_names
    begin = LocalCENet.begin
    step = LocalCENet.step
    predict = LocalCENet.predict
    layer_predictions = LocalCENet.layer_predictions
    embeddings = BPConvNet.embeddings

    def unit(self, i: int, a: torch.Tensor) -> torch.Tensor:
        """Block i's map from its (detached) input."""
        return self.blocks[i](a)

    def unit_modules(self, i: int) -> list[str]:
        return [f"blocks.{i}", f"heads.{i}"]

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass: every block's map and its head's logits."""
        maps = self._blocks_forward(x, detach)
        return maps, [head(a) for a, head in zip(maps, self.heads)]


# ----------------------------------------------------------------------------
# 3. local cross-entropy: prediction (both networks)

@torch.no_grad()
def local_ce_logits(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Every unit's head's logits, from one forward pass."""
    return model.activities(model.model_input(x))[1]


# ----------------------------------------------------------------------------
# 4. the declarations: backprop and local cross-entropy

SPECS = (
    MethodSpec(name="bp", label="backprop", title="Backpropagation, end to end", mlp=BPNet, conv=BPConvNet, lr=1e-3, conv_lr=2e-3,
               readouts=(Readout("output"),), color=GREY, linestyle=":", local=False, order=40,
               taught_in="00_local_learning"),
    MethodSpec(name="local-ce", label="local CE", title="Local cross-entropy (Mono-Forward, Nokland & Eidnes 2019)", mlp=LocalCENet,
               conv=LocalCEConvNet, lr=1e-3, conv_lr=2e-3, readouts=(Readout("last head"),), color=GREEN,
               linestyle="-.", order=30, taught_in="03_hff_training",
               reference="A. Nokland, L. H. Eidnes, Training Neural Networks with Local Error Signals, ICML 2019",
               options=(Option("--head-dim", "head_dim", "AuxConv size d of the conv heads (default: max(channels, "
                                "C x K) for HFF; none, GAP + linear, for local-CE)", kind="int", arch=("conv",)),)),
)
