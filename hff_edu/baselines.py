"""Baselines that make the comparison honest, on the same layer widths.

- :class:`BPNet`: end-to-end backpropagation, one linear head, cross-entropy.
- :class:`LocalCENet`: local cross-entropy (Mono-Forward / Nokland-Eidnes "pred"):
  every layer has its own linear classifier head and its input is detached. No
  sphere, no prototypes: it isolates what the hypersphere and the prototypes
  add on top of plain local classification.

Taught in 03_hff_training.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .protocol import MLPModel


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
            sizes = [in_features] + self.widths
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.head = nn.Linear(self.widths[-1], num_classes)

    @property
    def loss_names(self) -> list[str]:
        return ["end-to-end"]

    @property
    def layer_names(self) -> list[str]:
        return ["output"]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        a = self.flat_input(x)
        for layer in self.layers:
            a = F.relu(layer(a))  # no detach: gradients flow through every layer
        return self.head(a)

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """One loss, the cross-entropy at the output: its gradient reaches every layer."""
        y = self.check_labels(y, x.shape[0])
        yield F.cross_entropy(self.logits(x), y)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.predict(x)]

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer hidden activities, for visualisation."""
        with torch.no_grad():
            a, out = self.flat_input(x), []
            for layer in self.layers:
                a = F.relu(layer(a))
                out.append(a)
            return out


class LocalCENet(MLPModel):
    """``Linear -> ReLU`` layers, each with its own linear head and cross-entropy, detached between layers."""

    def __init__(self, in_features: int, widths, num_classes: int, seed: int = 0):
        super().__init__(in_features, widths, num_classes, config=dict(seed=seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sizes = [in_features] + self.widths
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
            self.heads = nn.ModuleList(nn.Linear(w, num_classes) for w in self.widths)

    @property
    def loss_names(self) -> list[str]:
        return self.layer_names

    def activities(self, x: torch.Tensor, detach: bool = True) -> tuple[list, list]:
        """One forward pass: every layer's activity and its head's logits."""
        a, hs, logits = x, [], []
        for layer, head in zip(self.layers, self.heads):
            a = F.relu(layer(a.detach() if detach else a))
            hs.append(a)
            logits.append(head(a))
        return hs, logits

    def embeddings(self, x: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            return self.activities(self.flat_input(x))[0]

    def iter_losses(self, x: torch.Tensor, y: torch.Tensor, generator=None):
        """Per-layer cross-entropy of each layer's own head, yielded layer by layer."""
        x = self.flat_input(x)
        y = self.check_labels(y, x.shape[0])
        a = x
        for layer, head in zip(self.layers, self.heads):
            a = F.relu(layer(a.detach()))
            yield F.cross_entropy(head(a), y)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's head."""
        return self.activities(self.flat_input(x))[1][-1].argmax(1)

    @torch.no_grad()
    def layer_predictions(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [z.argmax(1) for z in self.activities(self.flat_input(x))[1]]


def __getattr__(name: str):
    # The convolutional versions live in hff_edu.conv (imported on first use).
    if name in ('BPConvNet', 'LocalCEConvNet'):
        from . import conv
        return getattr(conv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
