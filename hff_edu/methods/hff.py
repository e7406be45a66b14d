"""Hyperspherical Forward-Forward (Sarode et al., 2026), MLP and conv: local classification against prototypes.

Read side by side with ``ff.py``: the same six parts in the same order
(input, layer/block, loss, MLP network, conv network, predict). Taught in
02_prototype_geometry and 03_hff_training (MLP), 06_convolutional_hff (conv).

Notation (the notebooks use the same):

    u       = a_{l-1}.detach()                        local learning
    h       = ReLU(W u + b)
    z       = h / ||h||                               onto the unit sphere
    s[c,k]  = <z, p_hat[c,k]>                         cosine to prototype k of class c
    S[c]    = tau_p * logsumexp_k(s[c,k] / tau_p)     LogSumExp matching (= s[c,1] for K = 1)
    L       = cross_entropy((S - m * onehot(y)) / tau, y)
            = softplus((LSE_{c != y} S[c] - S[y] + m) / tau)   (LSE at temperature tau)

Conv version: block l's map A_l goes through an *AuxConv* head,

    z_l = sphere(BN(GAP(Conv1x1(A_l))))         (N, d) on the unit sphere

scored and trained exactly as above; the next block receives A_l, detached.

No negative data and no label in the input: every other class's prototype sits
in the softmax denominator and is pushed away (the implicit negatives). One
forward pass trains and one forward pass predicts. Only the paper's abstract is
public: everything marked [ours] below (temperature default, margin, prototype
initialisation, prediction rule, the AuxConv's BatchNorm and its size d) is this
project's choice, and each is a constructor argument here (the notebooks say which is which).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.blocks import BatchNorm1d, ConvModel, check_head_dim, gap
from ..core.geometry import init_prototypes
from ..core.palette import BLUE
from ..core.protocol import MLPModel, check_bool, check_choice, check_int, check_non_negative, check_positive
from .spec import MethodSpec, Option, Readout

EPS = 1e-8


# ----------------------------------------------------------------------------
# 1. input: onto the sphere (no label in the input)

def sphere(h: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``z = h / ||h||``: keeps the direction, drops the length."""
    return h / (h.norm(dim=1, keepdim=True) + eps)


def default_tau(num_classes: int) -> float:
    """[ours] 0.1 for C <= 10, 0.05 above: cosines live in [-1, 1], so a softmax
    over them needs a low temperature to become confident."""
    return 0.1 if num_classes <= 10 else 0.05


# ----------------------------------------------------------------------------
# 2. layer and block head: an embedding on the sphere and its prototypes

class Prototypes(nn.Module):
    """C x K prototypes in R^d, stored unnormalised and normalised on use (always unit norm)."""

    def __init__(self, num_classes: int, per_class: int, dim: int, init: str = "etf",
                 learnable: bool = True, seed: int = 0, tau_p: float = 0.1):
        super().__init__()
        p = init_prototypes(num_classes, per_class, dim, init, seed)
        self.raw = nn.Parameter(p, requires_grad=learnable)
        self.tau_p = check_positive("tau_p", tau_p, "It is the LogSumExp temperature over a class's prototypes.")

    @property
    def unit(self) -> torch.Tensor:
        """``p_hat = P / ||P||``, shape (C, K, d)."""
        return self.raw / (self.raw.norm(dim=-1, keepdim=True) + EPS)

    def scores(self, z: torch.Tensor) -> torch.Tensor:
        """``S[c] = tau_p * logsumexp_k(<z, p_hat[c,k]> / tau_p)``, shape (N, C)."""
        c, k, d = self.raw.shape
        s = z @ self.unit.reshape(c * k, d).T  # (N, C*K) cosines: one matmul
        if k == 1:
            return s
        return self.tau_p * torch.logsumexp(s.reshape(-1, c, k) / self.tau_p, dim=2)


class HFFLayer(nn.Module):
    """``z = sphere(ReLU(W u + b))`` with its own prototypes; ``forward`` returns ``(z, S)``.

    ``relu=False`` drops the ReLU: a ReLU layer's embedding lives in the positive
    orthant only, which wastes most of a very low-dimensional sphere (e.g. a 3-d
    head drawn on S^2, taught in 04_hypersphere_views).
    """

    def __init__(self, in_features: int, out_features: int, num_classes: int, per_class: int = 1,
                 init: str = "etf", learnable: bool = True, seed: int = 0, tau_p: float = 0.1,
                 relu: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.relu = relu
        self.prototypes = Prototypes(num_classes, per_class, out_features, init, learnable, seed, tau_p)

    def embed(self, u: torch.Tensor) -> torch.Tensor:
        """``z`` alone: what the next layer reads (its scores are a side branch)."""
        h = self.linear(u)
        return sphere(F.relu(h) if self.relu else h)

    def forward(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.embed(u)
        return z, self.prototypes.scores(z)


class AuxConvHead(nn.Module):
    """``z = sphere(BN(GAP(Conv1x1(A))))`` in R^d, then cosine scores to the prototypes.

    The 1x1 convolution maps the c block channels to d: with d too small it is a
    bottleneck (d < C*K - 1 cannot even hold C*K equally spread prototypes).
    BatchNorm over the pooled vector centres it [ours]: the block's output is
    non-negative (after ReLU), so without centring every z starts in the same
    orthant, near every other z, and learning starts slowly. The convolution has no bias:
    BatchNorm subtracts the batch mean, so a bias would get a gradient of zero up to rounding,
    which Adam's normalised steps turn into a random walk that differs from CPU to CPU.
    """

    def __init__(self, in_channels: int, dim: int, num_classes: int, per_class: int = 1,
                 init: str = "etf", learnable: bool = True, seed: int = 0, tau_p: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, dim, 1, bias=False)  # BatchNorm follows
        self.norm = BatchNorm1d(dim)
        self.prototypes = Prototypes(num_classes, per_class, dim, init, learnable, seed, tau_p)

    def embed(self, a: torch.Tensor) -> torch.Tensor:
        return sphere(self.norm(gap(self.conv(a))))

    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.embed(a)
        return z, self.prototypes.scores(z)


# ----------------------------------------------------------------------------
# 3. loss

def hff_loss(scores: torch.Tensor, y: torch.Tensor, tau: float, margin: float = 0.0) -> torch.Tensor:
    """Smooth-margin loss ``cross_entropy((S - m * onehot(y)) / tau, y)``, averaged over the batch.

    Equal to ``softplus((LSE_{c != y} S[c] - S[y] + m) / tau)`` with the LSE at
    temperature tau: small only when the true class beats every other class by m.
    """
    if margin:
        scores = scores - margin * F.one_hot(y, scores.shape[1]).to(scores)
    return F.cross_entropy(scores / tau, y)


def check_loss_options(model, tau, protos_per_class, margin, rule, sum_skip_first) -> None:
    """Check and set what both networks share: ``tau``, ``margin``, the prediction rule."""
    model.tau = check_positive("tau", tau if tau is not None else default_tau(model.num_classes),
                               "It is the temperature of the softmax over prototype scores; try 0.1.")
    check_int("protos_per_class", protos_per_class, 1, "It is K, the prototypes per class; 1 is the default.")
    model.margin = check_non_negative("margin", margin, "0 turns the margin off; try 0.1.")
    model.rule = check_rule(rule)
    model.sum_skip_first = check_bool("sum_skip_first", sum_skip_first)


def check_prototype_options(init, learnable, tau_p) -> None:
    """Check the prototype options both networks take (before any prototype is built)."""
    check_choice("prototype init", init, ("etf", "separated", "random"))
    check_bool("learnable", learnable)
    check_positive("tau_p", tau_p, "It is the LogSumExp temperature over a class's prototypes; try 0.1.")


# ----------------------------------------------------------------------------
# 4. MLP network

class HFFNet(MLPModel):
    """A Hyperspherical Forward-Forward MLP: every layer classifies against its own prototypes.

    Args:
        in_features: flattened input size.
        widths: hidden layer widths, e.g. ``[1000, 1000, 1000]``.
        num_classes: C.
        tau: temperature of the loss (gamma = 1/tau); ``None`` = 0.1 for C <= 10, else 0.05 [ours].
        protos_per_class: K prototypes per class, matched with LogSumExp.
        margin: m >= 0 subtracted from the true class's score (0 = plain softmax) [ours].
        init: prototype initialisation ``"etf"``, ``"separated"`` or ``"random"`` [ours].
        learnable: learn the prototypes (``False`` keeps them fixed: an ablation).
        rule: default prediction rule ``"last"`` (last layer) or ``"sum"`` (sum of
            per-layer softmaxes) [ours: the paper's rule is not public].
        sum_skip_first: with ``rule="sum"``, leave the first layer out (as FF does).
        tau_p: LogSumExp temperature over the K prototypes of a class.
        last_relu: ``False`` drops the ReLU of the last layer, so its embedding can use
            the whole sphere (for a 3-d head drawn on S^2) [ours].
        seed: initialisation seed.
    """

    passes_per_prediction = 1

    def __init__(self, in_features: int, widths, num_classes: int, tau: float | None = None,
                 protos_per_class: int = 1, margin: float = 0.0, init: str = "etf",
                 learnable: bool = True, rule: str = "last", sum_skip_first: bool = False,
                 tau_p: float = 0.1, last_relu: bool = True, seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(
            tau=tau, protos_per_class=protos_per_class, margin=margin,
            init=init, learnable=learnable, rule=rule, sum_skip_first=sum_skip_first,
            tau_p=tau_p, last_relu=last_relu, seed=seed))
        check_loss_options(self, tau, protos_per_class, margin, rule, sum_skip_first)
        check_prototype_options(init, learnable, tau_p)
        check_bool("last_relu", last_relu)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sizes = [in_features] + self.widths
            last = len(self.widths) - 1
            self.layers = nn.ModuleList(
                HFFLayer(a, b, num_classes, int(protos_per_class), init, learnable, seed + i, tau_p,
                         relu=last_relu or i < last)
                for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass; returns every layer's sphere embedding ``z`` and scores ``S``.

        Inputs to each layer are detached (``detach=True``), so a loss on layer
        l can only change layer l (and its prototypes).
        """
        a, zs, ss = x, [], []
        for layer in self.layers:
            a, s = layer(a.detach() if detach else a)
            zs.append(a)
            ss.append(s)
        return zs, ss

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer sphere embeddings ``z``, for visualisation and transfer."""
        with torch.no_grad():
            return self.activities(self.model_input(x))[0]

    def prototypes(self) -> list[torch.Tensor]:
        """Per-layer unit prototypes, each (C, K, d), detached."""
        return [m.unit.detach() for m in self.modules() if isinstance(m, Prototypes)]

    # -- training: one forward pass, a smooth-margin loss per layer (the protocol's iter_losses) --
    def begin(self, x: torch.Tensor, y: torch.Tensor, generator=None, carry: bool = False) -> dict:
        """The state: the layer's input ``a`` and the labels (HFF draws nothing at random)."""
        x = self.model_input(x)
        return {"a": x, "y": self.check_labels(y, x.shape[0])}

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Layer i on its detached input: ``z, S = layer(a)``, loss ``L_i = CE((S - m onehot) / tau, y)``."""
        state["a"], s = self.layers[i](state["a"].detach())
        return hff_loss(s, state["y"], self.tau, self.margin)

    def unit_modules(self, i: int) -> list[str]:
        return [f"layers.{i}"]  # its weights and its prototypes

    def last_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's scores ``S_L`` alone: the others' prototype products are skipped."""
        a = x
        for layer in self.layers[:-1]:
            a = layer.embed(a)
        return self.layers[-1](a)[1]

    # -- prediction: section 6, shared with HFFConvNet --------------------------
    def layer_scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's prototype scores ``S_l`` (N, C) from a single forward pass."""
        return layer_scores(self, x)

    def predict(self, x: torch.Tensor, rule: str | None = None, skip_first: bool | None = None) -> torch.Tensor:
        """``last``: argmax of the last layer's S; ``sum``: argmax of sum_l softmax(S_l / tau),
        leaving layer 1 out when ``skip_first`` (default: the model's ``sum_skip_first``)."""
        return predict(self, x, rule, skip_first)

    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own nearest-prototype class (one pass for all layers)."""
        return [s.argmax(1) for s in layer_scores(self, x)]

    def predict_and_layers(self, x: torch.Tensor):
        """Prediction and per-layer predictions from the same single pass."""
        return predict_and_layers(self, x)


# ----------------------------------------------------------------------------
# 5. conv network

class HFFConvNet(ConvModel):
    """Hyperspherical Forward-Forward CNN: every block classifies against its own prototypes.

    Args:
        in_channels: image channels (1 for Fashion-MNIST, 3 for CIFAR).
        channels: block widths, e.g. ``[64, 128, 256]``.
        num_classes: C.
        head_dim: d, the AuxConv output size; an int for every block, or
            ``None`` = max(c_l, C*K) per block [ours].
        tau, protos_per_class, margin, init, learnable, rule, sum_skip_first, tau_p:
            as :class:`HFFNet`.
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
            head_dim=head_dim, tau=tau, protos_per_class=protos_per_class, margin=margin, init=init,
            learnable=learnable, rule=rule, sum_skip_first=sum_skip_first, tau_p=tau_p, seed=seed),
            pool=pool, convs_per_block=convs_per_block, batchnorm=batchnorm)
        check_loss_options(self, tau, protos_per_class, margin, rule, sum_skip_first)
        check_prototype_options(init, learnable, tau_p)
        head_dim = check_head_dim(head_dim)
        k = int(protos_per_class)
        self.head_dims = [int(head_dim) if head_dim is not None else max(c, num_classes * k)
                          for c in self.channels]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.blocks = self._make_blocks(self.in_channels)
            self.heads = nn.ModuleList(
                AuxConvHead(c, d, num_classes, k, init, learnable, seed + i, tau_p)
                for i, (c, d) in enumerate(zip(self.channels, self.head_dims)))

    # The same bookkeeping as the MLP's: one piece of code serves both.
    loss_names = HFFNet.loss_names
    embeddings = HFFNet.embeddings
    prototypes = HFFNet.prototypes

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass; every block's sphere embedding ``z_l`` and scores ``S_l``."""
        zs, ss = [], []
        for a, head in zip(self._blocks_forward(x, detach), self.heads):
            z, s = head(a)
            zs.append(z)
            ss.append(s)
        return zs, ss

    # -- training: the MLP's state, a block and its AuxConv head per unit ----------------------
    begin = HFFNet.begin

    def step(self, i: int, state: dict) -> torch.Tensor:
        """Block i on its detached input (the next block sees this map, detached: local learning),
        then its AuxConv head's scores and the smooth-margin loss."""
        state["a"] = self.blocks[i](state["a"].detach())
        return hff_loss(self.heads[i](state["a"])[1], state["y"], self.tau, self.margin)

    def unit_modules(self, i: int) -> list[str]:
        return [f"blocks.{i}", f"heads.{i}"]

    def last_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's scores ``S_L`` alone: the other AuxConv heads are side branches."""
        return self.heads[-1](self._blocks_forward(x)[-1])[1]

    # -- prediction: section 6, the same code as the MLP's ----------------------
    layer_scores = HFFNet.layer_scores
    predict = HFFNet.predict
    layer_predictions = HFFNet.layer_predictions
    predict_and_layers = HFFNet.predict_and_layers


# ----------------------------------------------------------------------------
# 6. predict (both networks)

@torch.no_grad()
def layer_scores(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's prototype scores ``S_l`` (N, C): one forward pass for all layers."""
    return model.activities(model.model_input(x))[1]


@torch.no_grad()
def predict(model, x: torch.Tensor, rule: str | None = None, skip_first: bool | None = None) -> torch.Tensor:
    """The prediction of one forward pass under ``rule`` (default: the model's).

    The ``last`` rule scores only the last layer: with many classes the
    prototype products (N x d x C per layer) are a real part of the pass.
    """
    if check_rule(rule or model.rule) == "last":
        return model.last_scores(model.model_input(x)).argmax(1)
    return combine(model, layer_scores(model, x), rule, skip_first)


def combine(model, scores: list[torch.Tensor], rule: str | None = None,
            skip_first: bool | None = None) -> torch.Tensor:
    """Class indices from per-layer scores: ``last`` = argmax S_L; ``sum`` = argmax of
    sum_l softmax(S_l / tau), layer 1 left out when ``skip_first``."""
    if check_rule(rule or model.rule) == "last":
        return scores[-1].argmax(1)
    skip = model.sum_skip_first if skip_first is None else skip_first
    start = 1 if skip and len(scores) > 1 else 0
    return sum((s / model.tau).softmax(1) for s in scores[start:]).argmax(1)


@torch.no_grad()
def predict_and_layers(model, x: torch.Tensor):
    """Prediction and per-layer predictions from the same single pass."""
    scores = layer_scores(model, x)
    return combine(model, scores), [s.argmax(1) for s in scores]


def check_rule(rule: str) -> str:
    return check_choice("HFF prediction rule", rule, ("last", "sum"))


# ----------------------------------------------------------------------------
# 7. the declaration: everything the rest of the package needs to know about HFF

def tuning(space, width: int) -> tuple[dict, dict]:
    """The tuning study's search space for HFF (besides the learning rate)."""
    return dict(tau=space.float("tau", 0.02, 0.5, log=True), margin=space.float("margin", 0.0, 0.5),
                protos_per_class=space.int("protos_per_class", 1, 4),
                init=space.choice("init", ["etf", "separated", "random"])), {}


def tuning_defaults(width: int, num_classes: int, in_features: int) -> dict:
    """HFF's package defaults in the search space's terms."""
    probe = HFFNet(in_features, [width], num_classes)
    return dict(tau=probe.tau, margin=probe.margin, protos_per_class=len(probe.prototypes()[0][0]),
                init=probe.config["init"])


SPECS = (MethodSpec(
    name="hff", label="HFF", title="Hyperspherical Forward-Forward (Sarode et al. 2026)", mlp=HFFNet, conv=HFFConvNet,
    lr=1e-3, conv_lr=2e-3,  # the tuning study found no clear gain over 1e-3 (benchmarks/tune.py)
    readouts=(Readout("last", dict(rule="last")), Readout("sum", dict(rule="sum"))),
    color=BLUE, linestyle="-", order=10, taught_in="03_hff_training", tuning=tuning, tuning_defaults=tuning_defaults,
    reference="S. Sarode et al., Hyperspherical Forward-Forward with Prototypical Representations, arXiv 2605.00082",
    options=(
        Option("--tau", "tau", "loss temperature (default 0.1 for C<=10, else 0.05)"),
        Option("--margin", "margin", "smooth margin m >= 0 (default 0)", kind="non-negative", default=0.0),
        Option("--protos-per-class", "protos_per_class", "prototypes per class K (default 1)", kind="int", default=1),
        Option("--init", "init", "prototype initialisation (default etf)", kind="choice",
               choices=("etf", "separated", "random"), default="etf"),
        Option("--fixed-prototypes", "learnable", "do not learn the prototypes (ablation)", kind="false"),
        Option("--rule", "rule", "default prediction rule: last layer or sum over layers (both are reported)",
               kind="choice", choices=("last", "sum"), default="last"),
        Option("--head-dim", "head_dim", "AuxConv size d of the conv heads (default: max(channels, C x K))",
               kind="int", arch=("conv",)),
    )),)
