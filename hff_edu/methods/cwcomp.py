"""CwComp: channel-wise competitive Forward-Forward (Papachristodoulou et al., AAAI 2024), MLP and conv.

The other published answer to the problem HFF solves: FF needs C forward passes to predict, one
per candidate label written into the input. CwComp writes no label anywhere. It gives every class
a group of a layer's channels (units, for the MLP) and lets the groups compete:

    h          = ReLU(W n(a) + b)                     a layer (conv: Conv3x3 -> BatchNorm -> ReLU)
    g_c(h)     = mean_{j in group c} h_j^2             the goodness of class c's group
                 (conv: mean over the group's channels and the map's positions)
    L          = CE(g / T, y)                         the true class's group must be the most active

The other classes' groups are the negatives (no negative data), and one forward pass gives every
layer's C group goodnesses, so one pass predicts: the last layer's argmax, or the sum over layers of
``softmax(g_l / T)`` (like HFF's rules). Side by side with HFF: HFF compares a layer's direction with
C prototypes on a sphere; CwComp reads C slices of the layer itself, a prototype per class made of
its own channels. A layer needs at least C units; with a multiple of C every unit is in a group.

Ours where the paper is silent or differs: the MLP form; the temperature ``T`` (0.1 by default); the
MLP's RMS normalisation between layers, as FF's (the conv blocks' BatchNorm plays that part); plain
Conv3x3 blocks (the paper alternates grouped "CFSE" convolutions). Reported: 92.31% on
Fashion-MNIST with 4 conv layers of 20/80/240/480 channels and 20 epochs (the paper); ours in the
README's race. Reference: A. Papachristodoulou, C. Kyrkou, S. Timotheou, T. Theocharides,
*Convolutional Channel-wise Competitive Learning for the Forward-Forward Algorithm*, AAAI 2024
(arXiv 2312.12668). Taught beside HFF in 06_convolutional_hff.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.blocks import ConvModel
from ..core.palette import VERMILLION
from ..core.protocol import MLPModel, check_choice, check_positive
from .ff import rms_norm
from .spec import MethodSpec, Option, Readout

RULES = ("last", "sum")


# ----------------------------------------------------------------------------
# 1. the group goodness and the loss

def group_goodness(h: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``g_c = mean_{j in group c} h_j^2`` (N, C): a layer's units (or a map's channels, averaged over
    its positions too) split into C equal, consecutive groups of ``width // C``; the ``width mod C``
    units left over belong to no group [ours] (they still feed the next layer)."""
    n, size = h.shape[0], h.shape[1] // num_classes
    sq = h.pow(2) if h.dim() == 2 else h.pow(2).mean(dim=(2, 3))
    return sq[:, :num_classes * size].reshape(n, num_classes, size).mean(dim=2)


def cwc_loss(g: torch.Tensor, y: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The channel-wise competitive loss ``CE(g / T, y)``: the true class's group against the others."""
    return F.cross_entropy(g / temperature, y)


def check_groups(widths, num_classes: int, what: str) -> None:
    small = [w for w in widths if w < num_classes]
    if small:
        raise ValueError(f"CwComp gives each of the {num_classes} classes a group of every layer's units, but "
                         f"{what} {small} have fewer than {num_classes}: use at least {num_classes} (a multiple of "
                         f"{num_classes} uses every unit).")


# ----------------------------------------------------------------------------
# 2. MLP network

class CwCompNet(MLPModel):
    """A channel-wise competitive MLP: every layer's units split into C class groups that compete.

    Args:
        in_features, widths, num_classes: as every MLP; each width at least C (a multiple of C uses
            every unit: the rest belong to no group).
        temperature: T of the loss and of the ``sum`` rule [ours: 0.1; the group goodness of a fresh
            layer differs little between groups, and T = 1 learns slowly].
        rule: default prediction rule ``"last"`` or ``"sum"`` (both one pass).
        seed: initialisation seed.
    """

    passes_per_prediction = 1

    def __init__(self, in_features: int, widths, num_classes: int, temperature: float = 0.1,
                 rule: str = "last", seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(temperature=temperature, rule=rule, seed=seed))
        check_groups(self.widths, num_classes, "widths")
        self.temperature = check_positive("temperature", temperature, "It divides the group goodness in the loss; try 0.1.")
        self.rule = check_choice("CwComp prediction rule", rule, RULES)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sizes = [in_features] + self.widths
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def unit(self, i: int, a: torch.Tensor) -> torch.Tensor:
        """Layer i: ``ReLU(W n(a) + b)``; the RMS normalisation hides the previous layer's goodness."""
        return F.relu(self.layers[i](rms_norm(a)))

    def activities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's activity from one forward pass (inputs detached)."""
        a, out = x, []
        for i in range(self.num_layers):
            a = self.unit(i, a.detach())
            out.append(a)
        return out

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer activities, for visualisation."""
        with torch.no_grad():
            return self.activities(self.model_input(x))

    # -- training: one pass, a competitive loss per layer (the protocol's iter_losses) -------------
    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The state: the layer's input ``a`` and the labels (nothing is drawn at random)."""
        x = self.model_input(x)
        return {"a": x, "y": self.check_labels(y, x.shape[0])}

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Layer i on its detached input, then ``CE(g(h_i) / T, y)``."""
        state["a"] = self.unit(i, state["a"].detach())
        return cwc_loss(group_goodness(state["a"], self.num_classes), state["y"], self.temperature)

    def unit_modules(self, i: int) -> list[str]:
        return [f"layers.{i}"]

    # -- prediction: section 4, shared with the conv network -----------------------------------
    def group_scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's group goodness (N, C), from a single forward pass."""
        return group_scores(self, x)

    def predict(self, x: torch.Tensor, rule: str | None = None) -> torch.Tensor:
        """``last``: argmax of the last layer's group goodness; ``sum``: argmax of sum_l softmax(g_l / T)."""
        return combine(self, group_scores(self, x), rule)

    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own most active group."""
        return [g.argmax(1) for g in group_scores(self, x)]

    def predict_and_layers(self, x: torch.Tensor):
        scores = group_scores(self, x)
        return combine(self, scores), [g.argmax(1) for g in scores]


# ----------------------------------------------------------------------------
# 3. conv network

class CwCompConvNet(ConvModel):
    """Channel-wise competitive CNN: every block's channels split into C class groups that compete.

    Blocks are ``Conv3x3 -> BatchNorm -> ReLU (-> MaxPool)`` (``core/blocks.py``); each block's
    channel count at least C, best a multiple of C (the paper's Fashion-MNIST net: 20, 80, 240, 480).
    ``temperature``, ``rule`` and ``seed`` as :class:`CwCompNet`.
    """

    passes_per_prediction = 1

    def __init__(self, in_channels: int, channels, num_classes: int, temperature: float = 0.1,
                 rule: str = "last", pool=True, convs_per_block: int = 1, batchnorm: bool = True, seed: int = 0):
        super().__init__(in_channels, channels, num_classes, config=dict(temperature=temperature, rule=rule, seed=seed),
                         pool=pool, convs_per_block=convs_per_block, batchnorm=batchnorm)
        check_groups(self.channels, num_classes, "channels")
        self.temperature = check_positive("temperature", temperature, "It divides the group goodness in the loss; try 0.1.")
        self.rule = check_choice("CwComp prediction rule", rule, RULES)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)

    loss_names = CwCompNet.loss_names
    begin = CwCompNet.begin
    group_scores = CwCompNet.group_scores
    predict = CwCompNet.predict
    layer_predictions = CwCompNet.layer_predictions
    predict_and_layers = CwCompNet.predict_and_layers

    def unit(self, i: int, a: torch.Tensor) -> torch.Tensor:
        """Block i's feature map from its (detached) input."""
        return self.blocks[i](a)

    def activities(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self._blocks_forward(x)

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-block group goodness profile: each channel's mean square activity (N, c_l)."""
        with torch.no_grad():
            return [a.pow(2).mean(dim=(2, 3)) for a in self._blocks_forward(self.model_input(x))]

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Block i on its detached input, then ``CE(g(A_i) / T, y)``."""
        state["a"] = self.unit(i, state["a"].detach())
        return cwc_loss(group_goodness(state["a"], self.num_classes), state["y"], self.temperature)

    def unit_modules(self, i: int) -> list[str]:
        return [f"blocks.{i}"]


# ----------------------------------------------------------------------------
# 4. predict (both networks)

@torch.no_grad()
def group_scores(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's group goodness (N, C): one forward pass for all layers."""
    return [group_goodness(a, model.num_classes) for a in model.activities(model.model_input(x))]


def combine(model, scores: list[torch.Tensor], rule: str | None = None) -> torch.Tensor:
    """``last``: argmax g_L; ``sum``: argmax of sum_l softmax(g_l / T)."""
    if check_choice("CwComp prediction rule", rule or model.rule, RULES) == "last":
        return scores[-1].argmax(1)
    return sum((g / model.temperature).softmax(1) for g in scores).argmax(1)


# ----------------------------------------------------------------------------
# 5. the declaration

def tuning(space, width: int) -> tuple[dict, dict]:
    """The tuning study's search space for CwComp (besides the learning rate): the temperature."""
    return dict(temperature=space.float("temperature", 0.05, 4.0, log=True)), {}


def tuning_defaults(width: int, num_classes: int, in_features: int) -> dict:
    return dict(temperature=0.1)


SPECS = (MethodSpec(
    name="cwcomp", label="CwComp", title="Channel-wise competitive FF (Papachristodoulou et al. 2024)",
    mlp=CwCompNet, conv=CwCompConvNet, lr=1e-3, conv_lr=2e-3,
    readouts=(Readout("last", dict(rule="last")), Readout("sum", dict(rule="sum"))),
    color=VERMILLION, linestyle=(0, (5, 1)), order=15, taught_in="06_convolutional_hff",
    tuning=tuning, tuning_defaults=tuning_defaults,
    options=(Option("--temperature", "temperature", "CwComp's loss temperature T (default 0.1)", kind="positive"),
             Option("--rule", "rule", "default prediction rule: last layer or sum over layers (both are reported)",
                    kind="choice", choices=RULES, default="last")),
    reference="A. Papachristodoulou et al., Convolutional Channel-wise Competitive Learning for the "
              "Forward-Forward Algorithm, AAAI 2024"),)
