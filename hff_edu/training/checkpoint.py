"""Checkpoints (a model with its configuration) and ``train_or_load``, the training cache of every model kind.

A checkpoint is a ``torch.save`` dict: format tag, model class, constructor
config, state dict, and optional extras (history, dataset name, the cache key).
``load`` rebuilds the model from the config alone; ``load_into`` checks that an
existing model has the same architecture before copying weights in.

Saves are atomic and safe with several writers: each writes a temporary file of
its own in the target's folder and moves it over the target with ``os.replace``,
so a reader sees the old file or a new one, never half of one. A file that is
not a readable checkpoint (random bytes, truncated, a text file, another
program's pickle, a config that does not fit its weights) raises one
``ValueError`` naming the file and what to do.

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
import time
import uuid
import warnings
from pathlib import Path

import torch

from ..core.data import DataBundle, data_root
from ..methods import CLASSES, build, method_of
from ..core.protocol import LocalModel, check_device
from .trainer import History, default_device, default_lr, fit
from ..version import __version__

FORMAT = "hff_edu-checkpoint-1"
_FIELDS = ("kind", "config", "state_dict")


def save(model: LocalModel, path: str | os.PathLike, **extra) -> Path:
    """Write ``model`` (class, config, weights) and any JSON-able ``extra`` to ``path``, atomically."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: save needs a file name, e.g. {path / 'model.pt'}.")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"{path.parent} is a file, so {path} cannot be written inside it: "
                         "choose a path whose folder is a folder (or does not exist yet).")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(format=FORMAT, version=__version__, kind=type(model).__name__,
                   config=model.config, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                   extra=extra)
    # A temporary name of this writer's own (pid + random), in the same folder so that
    # os.replace is a rename within one file system: atomic, and never a shared ".tmp"
    # that two processes would write into and move at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _replace(src: Path, dst: Path, tries: int = 5) -> None:
    """``os.replace``, retried briefly: on Windows it fails while another process has ``dst`` open."""
    for i in range(tries):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if i == tries - 1:
                raise
            time.sleep(0.05 * (i + 1))


def _unreadable(path: Path, what: str) -> ValueError:
    return ValueError(f"{path} {what}. Delete it and train again (hff_edu.training.checkpoint.save or "
                      "`python -m hff_edu train ... --save PATH` writes a new one), or pass the right file.")


def _read(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file: pass the .pt file inside it.")
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}: check the path, or train one with "
                                "`python -m hff_edu train ... --save PATH`.")
    try:
        with warnings.catch_warnings():  # torch's own warnings about a foreign file: the error below says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # random bytes, truncated zip, text, a pickle of other classes ...
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        reason = (text.split(". ")[0] if ". " in text else text)[:120] or "no details"
        raise _unreadable(path, f"is not a readable hff_edu checkpoint: it is corrupt, truncated or "
                                f"another kind of file ({type(e).__name__}: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else None
        detail = (f"its format is {found!r}, this version of hff_edu reads {FORMAT!r}" if isinstance(found, str)
                  and found.startswith("hff_edu") else "it was not written by hff_edu.training.checkpoint.save")
        raise _unreadable(path, f"is not an hff_edu checkpoint ({detail})")
    missing = [k for k in _FIELDS if k not in payload]
    if missing or not isinstance(payload["config"], dict) or not isinstance(payload["state_dict"], dict):
        raise _unreadable(path, f"is an incomplete hff_edu checkpoint (missing or malformed: "
                                f"{', '.join(missing) or 'config/state_dict'})")
    return payload


def load(path: str | os.PathLike, device=None) -> tuple[LocalModel, dict]:
    """Rebuild the model stored at ``path``; returns ``(model, extra)``, the model in eval mode."""
    device = check_device(device) if device is not None else None
    payload = _read(path)
    kind, config = payload["kind"], payload["config"]
    if kind not in CLASSES:
        raise ValueError(f"{path} holds a {kind}, which this version of hff_edu does not know: register the "
                         "class with hff_edu.methods.register, or use the hff_edu version that wrote it.")
    try:
        model = CLASSES[kind](**config)
    except (TypeError, ValueError) as e:  # an unknown or invalid config key
        raise _unreadable(Path(path), f"holds a {kind} config this version cannot build ({e})") from None
    _load_weights(model, payload["state_dict"], Path(path), kind, config)
    model.eval()
    if device is not None:
        model.to(device)
    return model, payload.get("extra", {})


def _load_weights(model: LocalModel, state_dict: dict, path: Path, kind: str, config: dict) -> None:
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()
        raise _unreadable(path, f"holds weights that do not fit its own config ({kind} with {_arch(config)}; "
                                f"{' '.join(first[:2])[:200]})") from None


def load_into(model: LocalModel, path: str | os.PathLike) -> dict:
    """Copy the weights at ``path`` into ``model``; a different architecture raises with both named."""
    payload = _read(path)
    kind, config = payload["kind"], payload["config"]
    if kind != type(model).__name__ or _arch(config) != _arch(model.config):
        raise ValueError(f"Checkpoint {path} holds a {kind} with {_arch(config)}, but the model is a "
                         f"{type(model).__name__} with {_arch(model.config)}: build the model with the "
                         "checkpoint's configuration, or use hff_edu.training.checkpoint.load(path) which does.")
    _load_weights(model, payload["state_dict"], Path(path), kind, config)
    return payload.get("extra", {})


def _arch(config: dict) -> dict:
    """The parts of a config that decide tensor shapes."""
    keys = ("in_features", "in_channels", "widths", "channels", "num_classes", "protos_per_class",
            "label_mode", "head_dim", "input_size", "pool", "convs_per_block", "label_every_block")
    return {k: config[k] for k in keys if k in config}


# ----------------------------------------------------------------------------
# the training cache

def cache_parts(method: str, model_kwargs: dict, ds: DataBundle, fit_kwargs: dict,
                data_kwargs: dict | None = None) -> dict:
    """Everything that decides the trained weights, as plain JSON values: method, model
    arguments, training arguments, how the data was loaded, the data's fingerprint
    (``DataBundle.fingerprint``: shapes, dtypes, a hash of every split) and the package version."""
    parts = dict(method=method, model=model_kwargs, dataset=ds.name, fit=fit_kwargs,
                 data=dict(data_kwargs or {}), data_fingerprint=ds.fingerprint(), version=__version__)
    return json.loads(json.dumps(parts, sort_keys=True, default=str))


def cache_key(parts: dict) -> str:
    """A short hash (16 hex digits) of :func:`cache_parts`: the cache file's name."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def train_or_load(method: str, ds: DataBundle, widths, fit_kwargs: dict | None = None,
                  cache_dir: str | os.PathLike | None = None, retrain: bool = False,
                  data_kwargs: dict | None = None, **model_kwargs):
    """Train ``method`` on ``ds`` with ``fit_kwargs``, or load it from the cache.

    The cache file ``<data root>/models/<method>-<dataset>-<hash>.pt`` is keyed by
    the full configuration (method, model arguments and the initial weights they give,
    training arguments, package version) **and the data**: ``ds.fingerprint()`` hashes every split's tensors, so
    two bundles of the same size but different contents, or another subset seed,
    never share an entry. The key's parts are stored beside the model and compared
    on load: a file whose parts differ (a hash collision, a renamed file), an old
    file without them, or a corrupt one is retrained and overwritten, with a warning;
    another dataset's model is never returned. ``data_kwargs`` (the arguments ``ds``
    was loaded with) may be given for readability of the stored key; the fingerprint
    already decides. Callbacks in ``fit_kwargs`` are cached with the model (see
    :func:`fit_or_load`). Returns ``(model, history)``.
    """
    fit_kwargs = dict(fit_kwargs or {})
    callbacks = list(fit_kwargs.get("callbacks") or ())
    # The untrained model's weights are part of the key (building it takes milliseconds): a change
    # in how a method initialises (its prototypes, its layers) never gets an old cached model back.
    model = build(method, ds, widths, **model_kwargs)
    fit_kwargs.setdefault("lr", default_lr(model))  # the rate fit would take: a new default trains again
    model_id = dict(model_kwargs, widths=list(widths), initial_weights=_tensor_digest(model.state_dict()))
    parts = cache_parts(method, model_id, ds, _key_kwargs(fit_kwargs, callbacks), data_kwargs)
    path = _cache_dir(cache_dir) / f"{method}-{ds.name}-{cache_key(parts)}.pt"
    if path.is_file() and not retrain:
        cached = _load_cached(path, parts)
        if cached is not None and _restore_recordings(callbacks, cached[2]):
            return cached[0], cached[1]
    history = fit(model, ds, **fit_kwargs)
    save(model, path, history=history.to_dict(), method=method_of(model), dataset=ds.name, cache_key=parts,
         recordings=_recordings(callbacks))
    return model, history


def fit_or_load(model: LocalModel, ds: DataBundle, cache_dir: str | os.PathLike | None = None,
                retrain: bool = False, data_kwargs: dict | None = None, **fit_kwargs) -> History:
    """``train.fit(model, ds, **fit_kwargs)`` through the training cache; returns the History.

    For a model built by hand (taught in 01_forward_forward and 04_hypersphere_views).
    The key holds the model's kind, config and initial weights, the data (its
    fingerprint, as for :func:`train_or_load`), the training arguments and each
    callback's settings (its probe tensors, ``every``, ``seed``). On a hit the trained
    weights are loaded into ``model`` and every callback gets back what it recorded
    during that training (its ``snapshots`` or ``records``), so the plots that follow are
    the same as after training. A callback that keeps its recording elsewhere cannot be
    restored: then the model is trained again.
    """
    callbacks = list(fit_kwargs.get("callbacks") or ())
    fit_kwargs.setdefault("lr", default_lr(model))  # the rate fit would take: a new default trains again
    model_id = dict(config=model.config, initial_weights=_tensor_digest(model.state_dict()))
    parts = cache_parts(method_of(model), model_id, ds, _key_kwargs(fit_kwargs, callbacks), data_kwargs)
    path = _cache_dir(cache_dir) / f"{method_of(model)}-{ds.name}-{cache_key(parts)}.pt"
    if path.is_file() and not retrain:
        cached = _load_cached(path, parts)
        if cached is not None and _restore_recordings(callbacks, cached[2]):
            model.load_state_dict(cached[0].state_dict())
            device = fit_kwargs.get("device")
            model.to(torch.device(device) if device is not None else default_device()).eval()
            return cached[1]
    history = fit(model, ds, **fit_kwargs)
    save(model, path, history=history.to_dict(), method=method_of(model), dataset=ds.name, cache_key=parts,
         recordings=_recordings(callbacks))
    return history


def _load_cached(path: Path, parts: dict):
    """``(model, history, extra)`` from a cache file whose stored key matches ``parts``; None (with a warning) if not."""
    try:
        model, extra = load(path)
    except ValueError as e:
        warnings.warn(f"Training cache {path} is unreadable ({e}); retraining and overwriting it.", stacklevel=3)
        return None
    stored = extra.get("cache_key")
    if stored != parts or "history" not in extra:
        differ = (sorted(k for k in set(parts) | set(stored) if parts.get(k) != stored.get(k))
                  if isinstance(stored, dict) else ["(no key stored: an older cache file)"])
        warnings.warn(f"Training cache {path} was trained with other settings or data (differs in: "
                      f"{', '.join(differ)}); retraining and overwriting it.", stacklevel=3)
        return None
    return model, History.from_dict(extra["history"]), extra


#: where a callback keeps what it recorded (EmbeddingSnapshots, GoodnessSnapshots: snapshots; LayerStats: records)
_RECORDING_ATTRS = ("snapshots", "records")


def default_cache_dir() -> Path:
    """Where trained models are cached unless told otherwise: ``<data root>/models``."""
    return data_root() / "models"


def _cache_dir(cache_dir) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir()


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
