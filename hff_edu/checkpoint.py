"""Checkpoints (a model with its configuration) and ``train_or_load``, the training cache of every model kind.

A checkpoint is a ``torch.save`` dict: format tag, model class, constructor
config, state dict, and optional extras (history, dataset name). ``load``
rebuilds the model from the config alone; ``load_into`` checks that an
existing model has the same architecture before copying weights in.

The training cache: ``train_or_load(method, ds, widths, ...)`` builds and trains a
model kind by name, ``fit_or_load(model, ds, ...)`` trains a model you built (what
``train.fit`` does), each only once: a second call with the same configuration loads
the weights, the history and what the callbacks recorded (``make warm-cache`` fills
the cache before a class).
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
from .train import History, default_device, fit
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
    Callbacks in ``fit_kwargs`` are cached with the model (see :func:`fit_or_load`).
    Returns ``(model, history)``.
    """
    fit_kwargs = dict(fit_kwargs or {})
    callbacks = list(fit_kwargs.get("callbacks") or ())
    data_kwargs = dict(data_kwargs or {}, train_size=len(ds.train), test_size=len(ds.test))
    key_kwargs = _key_kwargs(fit_kwargs, callbacks)
    key = cache_key(method, dict(model_kwargs, widths=list(widths)), ds.name, key_kwargs, data_kwargs)
    path = _cache_dir(cache_dir) / f"{method}-{ds.name}-{key}.pt"
    if path.is_file() and not retrain:
        model, extra = load(path)
        if _restore_recordings(callbacks, extra):
            return model, History.from_dict(extra["history"])
    model = build(method, ds, widths, **model_kwargs)
    history = fit(model, ds, **fit_kwargs)
    save(model, path, history=history.to_dict(), method=method_of(model), dataset=ds.name,
         recordings=_recordings(callbacks))
    return model, history


def fit_or_load(model: LocalModel, ds: DataBundle, cache_dir: str | os.PathLike | None = None,
                retrain: bool = False, data_kwargs: dict | None = None, **fit_kwargs) -> History:
    """``train.fit(model, ds, **fit_kwargs)`` through the training cache; returns the History.

    For a model built by hand (taught in 01_forward_forward and 04_hypersphere_views).
    The key holds the model's kind, config and initial weights, the dataset (with
    ``data_kwargs``, the arguments ``ds`` was loaded with), the training arguments and
    each callback's settings (its probe tensors, ``every``, ``seed``). On a hit the trained
    weights are loaded into ``model`` and every callback gets back what it recorded
    during that training (its ``snapshots`` or ``records``), so the plots that follow are
    the same as after training. A callback that keeps its recording elsewhere cannot be
    restored: then the model is trained again.
    """
    callbacks = list(fit_kwargs.get("callbacks") or ())
    data_kwargs = dict(data_kwargs or {}, train_size=len(ds.train), test_size=len(ds.test))
    model_id = dict(config=model.config, initial_weights=_tensor_digest(model.state_dict()))
    key = cache_key(method_of(model), model_id, ds.name, _key_kwargs(fit_kwargs, callbacks), data_kwargs)
    path = _cache_dir(cache_dir) / f"{method_of(model)}-{ds.name}-{key}.pt"
    if path.is_file() and not retrain:
        extra = load_into(model, path)
        if _restore_recordings(callbacks, extra):
            device = fit_kwargs.get("device")
            model.to(torch.device(device) if device is not None else default_device()).eval()
            return History.from_dict(extra["history"])
    history = fit(model, ds, **fit_kwargs)
    save(model, path, history=history.to_dict(), method=method_of(model), dataset=ds.name,
         recordings=_recordings(callbacks))
    return history


#: where a callback keeps what it recorded (EmbeddingSnapshots, GoodnessSnapshots: snapshots; LayerStats: records)
_RECORDING_ATTRS = ("snapshots", "records")


def _cache_dir(cache_dir) -> Path:
    return Path(cache_dir) if cache_dir is not None else data_root() / "models"


def _key_kwargs(fit_kwargs: dict, callbacks: list) -> dict:
    key = {k: v for k, v in fit_kwargs.items() if k not in ("progress", "callbacks", "device")}
    if callbacks:
        key["callbacks"] = [_callback_id(cb) for cb in callbacks]
    return key


def _recording_attr(cb) -> str | None:
    return next((a for a in _RECORDING_ATTRS if isinstance(getattr(cb, a, None), list)), None)


def _callback_id(cb) -> dict:
    """A callback's class and settings (tensors by digest), without what it records."""
    attr = _recording_attr(cb)
    settings = {k: _tensor_digest(v) if torch.is_tensor(v) else repr(v)
                for k, v in sorted(vars(cb).items()) if k != attr}
    return dict(kind=type(cb).__name__, settings=settings)


def _tensor_digest(t) -> str:
    """A short hash of a tensor's (or a state dict's) values, shape and dtype."""
    h = hashlib.sha256()
    items = t.items() if isinstance(t, dict) else [("", t)]
    for name, v in items:
        v = v.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(v.shape)}:{v.dtype};".encode())
        h.update(v.numpy().tobytes() if v.dtype != torch.bfloat16 else v.float().numpy().tobytes())
    return h.hexdigest()[:16]


def _recordings(callbacks: list) -> list | None:
    """What each callback recorded, or None when one of them keeps it where we cannot find it."""
    attrs = [_recording_attr(cb) for cb in callbacks]
    if None in attrs:
        return None
    return [getattr(cb, a) for cb, a in zip(callbacks, attrs)]


def _restore_recordings(callbacks: list, extra: dict) -> bool:
    """Give every callback back its recording; False (train again) when that is not possible."""
    if not callbacks:
        return True
    stored = extra.get("recordings")
    if stored is None or len(stored) != len(callbacks) or _recordings(callbacks) is None:
        return False
    for cb, rec in zip(callbacks, stored):
        setattr(cb, _recording_attr(cb), rec)
    return True
