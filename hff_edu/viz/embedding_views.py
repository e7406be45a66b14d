"""Embeddings on the sphere: S^2 snapshots over training, UMAP/PCA views of wide
layers, prototype heatmaps, margins, and alignment and uniformity over training.

Taught in 04_hypersphere_views. Notation of the notebooks: ``z`` (N, d) are
unit embeddings of one layer, ``p_hat`` (C, K, d) its unit prototypes, ``y``
the labels.

A layer with d = 3 lives on S^2 and is drawn as it is. A wider layer needs a
view: ``umap_sphere`` (UMAP with cosine input distances and a spherical,
haversine output) when umap-learn is installed, else ``pca_sphere`` (the first
three principal components, normalised): ``sphere_view`` picks.

Spheres use the colour-blind-safe class colours with one marker per class and a depth cue (the far
side drawn faint). :func:`class_regions`, :func:`mutual_neighbours` and :func:`ratio_course` turn
a run into the numbers its sentences quote (which classes share a region, when a ratio turned).
"""
from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..core.geometry import class_alignment, min_pairwise_angle, uniformity
from .style import CORRECT_COLOR, OKABE_ITO, WRONG_COLOR
from .sphere import _np, class_colors, class_marker, draw_unit_sphere, plot_cosine_heatmap

VIEW_METHODS = ("auto", "direct", "umap", "pca")


# ----------------------------------------------------------------------------
# from d dimensions to S^2

def spherical_to_cartesian(theta, phi) -> np.ndarray:
    """``(theta, phi) -> (x, y, z)`` on S^2, shape (N, 3).

    ``x = sin(theta) cos(phi)``, ``y = sin(theta) sin(phi)``, ``z = cos(theta)``:
    how umap-learn's haversine output (two angles per point) becomes points on
    the unit sphere. Any real angles work (the map is periodic).
    """
    theta, phi = np.asarray(theta, dtype=float), np.asarray(phi, dtype=float)
    if theta.shape != phi.shape:
        raise ValueError(f"theta has shape {theta.shape} but phi {phi.shape}: give one angle pair per point.")
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)


def _as_matrix(z, name: str = "z") -> np.ndarray:
    z = _np(z).astype(np.float64)
    if z.ndim != 2:
        raise ValueError(f"{name} has shape {z.shape}: expected (N, d), one embedding per row.")
    if z.shape[0] < 2:
        raise ValueError(f"{name} holds {z.shape[0]} point(s): a view needs at least 2.")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or Inf.")
    return z


def _unit_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + eps)


def pca_sphere(z) -> np.ndarray:
    """The fallback view: first three principal components of ``z`` (N, d), each row normalised.

    Centre the embeddings, project onto the top-3 right singular vectors, put
    every point back on S^2. Linear and deterministic: each component's sign is fixed
    (its largest loading positive), since an SVD's signs depend on the CPU's code path. It keeps only the three directions of largest variance,
    which for 10 classes in a wide layer is rarely enough: classes overlap in
    the picture even when they are separated in d dimensions. Layers narrower
    than 3 are padded with zeros.
    """
    z = _as_matrix(z)
    centred = z - z.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt[:3]
    vt = vt * np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    proj = centred @ vt.T
    if proj.shape[1] < 3:
        proj = np.pad(proj, ((0, 0), (0, 3 - proj.shape[1])))
    return _unit_rows(proj)


def umap_available() -> bool:
    """True when umap-learn can be imported (the notebook falls back to PCA otherwise)."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def _cosine_knn(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours under cosine distance ``1 - cos`` (each point is its own first)."""
    t = torch.as_tensor(_unit_rows(z), dtype=torch.float32)
    dist = (1.0 - t @ t.T).clamp_min(0.0)
    dist.fill_diagonal_(0.0)
    d, i = dist.topk(k, dim=1, largest=False)
    return i.numpy(), d.numpy().astype(np.float32)


def umap_sphere(z, n_neighbors: int = 15, n_epochs: int | None = None, seed: int = 0,
                min_dist: float = 0.05, spread: float = 0.5, negative_sample_rate: int = 2) -> np.ndarray:
    """UMAP of ``z`` (N, d) onto S^2: ``metric="cosine"`` in, ``output_metric="haversine"`` out.

    UMAP keeps each point's nearest neighbours (under the cosine distance, the
    natural one for unit embeddings) close on the output sphere. Its output is
    two angles ``(theta, phi)`` per point, turned into (x, y, z) by
    :func:`spherical_to_cartesian`. Distances between far-apart clusters mean
    little in a UMAP picture; neighbourhoods do.

    Layout settings [ours]: ``spread=0.5``, ``min_dist=0.05`` (umap's defaults
    1.0 and 0.1 are in radians here, and on a sphere of radius 1 they smear
    the clusters over the whole surface) and ``negative_sample_rate=2``
    (less repulsion, and faster).

    Speed [ours]: the exact cosine neighbours are computed here with one matrix
    product (what umap does itself for small data) and handed over as
    ``precomputed_knn``, and umap's two graph kernels are compiled once into
    numba's on-disk cache (``NUMBA_CACHE_DIR``) instead of on every run.
    Raises ImportError (naming the fallback) when umap-learn is absent.
    """
    try:
        import umap
        import umap.umap_ as umap_core
    except ImportError as e:
        raise ImportError("umap-learn is not installed: `pip install umap-learn`, or use "
                          "pca_sphere(z) / sphere_view(z, method='pca').") from e
    z = _as_matrix(z)
    k = int(min(n_neighbors, z.shape[0] - 1))
    if k < 2:
        raise ValueError(f"UMAP needs at least 3 points, got {z.shape[0]}.")
    for kernel in ("smooth_knn_dist", "compute_membership_strengths"):
        fn = getattr(umap_core, kernel, None)
        if hasattr(fn, "enable_caching"):
            fn.enable_caching()  # compile once into NUMBA_CACHE_DIR, not in every new kernel
    knn_i, knn_d = _cosine_knn(z, k)
    reducer = umap.UMAP(n_neighbors=k, metric="cosine", output_metric="haversine",
                        n_epochs=n_epochs, random_state=seed, min_dist=min_dist, spread=spread,
                        negative_sample_rate=negative_sample_rate, precomputed_knn=(knn_i, knn_d, None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", numba chatter
        angles = reducer.fit_transform(z.astype(np.float32))
    return spherical_to_cartesian(angles[:, 0], angles[:, 1])


def sphere_view(z, method: str = "auto", **umap_kwargs) -> tuple[np.ndarray, str]:
    """Points on S^2 that picture ``z`` (N, d); returns ``(xyz, method_used)``.

    ``direct``: ``z`` already has d = 3, normalise it. ``umap``: :func:`umap_sphere`.
    ``pca``: :func:`pca_sphere`. ``auto``: direct for d = 3, else umap when
    installed, else pca (the documented fallback).
    """
    if method not in VIEW_METHODS:
        raise ValueError(f"Unknown view {method!r}: choose one of {', '.join(VIEW_METHODS)}.")
    z = _as_matrix(z)
    if method == "auto":
        method = "direct" if z.shape[1] == 3 else "umap" if umap_available() else "pca"
    if method == "direct":
        if z.shape[1] != 3:
            raise ValueError(f"method='direct' draws 3-d embeddings as they are, but d={z.shape[1]}: "
                             "use 'umap' or 'pca'.")
        return _unit_rows(z), method
    if method == "umap":
        return umap_sphere(z, **umap_kwargs), method
    return pca_sphere(z), method


# ----------------------------------------------------------------------------
# spheres

def _class_legend(fig: Figure, class_names, n: int) -> None:
    colors = class_colors(n)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    handles = [Line2D([], [], marker=class_marker(i), linestyle="", color=colors[i], label=names[i]) for i in range(n)]
    handles += [Line2D([], [], marker="*", linestyle="", color="grey", mec="black", ms=10, label="prototype"),
                Line2D([], [], marker="o", linestyle="", color="grey", alpha=0.25, label="far side (faint)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)


def draw_octant(ax, color: str = "black") -> None:
    """The boundary of the positive octant ``x, y, z >= 0`` of S^2: three quarter circles."""
    t = np.linspace(0, np.pi / 2, 50)
    c, s = np.cos(t), np.sin(t)
    o = np.zeros_like(t)
    for x, y, z in ((c, s, o), (o, c, s), (s, o, c)):
        ax.plot(x, y, z, color=color, linewidth=1.2, linestyle="--", alpha=0.7)


def view_direction(elev: float, azim: float) -> np.ndarray:
    """The unit vector from the centre towards the camera of a 3-D axis with ``view_init(elev, azim)``:
    a point ``p`` on S^2 faces the viewer when ``p . v > 0`` and lies on the far side otherwise."""
    e, a = np.radians(elev), np.radians(azim)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def _draw_view(ax, view: dict, class_names, elev: float, azim: float, point_size: float) -> int:
    """One sphere of :func:`plot_sphere_grid` with a depth cue: points and prototypes on the far side
    of the sphere are drawn faint and small, those facing the viewer solid. Returns the number of
    classes it drew."""
    draw_unit_sphere(ax)
    ax.set_box_aspect((1, 1, 1), zoom=1.3)  # 3-d axes leave a wide empty margin otherwise
    v = view_direction(elev, azim)
    labels, protos = view.get("labels"), view.get("prototypes")
    n_classes = int(_np(labels).max()) + 1 if labels is not None else 0
    if protos is not None:
        n_classes = max(n_classes, _np(protos).shape[0])
    colors = class_colors(max(n_classes, 1))
    if view.get("points") is not None:
        p = _unit_rows(_np(view["points"]).astype(np.float64))
        lab = _np(labels).astype(int) if labels is not None else np.zeros(len(p), dtype=int)
        front = p @ v >= 0
        for ci in np.unique(lab):  # one scatter per class and side: its own colour and marker
            for side, alpha, size in ((~front, 0.12, 0.5 * point_size), (front, 0.75, point_size)):
                q = p[(lab == ci) & side]
                if len(q):
                    ax.scatter(q[:, 0], q[:, 1], q[:, 2], c=[colors[ci]], marker=class_marker(int(ci)),
                               s=size, alpha=alpha, depthshade=False, linewidths=0)
    if protos is not None:
        pr = _np(protos)
        pr = pr[:, None] if pr.ndim == 2 else pr
        for ci in range(pr.shape[0]):
            for q in _unit_rows(pr[ci].astype(np.float64)):
                near = float(q @ v) >= 0
                ax.plot([0, q[0]], [0, q[1]], [0, q[2]], color=colors[ci], linewidth=1.0 if near else 0.6,
                        alpha=1.0 if near else 0.35, linestyle="-" if near else ":")
                ax.scatter([q[0]], [q[1]], [q[2]], marker="*", s=240 if near else 120, c=[colors[ci]],
                           edgecolors="black", linewidths=0.8, alpha=1.0 if near else 0.35, depthshade=False)
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(view.get("title", ""), fontsize=9)
    return n_classes


def plot_sphere_grid(views: list[dict], class_names=None, ncols: int = 4, title: str = "",
                     elev: float = 20, azim: float = 35, point_size: float = 6) -> Figure:
    """A grid of spheres, one per ``views`` entry, with one shared class legend.

    Each view is a dict with ``points`` (N, 3), ``labels`` (N,), optional
    ``prototypes`` ((C, 3) or (C, K, 3), drawn as stars with a line from the
    centre), ``title``, and ``octant=True`` to outline the positive octant
    (where ReLU embeddings must stay). Classes take the colour-blind-safe class colours and one
    marker each (``core/palette.py``); what lies on the far side of a sphere is drawn faint and
    small (a depth cue, :func:`view_direction`). Used for snapshots over epochs and for
    per-layer UMAP/PCA views.
    """
    if not views:
        raise ValueError("No views to draw: pass at least one dict with 'points' and 'labels'.")
    ncols = max(1, min(ncols, len(views)))
    nrows = math.ceil(len(views) / ncols)
    fig = plt.figure(figsize=(3.2 * ncols, 3.2 * nrows + 0.9))
    n_classes = 0
    for i, v in enumerate(views):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        n_classes = max(n_classes, _draw_view(ax, v, class_names, elev, azim, point_size))
        if v.get("octant"):
            draw_octant(ax)
    if n_classes:
        _class_legend(fig, class_names, n_classes)
    if title:
        fig.suptitle(title)
    legend_h = 0.8 / fig.get_figheight()  # the class legend's share of the figure
    top = 1 - (0.6 if title else 0.3) / fig.get_figheight()
    fig.subplots_adjust(left=0, right=1, top=top, bottom=legend_h, wspace=0.0, hspace=0.1)
    return fig


def _snapshot(snapshots: list[dict], epoch: int) -> dict:
    for s in snapshots:
        if s["epoch"] == epoch:
            return s
    raise ValueError(f"No snapshot at epoch {epoch}: snapshots exist for epochs {[s['epoch'] for s in snapshots]}.")


def _s2_view(snap: dict, layer: int, y, title: str, octant: bool = False) -> dict:
    z = snap["embeddings"][layer]
    if z.shape[1] != 3:
        raise ValueError(f"Layer {layer} has d={z.shape[1]}: only a 3-d layer lives on S^2. "
                         "Use sphere_view(z) (UMAP or PCA) for wider layers.")
    protos = snap["prototypes"][layer] if snap.get("prototypes") is not None else None
    return dict(points=z, labels=y, prototypes=protos, title=title, octant=octant)


def plot_snapshot(snapshots: list[dict], y, epoch: int, layer: int = -1, class_names=None,
                  elev: float = 20, azim: float = 35, octant: bool = False, title: str = "") -> Figure:
    """One S^2 layer (samples and prototypes) at one epoch of ``EmbeddingSnapshots.snapshots``.

    Epoch 0 is the untrained network; ``octant=True`` outlines the positive
    octant. What the epoch slider of 04_hypersphere_views scrubs through.
    """
    snap = _snapshot(snapshots, epoch)
    view = _s2_view(snap, layer, y, title or f"epoch {epoch}", octant)
    return plot_sphere_grid([view], class_names, ncols=1, elev=elev, azim=azim, point_size=8)


def plot_snapshot_grid(snapshots: list[dict], y, epochs=None, layer: int = -1, class_names=None,
                       title: str = "", elev: float = 20, azim: float = 35, octant: bool = False) -> Figure:
    """The same S^2 layer at several epochs side by side (default: 4 epochs from 0 to the last)."""
    available = [s["epoch"] for s in snapshots]
    if not available:
        raise ValueError("No snapshots: pass EmbeddingSnapshots(...).snapshots after training.")
    if epochs is None:
        idx = np.unique(np.linspace(0, len(available) - 1, min(4, len(available))).round().astype(int))
        epochs = [available[i] for i in idx]
    views = [_s2_view(_snapshot(snapshots, e), layer, y, f"epoch {e}", octant) for e in epochs]
    return plot_sphere_grid(views, class_names, ncols=len(views), title=title, elev=elev, azim=azim)


# ----------------------------------------------------------------------------
# prototypes and margins

def plot_prototype_heatmaps(prototypes: list, class_names=None, layer_names=None, title: str = "") -> Figure:
    """Pairwise cosines ``<p_hat_i, p_hat_j>`` of each layer's prototypes, one heatmap per layer.

    A simplex ETF shows -1/(C-1) everywhere off the diagonal; 10 prototypes in
    d = 3 cannot, so the S^2 layer shows a mix of near and far pairs. The
    title gives d and the smallest angle between two prototypes.
    """
    if not prototypes:
        raise ValueError("No prototypes: pass model.prototypes() (one (C, K, d) tensor per layer).")
    n = len(prototypes)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 4), squeeze=False)
    for i, (p, ax) in enumerate(zip(prototypes, axes[0])):
        p = torch.as_tensor(_np(p), dtype=torch.float32)
        flat = p.reshape(-1, p.shape[-1])
        name = layer_names[i] if layer_names is not None else f"layer {i + 1} (d={flat.shape[1]})"
        names = list(class_names) if class_names is not None and len(class_names) == len(flat) else None
        plot_cosine_heatmap(flat, names, title=f"{name}: smallest angle {min_pairwise_angle(flat):.0f}°", ax=ax)
        ax.set_xlabel("prototype of class")
        ax.set_ylabel("prototype of class")
        ax.title.set_fontsize(9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_margin_histograms(margins: list, correct, layer_names=None, bins: int = 40, title: str = "") -> Figure:
    """Per-layer histograms of the prototype margin, correctly vs wrongly classified samples.

    ``margins[l]`` (N,) is ``geometry.prototype_margin(z_l, p_hat_l, y)``:
    cosine to the own class's prototype minus the best other class's. Positive
    means the layer puts the sample nearest its own prototype. ``correct`` (N,)
    says whether the *network's* prediction was right.
    """
    if not margins:
        raise ValueError("No margins to draw: pass one (N,) tensor per layer.")
    correct = _np(correct).astype(bool)
    n = len(margins)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False, sharey=True)
    edges = np.linspace(-2, 2, bins + 1)
    for i, (m, ax) in enumerate(zip(margins, axes[0])):
        m = _np(m)
        if m.shape != correct.shape:
            raise ValueError(f"margins[{i}] has shape {m.shape} but correct has {correct.shape}.")
        for mask, color, label in ((correct, CORRECT_COLOR, "correct"), (~correct, WRONG_COLOR, "wrong")):
            if mask.any():
                ax.hist(m[mask], bins=edges, color=color, alpha=0.55,
                        label=f"{label} (n={mask.sum()}, mean {m[mask].mean():+.2f})")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("margin = cos(own) - max cos(other)")
        ax.set_title(layer_names[i] if layer_names is not None else f"layer {i + 1}", fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    axes[0][0].set_ylabel("samples")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# alignment and uniformity (Wang & Isola, 2020)

def spread(z) -> float:
    """Mean squared distance between two distinct unit embeddings: ``2N/(N-1) * (1 - ||mean z||^2)``.

    What a random pair's ``||z_i - z_j||^2`` is on average: 0 when every point
    sits in the same spot, about 2 when the mean direction vanishes.
    """
    z = _unit_rows(_as_matrix(z))
    n = z.shape[0]
    return float(2.0 * n / (n - 1) * (1.0 - np.sum(z.mean(axis=0) ** 2)))


def alignment_uniformity(snapshots: list[dict], y, max_pairs: int = 10000) -> dict:
    """Per layer and per snapshot: alignment, uniformity, spread and alignment ratio.

    Returns a dict with ``epochs`` (E,) and, each as a list over layers of
    lists over epochs: ``alignment`` (``E ||z_i - z_j||^2`` over same-class
    pairs, lower = classes tighter), ``uniformity`` (``log E exp(-2 ||z_i - z_j||^2)``,
    lower = more evenly spread), ``spread`` (:func:`spread`) and
    ``ratio = alignment / spread`` [ours]: how close a same-class pair is
    compared with a random pair. Embeddings are normalised first, so a
    backprop net's hidden activities can be compared too.
    """
    if not snapshots:
        raise ValueError("No snapshots: pass EmbeddingSnapshots(...).snapshots after training.")
    y = torch.as_tensor(_np(y)).long()
    n_layers = len(snapshots[0]["embeddings"])
    out = dict(epochs=[s["epoch"] for s in snapshots],
               alignment=[[] for _ in range(n_layers)], uniformity=[[] for _ in range(n_layers)],
               spread=[[] for _ in range(n_layers)], ratio=[[] for _ in range(n_layers)])
    for snap in snapshots:
        for l, z in enumerate(snap["embeddings"]):
            z = torch.as_tensor(_np(z), dtype=torch.float32)
            a, s = class_alignment(z, y, max_pairs=max_pairs), spread(z)
            out["alignment"][l].append(a)
            out["uniformity"][l].append(uniformity(z))
            out["spread"][l].append(s)
            out["ratio"][l].append(a / max(s, 1e-12))
    return out


def _series(stats: dict):
    """(name, layer index, stats) for every model and layer, with a colour per model and a style per layer."""
    styles = ["-", "--", ":", "-."]
    for m, (name, st) in enumerate(stats.items()):
        for l in range(len(st["alignment"])):  # the colour-blind-safe palette, one colour per model
            yield f"{name} L{l + 1}", st, l, OKABE_ITO[m % len(OKABE_ITO)], styles[l % len(styles)]


def plot_alignment_uniformity_curves(stats: dict, title: str = "") -> Figure:
    """Alignment, alignment ratio and uniformity per layer against the epoch (epoch 0 = untrained).

    ``stats`` maps a model name to the output of :func:`alignment_uniformity`.
    Lower is better on all three panels.
    """
    if not stats:
        raise ValueError("No statistics: pass {name: alignment_uniformity(...)}.")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    keys = (("alignment", "alignment  E||z_i - z_j||² (same class)"),
            ("ratio", "alignment / spread  [ours]"),
            ("uniformity", "uniformity  log E exp(-2||z_i - z_j||²)"))
    for label, st, l, color, style in _series(stats):
        for ax, (key, _) in zip(axes, keys):
            ax.plot(st["epochs"], st[key][l], style, marker="o", markersize=3, color=color, label=label)
    for ax, (key, ylabel) in zip(axes, keys):
        ax.set_xlabel("epoch (0 = untrained)")
        ax.set_ylabel(f"{key} (lower is better)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(ylabel, fontsize=9)
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_wang_isola(stats: dict, title: str = "") -> Figure:
    """The Wang-Isola plane: uniformity on x, alignment on y (left) or alignment ratio (right).

    Each model and layer is a trajectory from epoch 0 (circle) to the last
    epoch (star). Good embeddings sit low and to the left: same-class points
    close together, all points spread over the sphere.
    """
    if not stats:
        raise ValueError("No statistics: pass {name: alignment_uniformity(...)}.")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, st, l, color, style in _series(stats):
        u = st["uniformity"][l]
        for ax, key in zip(axes, ("alignment", "ratio")):
            a = st[key][l]
            ax.plot(u, a, style, color=color, linewidth=1.2, label=label)
            ax.scatter(u[0], a[0], marker="o", s=30, color=color, edgecolors="black", zorder=3)
            ax.scatter(u[-1], a[-1], marker="*", s=140, color=color, edgecolors="black", zorder=3)
    axes[0].set_ylabel("alignment (same-class pairs)")
    axes[1].set_ylabel("alignment / spread  [ours]")
    for ax in axes:
        ax.set_xlabel("uniformity  (lower = more uniform)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left")
    axes[0].set_title("raw alignment: o = epoch 0, * = last epoch; lower left is better", fontsize=9)
    axes[1].set_title("alignment ratio: same-class pairs against a random pair", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# what a run shows, as numbers a sentence can quote

def class_regions(z, y, prototypes, class_names=None) -> list[dict]:
    """Per class, where one layer puts it: computed from embeddings ``z`` (N, d), labels ``y`` and the
    layer's prototypes ((C, d) or (C, K, d); the first of each class's K is used for angles).

    Each row: ``name``; ``accuracy`` (share of the class whose nearest prototype is its own);
    ``confused_with`` and ``confused_share`` (the class its wrong samples go to most often, and
    the share of the class that goes there); ``nearest`` and ``angle`` (the class whose prototype is
    nearest to its own, and the angle between them, in degrees). What "a region of its own"
    means, measured rather than read off a picture.
    """
    z = torch.as_tensor(_np(z), dtype=torch.float32)
    y = torch.as_tensor(_np(y)).long().reshape(-1)
    p = torch.as_tensor(_np(prototypes), dtype=torch.float32)
    p = p[:, None] if p.dim() == 2 else p
    if z.dim() != 2 or len(z) != len(y) or p.shape[-1] != z.shape[1]:
        raise ValueError(f"z {tuple(z.shape)}, y {tuple(y.shape)} and prototypes {tuple(p.shape)} do not fit: "
                         "give (N, d) embeddings, N labels and (C, K, d) prototypes of the same layer.")
    c = p.shape[0]
    unit = p / p.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    zn = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    pred = (zn @ unit.reshape(-1, unit.shape[-1]).T).reshape(len(z), c, -1).amax(2).argmax(1)
    first = unit[:, 0]
    angles = torch.rad2deg(torch.arccos((first @ first.T).clamp(-1, 1)))
    angles.fill_diagonal_(float("inf"))
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    rows = []
    for k in range(c):
        mine = y == k
        n = int(mine.sum())
        wrong = pred[mine & (pred != k)]
        counts = torch.bincount(wrong, minlength=c) if len(wrong) else torch.zeros(c, dtype=torch.long)
        other = int(counts.argmax())
        rows.append(dict(name=names[k], n=n, accuracy=float((pred[mine] == k).float().mean()) if n else float("nan"),
                         confused_with=names[other] if len(wrong) else None,
                         confused_share=float(counts[other]) / n if n else 0.0,
                         nearest=names[int(angles[k].argmin())], angle=float(angles[k].min())))
    return rows


def mutual_neighbours(rows: list[dict]) -> list[tuple[str, str, float]]:
    """Pairs of classes whose prototypes are each other's nearest (from :func:`class_regions`),
    closest pair first: ``(class, class, angle in degrees)``."""
    by_name = {r["name"]: r for r in rows}
    pairs = {tuple(sorted((r["name"], r["nearest"]))): r["angle"] for r in rows
             if by_name[r["nearest"]]["nearest"] == r["name"]}
    return sorted(((a, b, ang) for (a, b), ang in pairs.items()), key=lambda t: t[2])


def ratio_course(stats: dict) -> list[dict]:
    """How the alignment ratio moved in every model and layer of ``stats`` (model name ->
    :func:`alignment_uniformity`): ``series`` ("HFF wide L1"), ``first`` and ``last`` value, the
    epoch and value of its ``lowest`` point, and ``rise`` (last minus lowest): what a sentence about
    "after epoch k the ratio crept up again" needs, computed from every epoch rather than two."""
    out = []
    for name, st in stats.items():
        for l, r in enumerate(st["ratio"]):
            r = np.asarray(r, dtype=float)
            i = int(np.argmin(r))
            out.append(dict(series=f"{name} L{l + 1}", model=name, layer=l + 1, first=float(r[0]), last=float(r[-1]),
                            lowest=float(r[i]), lowest_epoch=int(st["epochs"][i]), rise=float(r[-1] - r[i])))
    return out
