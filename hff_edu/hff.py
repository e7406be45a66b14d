"""Hyperspherical Forward-Forward (Sarode et al., 2026): local classification against prototypes.

Read side by side with ``ff.py``: the same four parts (layer, loss, network,
predict), in the same order. Taught in 02_prototype_geometry and 03_hff_training.

Notation (the notebooks use the same):

    u       = a_{l-1}.detach()                        local learning
    h       = ReLU(W u + b)
    z       = h / ||h||                               onto the unit sphere
    s[c,k]  = <z, p_hat[c,k]>                         cosine to prototype k of class c
    S[c]    = tau_p * logsumexp_k(s[c,k] / tau_p)     LogSumExp matching (= s[c,1] for K = 1)
    L       = cross_entropy((S - m * onehot(y)) / tau, y)
            = softplus((LSE_{c != y} S[c] - S[y] + m) / tau)   (LSE at temperature tau)

No negative data and no label in the input: every other class's prototype sits
in the softmax denominator and is pushed away (the implicit negatives). One
forward pass trains and one forward pass predicts. Only the paper's abstract is
public: everything marked [ours] below (temperature default, margin, prototype
initialisation, prediction rule) is this project's choice, and each is a
constructor argument here (the notebooks say which is which).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .geometry import init_prototypes
from .protocol import MLPModel, check_positive

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
# 2. layer and loss

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


def hff_loss(scores: torch.Tensor, y: torch.Tensor, tau: float, margin: float = 0.0) -> torch.Tensor:
    """Smooth-margin loss ``cross_entropy((S - m * onehot(y)) / tau, y)``, averaged over the batch.

    Equal to ``softplus((LSE_{c != y} S[c] - S[y] + m) / tau)`` with the LSE at
    temperature tau: small only when the true class beats every other class by m.
    """
    if margin:
        scores = scores - margin * F.one_hot(y, scores.shape[1]).to(scores)
    return F.cross_entropy(scores / tau, y)


# ----------------------------------------------------------------------------
# 3. network

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
        self.tau = check_positive("tau", tau if tau is not None else default_tau(num_classes),
                                  "It is the temperature of the softmax over prototype scores; try 0.1.")
        if int(protos_per_class) != protos_per_class or protos_per_class < 1:
            raise ValueError(f"protos_per_class={protos_per_class}: must be a positive integer.")
        if not margin >= 0:
            raise ValueError(f"margin={margin}: must be >= 0 (0 turns the margin off).")
        self.margin = float(margin)
        self.rule = _check_rule(rule)
        self.sum_skip_first = bool(sum_skip_first)
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
        """Per-layer sphere embeddings ``z``, for visualisation."""
        with torch.no_grad():
            return self.activities(self.flat_input(x))[0]

    def prototypes(self) -> list[torch.Tensor]:
        """Per-layer unit prototypes, each (C, K, d), detached."""
        return [layer.prototypes.unit.detach() for layer in self.layers]

    # -- training --------------------------------------------------------------
    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-layer smooth-margin losses, all from one forward pass, yielded layer by layer."""
        x = self.flat_input(x)
        y = self.check_labels(y, x.shape[0])
        a = x
        for layer in self.layers:
            a, s = layer(a.detach())
            yield hff_loss(s, y, self.tau, self.margin)

    # -- prediction ------------------------------------------------------------
    @torch.no_grad()
    def layer_scores(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's prototype scores ``S_l`` (N, C) from a single forward pass."""
        return self.activities(self.flat_input(x))[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor, rule: str | None = None, skip_first: bool | None = None) -> torch.Tensor:
        """``last``: argmax of the last layer's S; ``sum``: argmax of sum_l softmax(S_l / tau),
        leaving layer 1 out when ``skip_first`` (default: the model's ``sum_skip_first``).

        The ``last`` rule scores only the last layer: with many classes the
        prototype products (N x d x C per layer) are a real part of the pass.
        """
        if _check_rule(rule or self.rule) == "last":
            a = self.flat_input(x)
            for layer in self.layers[:-1]:
                a = layer.embed(a)
            return self.layers[-1](a)[1].argmax(1)
        return self._combine(self.layer_scores(x), rule, skip_first)

    def _combine(self, scores: list[torch.Tensor], rule: str | None = None,
                 skip_first: bool | None = None) -> torch.Tensor:
        rule = _check_rule(rule or self.rule)
        if rule == "last":
            return scores[-1].argmax(1)
        skip = self.sum_skip_first if skip_first is None else skip_first
        start = 1 if skip and len(scores) > 1 else 0
        return sum((s / self.tau).softmax(1) for s in scores[start:]).argmax(1)

    @torch.no_grad()
    def predict_and_layers(self, x: torch.Tensor):
        """Prediction and per-layer predictions from the same single pass."""
        scores = self.layer_scores(x)
        return self._combine(scores), [s.argmax(1) for s in scores]

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's own nearest-prototype class (one pass for all layers)."""
        return [s.argmax(1) for s in self.layer_scores(x)]


def _check_rule(rule: str) -> str:
    if rule not in ("last", "sum"):
        raise ValueError(f"Unknown HFF prediction rule {rule!r}: choose 'last' or 'sum'.")
    return rule


def __getattr__(name: str):
    # The convolutional versions live in hff_edu.conv (imported on first use).
    if name in ('HFFConvNet',):
        from . import conv
        return getattr(conv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
