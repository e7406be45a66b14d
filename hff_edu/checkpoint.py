"""Checkpoints (a model with its configuration) and ``train_or_load``, the training cache of every model kind.

A checkpoint is a ``torch.save`` dict: format tag, model class, constructor
config, state dict, and optional extras (history, dataset name). ``load``
rebuilds the model from the config alone; ``load_into`` checks that an
existing model has the same architecture before copying weights in.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .data import DataBundle, data_root
from .models import CLASSES, build, method_of
from .protocol import LocalModel
from .train import History, fit
from .version import __version__

FORMAT = "hff_edu-checkpoint-1"


def save(model: LocalModel, path: str | os.PathLike, **extra) -> Path:
    """Write ``model`` (class, config, weights) and any JSON-able ``extra`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(format=FORMAT, version=__version__, kind=type(model).__name__,
                   config=model.config, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                   extra=extra)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind
    return path


def _read(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}: check the path, or train one with "
                                "`python -m hff_edu train ... --save PATH`.")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an hff_edu checkpoint (written by hff_edu.checkpoint.save).")
    return payload


def load(path: str | os.PathLike, device=None) -> tuple[LocalModel, dict]:
    """Rebuild the model stored at ``path``; returns ``(model, extra)``."""
    payload = _read(path)
    kind = payload["kind"]
    if kind not in CLASSES:
        raise ValueError(f"{path} holds a {kind}, which this version of hff_edu does not know.")
    model = CLASSES[kind](**payload["config"])
    model.load_state_dict(payload["state_dict"])
    model.eval()
    if device is not None:
        model.to(device)
    return model, payload.get("extra", {})


def load_into(model: LocalModel, path: str | os.PathLike) -> dict:
    """Copy the weights at ``path`` into ``model``; a different architecture raises with both named."""
    payload = _read(path)
    kind, config = payload["kind"], payload["config"]
    if kind != type(model).__name__ or _arch(config) != _arch(model.config):
        raise ValueError(f"Checkpoint {path} holds a {kind} with {_arch(config)}, but the model is a "
                         f"{type(model).__name__} with {_arch(model.config)}: build the model with the "
                         "checkpoint's configuration, or use hff_edu.checkpoint.load(path) which does.")
    model.load_state_dict(payload["state_dict"])
    return payload.get("extra", {})


def _arch(config: dict) -> dict:
    """The parts of a config that decide tensor shapes."""
    keys = ("in_features", "in_channels", "widths", "channels", "num_classes", "protos_per_class",
            "label_mode", "head_dim", "input_size", "pool", "convs_per_block", "label_every_block")
    return {k: config[k] for k in keys if k in config}


# ----------------------------------------------------------------------------
# the training cache

def cache_key(method: str, model_kwargs: dict, dataset: str, fit_kwargs: dict, data_kwargs: dict) -> str:
    """A short hash of everything that decides the trained weights."""
    blob = json.dumps(dict(method=method, model=model_kwargs, dataset=dataset, fit=fit_kwargs,
                           data=data_kwargs, version=__version__), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_or_load(method: str, ds: DataBundle, widths, fit_kwargs: dict | None = None,
                  cache_dir: str | os.PathLike | None = None, retrain: bool = False,
                  data_kwargs: dict | None = None, **model_kwargs):
    """Train ``method`` on ``ds`` with ``fit_kwargs``, or load it from the cache.

    The cache file ``<data root>/models/<method>-<dataset>-<hash>.pt`` is keyed by
    the full configuration (method, model arguments, dataset and how it was
    subsetted, training arguments, package version), so any change retrains.
    ``data_kwargs`` should hold the arguments ``ds`` was loaded with (subset, seed).
    Returns ``(model, history)``.
    """
    fit_kwargs = dict(fit_kwargs or {})
    data_kwargs = dict(data_kwargs or {}, train_size=len(ds.train), test_size=len(ds.test))
    key_kwargs = {k: v for k, v in fit_kwargs.items() if k not in ("progress", "callbacks", "device")}
    key = cache_key(method, dict(model_kwargs, widths=list(widths)), ds.name, key_kwargs, data_kwargs)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_root() / "models"
    path = cache_dir / f"{method}-{ds.name}-{key}.pt"
    if path.is_file() and not retrain and not fit_kwargs.get("callbacks"):
        model, extra = load(path)
        return model, History.from_dict(extra["history"])
    model = build(method, ds, widths, **model_kwargs)
    history = fit(model, ds, **fit_kwargs)
    save(model, path, history=history.to_dict(), method=method_of(model), dataset=ds.name)
    return model, history
