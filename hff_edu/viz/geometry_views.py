"""Prototype geometry on the unit hypersphere: figures for 02_prototype_geometry.

Notation of the notebook: ``h`` a layer's activity, ``z = h / ||h||`` its
direction on the sphere, ``p_c`` the unit prototype of class c,
``s_c = <z, p_c>`` the cosine, ``S[c] = tau_p * logsumexp_k(s[c,k] / tau_p)``
with K prototypes per class, ``tau`` the temperature of the loss
``L = cross_entropy((S - m * onehot(y)) / tau, y)``.

- :func:`best_case_margin`, :func:`best_case_loss`: the loss floor, for embeddings anywhere on the
  sphere and for ReLU embeddings (closed form).
- :func:`plot_projection`: vectors, their projection onto S^1, dot product vs cosine.
- :func:`plot_softmax_temperature`: softmax(s / tau) of fixed cosines for several tau.
- :func:`plot_loss_floor`: the lowest reachable loss against tau.
- :func:`plot_floor_runs`: gradient-descent runs of the loss against the floors they should reach.
- :func:`plot_gradient_field`: the pull to the own prototype and the push from the others, on S^1.
- :func:`plot_sphere_grid`: point sets on S^2 side by side, with their contact edges.
- :func:`plot_separation_history`: the Tammes optimiser at work (minimum angle per step).
- :func:`plot_min_angle_vs_dim`: how far n points can be spread in d dimensions.
- :func:`plot_lse_matching`: LogSumExp matching S(theta) of K prototypes for several tau_p.
- :func:`plot_margin_loss`: the HFF loss against the score gap, with and without margin.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..core.geometry import cosine_matrix, normalise
from ..methods.hff import Prototypes, hff_loss
from .style import BLUE, SKY, VERMILLION
from ..core.palette import series_colors
from .sphere import class_colors, plot_sphere


#: viridis without its light yellow end (yellow on white cannot be read)
_DARK_VIRIDIS = ListedColormap(plt.get_cmap("viridis")(np.linspace(0.0, 0.8, 256)), name="viridis_dark")


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _check_taus(taus) -> list[float]:
    taus = [float(t) for t in np.atleast_1d(_np(taus))]
    if not taus:
        raise ValueError("taus is empty: give at least one temperature, e.g. [0.1, 1.0].")
    if any(not t > 0 for t in taus):
        raise ValueError(f"taus={taus}: every temperature must be > 0.")
    return taus


# ----------------------------------------------------------------------------
# the sphere and the temperature

def best_case_margin(num_classes: int, relu: bool = False) -> float:
    """The largest score gap ``s_y - s_c`` that one unit embedding per class can keep from every other
    class at once: ``1 + 1/(C-1) = C/(C-1)`` when the embeddings may point anywhere (each on its
    prototype, the prototypes a simplex ETF), ``sqrt(C/(C-1))`` when they are ReLU outputs.

    Why the ReLU case is lower: ``z = sphere(ReLU(...))`` has no negative coordinate, so two
    embeddings never have a negative cosine, and embeddings sitting on ETF prototypes (pairwise
    cosine ``-1/(C-1)``) are out of reach. The best found is ``z_c = e_c`` (one-hot) with prototypes
    ``p_c`` proportional to ``e_c - 1/C``: ``s_y = sqrt((C-1)/C)``, ``s_c = -1/sqrt(C(C-1))``
    [ours: numerically optimal, checked by gradient descent in 02_prototype_geometry; no proof here].
    Taught in 02_prototype_geometry.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: need at least 2 classes.")
    c = num_classes
    return math.sqrt(c / (c - 1)) if relu else c / (c - 1)


def best_case_loss(num_classes: int, tau: float, margin: float = 0.0, relu: bool = False) -> float:
    """The loss floor: the lowest average HFF loss reachable with unit vectors,
    ``log(1 + (C-1) * exp(-(M - m) / tau))`` with ``M`` = :func:`best_case_margin`.

    ``relu=False`` (embeddings anywhere on the sphere, e.g. ``HFFNet(last_relu=False)``'s last layer):
    ``M = 1 + 1/(C-1)``, every sample on its prototype (``s_y = 1``) and every other
    score at ``-1/(C-1)``. Why no better: with one unit prototype per class,
    ``||sum_c p_c||^2 >= 0`` forces the mean pairwise cosine to be ``>= -1/(C-1)``; the loss is
    convex in the scores, so on average over balanced classes it is smallest when every
    sample sits on its prototype and the prototypes are equally spread (a simplex ETF).
    ``relu=True`` (HFF's MLP layers, ``z = sphere(ReLU(W u + b))``): ``M = sqrt(C/(C-1))``, a higher
    floor (1.420 against 1.377 at C = 10, tau = 1). Taught in 02_prototype_geometry.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes}: need at least 2 classes.")
    if not tau > 0:
        raise ValueError(f"tau={tau}: must be > 0.")
    c = num_classes
    return math.log1p((c - 1) * math.exp(-(best_case_margin(c, relu) - margin) / tau))


def plot_projection(h, prototype=(1.0, 0.0)) -> Figure:
    """Left: 2-D vectors ``h`` (arrows) and their directions ``z = h / ||h||`` on S^1 (dots).
    Right: for each vector, the dot product ``<h, p>`` with a unit prototype ``p`` next to the
    cosine ``<z, p>``: the dot product grows with the length, the cosine does not.

    ``h``: (N, 2). Taught in 02_prototype_geometry.
    """
    h = torch.as_tensor(_np(h), dtype=torch.float32)
    if h.dim() != 2 or h.shape[1] != 2 or h.shape[0] == 0:
        raise ValueError(f"h must have shape (N, 2) with N >= 1, got {tuple(h.shape)}.")
    p = normalise(torch.as_tensor(_np(prototype), dtype=torch.float32).reshape(1, 2))[0]
    z = normalise(h)
    colors = class_colors(max(len(h), 1))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.4), gridspec_kw=dict(width_ratios=[1, 1.2]))
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="grey", lw=1)
    lim = max(1.3, float(h.abs().max()) * 1.1)
    ax.annotate("", xy=_np(p), xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color="black", lw=2))
    ax.text(*(_np(p) * 1.12), "p", fontsize=12, ha="center", va="center")
    for i, (hi, zi) in enumerate(zip(_np(h), _np(z))):
        ax.annotate("", xy=hi, xytext=(0, 0),
                    arrowprops=dict(arrowstyle="-|>", color=colors[i], lw=1.5, alpha=0.8))
        ax.plot(*zi, "o", color=colors[i], ms=9, mec="black")
        ax.text(hi[0], hi[1], f"  h{i + 1}", color=colors[i], fontsize=10)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="grey", lw=0.3)
    ax.axvline(0, color="grey", lw=0.3)
    ax.set_title("h (arrows) and z = h/||h|| on the unit circle (dots)")
    idx = np.arange(len(h))
    dots, cosines = _np(h @ p), _np(z @ p)
    bx.bar(idx - 0.2, dots, width=0.4, color="lightgrey", edgecolor="black", label="dot product <h, p>")
    bx.bar(idx + 0.2, cosines, width=0.4, color=[colors[i] for i in idx], edgecolor="black",
           label="cosine <z, p>")
    bx.axhline(0, color="black", lw=0.5)
    bx.set_xticks(idx, [f"h{i + 1}\n||h||={float(n):.1f}" for i, n in enumerate(_np(h.norm(dim=1)))])
    bx.set_title("similarity to p: the cosine ignores the length")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_softmax_temperature(cosines, taus, target: int = 0, class_names=None) -> Figure:
    """Bars of ``softmax(s / tau)`` for fixed cosines ``s`` (C,), one panel per temperature.

    The target class is outlined. Low tau turns small cosine differences into a
    confident distribution; tau = 1 leaves it nearly flat because ``|s| <= 1``.
    Taught in 02_prototype_geometry.
    """
    s = torch.as_tensor(_np(cosines), dtype=torch.float32).reshape(-1)
    if s.numel() < 2:
        raise ValueError("Give at least two cosines (one per class).")
    if (s.abs() > 1 + 1e-6).any():
        raise ValueError("Cosines must lie in [-1, 1].")
    taus = _check_taus(taus)
    c = s.numel()
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    fig, axes = plt.subplots(1, len(taus), figsize=(3.2 * len(taus) + 0.8, 3.2), sharey=True,
                             squeeze=False)
    for ax, tau in zip(axes[0], taus):
        q = _np((s / tau).softmax(0))
        colors = [VERMILLION if i == target else SKY for i in range(c)]  # target vs the others
        ax.bar(range(c), q, color=colors, edgecolor=["black" if i == target else "none" for i in range(c)])
        ax.set_ylim(0, 1.05)
        ax.set_xticks(range(c), names, fontsize=7, rotation=90 if c > 6 else 0)
        ax.set_title(f"tau = {tau:g}: p(target) = {q[target]:.2f}", fontsize=10)
    axes[0, 0].set_ylabel("softmax(s / tau)")
    fig.tight_layout()
    return fig


def plot_loss_floor(taus, num_classes=(10,), mark_tau: float = 1.0, relu: bool = True) -> Figure:
    """The loss floor (:func:`best_case_loss`) against tau, one colour per C.

    Solid: embeddings anywhere on the sphere (the simplex-ETF floor); dashed (``relu=True``): ReLU
    embeddings, as in HFF's MLP layers, a little higher. The dotted lines are the chance level
    ``log C`` (a uniform softmax); the markers show both floors at ``mark_tau``. Log tau axis.
    Taught in 02_prototype_geometry.
    """
    taus = np.array(sorted(_check_taus(taus)))
    classes = [int(c) for c in np.atleast_1d(num_classes)]
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for i, c in enumerate(classes):
        color = series_colors(i + 1)[i]
        floor = [best_case_loss(c, t) for t in taus]
        ax.plot(taus, floor, color=color, lw=2, label=f"C = {c}: embeddings anywhere (ETF floor)")
        if relu:
            ax.plot(taus, [best_case_loss(c, t, relu=True) for t in taus], color=color, lw=1.6, ls="--",
                    label=f"C = {c}: ReLU embeddings")
        ax.axhline(math.log(c), color=color, ls=":", lw=1, label=f"C = {c}: chance log C = {math.log(c):.2f}")
        at = best_case_loss(c, mark_tau)
        ax.plot([mark_tau], [at], "o", color=color, mec="black")
        text = f"{at:.3f}"
        if relu:
            at_relu = best_case_loss(c, mark_tau, relu=True)
            ax.plot([mark_tau], [at_relu], "s", color=color, mec="black", ms=5)
            text += f" / {at_relu:.3f} (ReLU)"
        ax.annotate(f"{text} at tau = {mark_tau:g}", (mark_tau, at), textcoords="offset points",
                    xytext=(-10, 14), fontsize=8, color=color, ha="right")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("temperature tau (log scale)")
    ax.set_ylabel("lowest reachable loss (nats)")
    ax.set_title("cosines are bounded: a high tau puts a floor under the loss")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_floor_runs(curves: dict, floors: dict, tau: float | None = None, zoom: float = 0.25) -> Figure:
    """Gradient-descent runs of the HFF loss (``curves``: ``{label: loss per step}``) against the floors they
    should stop at (``floors``: ``{label: value}``, dotted lines in the run's colour when the labels match,
    else black). The loss axis is zoomed to ``zoom`` nats above the highest floor, and says so; integer
    step ticks. Taught in 02_prototype_geometry (free vs ReLU embeddings at tau = 1).
    """
    if not curves:
        raise ValueError("curves is empty: give {label: list of losses per step}.")
    if not floors:
        raise ValueError("floors is empty: give {label: the floor that run should reach}.")
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    colors = series_colors(len(curves))
    markers = ["o", "s", "^", "D", "v"]
    for i, (label, losses) in enumerate(curves.items()):
        y = np.asarray(_np(torch.as_tensor(losses) if not isinstance(losses, np.ndarray) else losses), dtype=float)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"curve {label!r} must be a non-empty list of losses, one per step.")
        x = np.arange(1, y.size + 1)
        ax.plot(x, y, color=colors[i], lw=1.8, marker=markers[i % len(markers)], markevery=max(1, y.size // 8),
                label=label)
    for j, (label, value) in enumerate(floors.items()):
        color = colors[list(curves).index(label)] if label in curves else "black"
        ax.axhline(float(value), color=color, ls=":", lw=1.4, label=f"floor: {label} = {float(value):.3f}")
    top = max(float(v) for v in floors.values()) + zoom
    bottom = min(float(v) for v in floors.values()) - 0.1 * zoom
    ax.set_ylim(bottom, top)
    ax.set_xscale("log")
    ax.set_xlabel("optimiser step (log scale)")
    ax.set_ylabel(f"mean HFF loss (nats; axis from {bottom:.2f}, not 0)")
    ax.set_title("gradient descent on the loss" + (f" at tau = {tau:g}" if tau is not None else "")
                 + ": where does it stop?", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# prototypes as anchors and implicit negatives

def _grad_z(z: torch.Tensor, protos: torch.Tensor, y: int, tau: float) -> torch.Tensor:
    """``dL/dz`` of the HFF loss with scores ``s = z P^T`` (by autograd, through hff.hff_loss)."""
    z = z.clone().requires_grad_(True)
    labels = torch.full((z.shape[0],), y, dtype=torch.long)
    # sum, not mean: every point gets its own per-sample gradient
    (hff_loss(z @ protos.T, labels, tau) * z.shape[0]).backward()
    return z.grad


def plot_gradient_field(prototypes, y: int = 0, tau: float = 0.5, n_points: int = 24,
                        at_angle: float = 200.0) -> Figure:
    """The force the HFF loss puts on an embedding ``z`` of class ``y``, on S^1.

    Left: at ``n_points`` positions on the circle, the descent direction
    ``-(I - z z^T) dL/dz`` (the part that survives ``z = h/||h||``), drawn with equal
    length and coloured by its size: every arrow points along the circle
    towards the own prototype ``p_y``.
    Right: at one point (``at_angle`` degrees), ``-dL/dz = (1/tau) [(1 - q_y) p_y - sum_{c != y} q_c p_c]``
    split into the pull towards ``p_y`` and one push away from every other
    prototype (``q = softmax(s / tau)``): the implicit negatives.
    ``prototypes``: (C, 2). Taught in 02_prototype_geometry.
    """
    P = normalise(torch.as_tensor(_np(prototypes), dtype=torch.float32))
    if P.dim() != 2 or P.shape[1] != 2 or P.shape[0] < 2:
        raise ValueError(f"prototypes must have shape (C, 2) with C >= 2, got {tuple(P.shape)}.")
    c = P.shape[0]
    if not 0 <= y < c:
        raise ValueError(f"y={y} is not a class index in [0, {c}).")
    colors = class_colors(c)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 5))
    t = np.linspace(0, 2 * np.pi, 200)
    for ax in axes:
        ax.plot(np.cos(t), np.sin(t), color="grey", lw=1)
        for k in range(c):
            ax.plot(*_np(P[k]), "*", ms=18, color=colors[k], mec="black", zorder=5)
            ax.text(*(_np(P[k]) * 1.18), f"p{k}" + (" (own)" if k == y else ""), ha="center",
                    va="center", fontsize=9, color=colors[k])
        ax.set_aspect("equal")
        ax.set_xlim(-1.6, 1.6)
        ax.set_ylim(-1.6, 1.6)
        ax.axis("off")
    # left: tangent descent directions around the circle
    ang = torch.linspace(0, 2 * math.pi, n_points + 1)[:-1]
    z = torch.stack([ang.cos(), ang.sin()], 1)
    g = _grad_z(z, P, y, tau)
    tangent = -(g - (g * z).sum(1, keepdim=True) * z)
    size = tangent.norm(dim=1)
    # equal-length arrows (the direction), coloured by the size of the force
    zn, tn = _np(z), _np(0.3 * tangent / size.clamp_min(1e-12)[:, None])
    arrows = axes[0].quiver(zn[:, 0], zn[:, 1], tn[:, 0], tn[:, 1], _np(size), cmap=_DARK_VIRIDIS,
                            angles="xy", scale_units="xy", scale=1, width=0.007)
    fig.colorbar(arrows, ax=axes[0], fraction=0.04, label="|force| on the circle")
    axes[0].plot(zn[:, 0], zn[:, 1], "o", ms=3, color="black")
    axes[0].set_title(f"descent direction on the circle (class {y}, tau = {tau:g})", fontsize=10)
    # right: decomposition at one point
    a = math.radians(at_angle)
    z0 = torch.tensor([[math.cos(a), math.sin(a)]])
    q = ((z0 @ P.T) / tau).softmax(1)[0]
    parts = [((1 - q[y]) / tau) * P[y]] + [-(q[k] / tau) * P[k] for k in range(c) if k != y]
    part_colors = [colors[y]] + [colors[k] for k in range(c) if k != y]
    total = -_grad_z(z0, P, y, tau)[0]
    s = 0.9 / max(float(max(p.norm() for p in parts + [total])), 1e-12)
    o = _np(z0[0])
    axes[1].plot(*o, "o", ms=9, color="black", zorder=6)
    axes[1].text(o[0] - 0.1, o[1] - 0.2, "z", fontsize=12)
    for v, col, lab in zip(parts, part_colors,
                           ["pull: (1-q_y)/tau p_y"] + [f"push: -q_{k}/tau p_{k}" for k in range(c) if k != y]):
        axes[1].annotate("", xy=o + _np(v) * s, xytext=o,
                         arrowprops=dict(arrowstyle="-|>", color=col, lw=2))
        axes[1].plot([], [], color=col, lw=2, label=lab)
    axes[1].annotate("", xy=o + _np(total) * s, xytext=o,
                     arrowprops=dict(arrowstyle="-|>", color="black", lw=2.5, ls="--"))
    axes[1].plot([], [], color="black", lw=2.5, ls="--", label="total -dL/dz")
    axes[1].legend(fontsize=8, loc="upper right", frameon=False)
    axes[1].set_title("one point: pull to the own prototype, push from the others", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# spreading prototypes: ETF and Tammes

def _contact_edges(points: np.ndarray, tol_deg: float) -> list[tuple[int, int]]:
    """Pairs whose angle is within ``tol_deg`` of the smallest angle (the contact graph)."""
    cos = _np(cosine_matrix(torch.as_tensor(points, dtype=torch.float32)))
    ang = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    np.fill_diagonal(ang, 360.0)
    lo = ang.min()
    n = len(points)
    return [(i, j) for i in range(n) for j in range(i + 1, n) if ang[i, j] <= lo + tol_deg]


def plot_sphere_grid(point_sets, titles=None, ncols: int | None = None, edges: bool = True,
                     tol_deg: float = 2.0, elev: float = 20, azim: float = 35) -> Figure:
    """Several sets of points on S^2 side by side, each point a star, each set its own panel.

    ``edges=True`` draws the *contact graph*: chords between pairs whose angle is
    within ``tol_deg`` of the set's smallest angle (for 4 ETF points: a
    tetrahedron; for 6 Tammes points: an octahedron; a larger ``tol_deg`` also joins pairs
    that are nearly in contact, e.g. the apex of a square pyramid at 95 degrees). The title shows the
    minimum pairwise angle. Taught in 02_prototype_geometry.
    """
    sets = [_np(normalise(torch.as_tensor(_np(p), dtype=torch.float32))) for p in point_sets]
    if not sets:
        raise ValueError("point_sets is empty: give at least one (n, 3) array.")
    for p in sets:
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f"Every point set must have shape (n, 3), got {p.shape}.")
    if titles is not None and len(titles) != len(sets):
        raise ValueError(f"Got {len(titles)} titles for {len(sets)} point sets.")
    ncols = ncols or len(sets)
    nrows = -(-len(sets) // ncols)
    fig = plt.figure(figsize=(3.0 * ncols, 3.2 * nrows))
    for i, p in enumerate(sets):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        plot_sphere(prototypes=p, elev=elev, azim=azim, ax=ax)
        ax.set_box_aspect((1, 1, 1), zoom=1.45)  # the sphere fills its panel (3-D axes pad a lot)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        if edges and len(p) > 1:
            for a, b in _contact_edges(p, tol_deg):
                ax.plot(*zip(p[a], p[b]), color="black", lw=1.2)
        cos = cosine_matrix(torch.as_tensor(p))
        cos.fill_diagonal_(-1.0)
        min_angle = math.degrees(math.acos(float(cos.max().clamp(-1, 1)))) if len(p) > 1 else 180.0
        head = titles[i] if titles is not None else f"{len(p)} points"
        ax.set_title(f"{head}\nmin angle {min_angle:.1f} deg", fontsize=10, pad=0)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.9, wspace=0.0, hspace=0.12)
    return fig


def plot_separation_history(histories: dict, optimum: dict | None = None) -> Figure:
    """Minimum pairwise angle (degrees) per step of ``geometry.separate``, one curve per run.

    ``histories``: ``{label: [angle per step]}``. ``optimum``: ``{label: best known
    angle}`` drawn as dotted lines in the same colour (the Tammes solutions).
    Taught in 02_prototype_geometry.
    """
    if not histories:
        raise ValueError("histories is empty: give {label: list of angles}.")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (label, hist) in enumerate(histories.items()):
        color = series_colors(i + 1)[i]
        h = np.asarray(hist, dtype=float)
        if h.size == 0:
            raise ValueError(f"history {label!r} is empty: pass history=[] to geometry.separate.")
        ax.plot(np.arange(1, h.size + 1), h, color=color, lw=1.8, label=label)
        if optimum and label in optimum:
            ax.axhline(optimum[label], color=color, ls=":", lw=1.2)
    ax.set_xscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("minimum pairwise angle (deg)")
    ax.set_title("the separation optimiser at work (dotted: best known Tammes angle)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_min_angle_vs_dim(dims, separated, random=None, n: int | None = None) -> Figure:
    """Minimum pairwise angle of ``n`` points against the dimension ``d``.

    ``separated``/``random``: angles (degrees) for each d (Tammes optimiser /
    random points). The dashed line is the simplex-ETF angle ``arccos(-1/(n-1))``,
    reachable only from ``d = n - 1`` on (shaded region: no ETF exists). The dotted line is
    Rankin's bound: for ``n/2 <= d < n - 1`` no arrangement beats 90 degrees (bracket on the axis).
    Taught in 02_prototype_geometry.
    """
    dims = np.asarray(dims)
    sep = np.asarray(separated, dtype=float)
    if dims.shape != sep.shape or dims.size == 0:
        raise ValueError(f"dims and separated must have the same non-zero length, got {dims.size} "
                         f"and {sep.size}.")
    if n is None or n < 2:
        raise ValueError("Give the number of points n >= 2.")
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    ax.plot(dims, sep, "o-", color=BLUE, label="separated (Tammes optimiser)")
    if random is not None:
        ax.plot(dims, np.asarray(random, dtype=float), "s--", color="grey", label="random points")
    etf = math.degrees(math.acos(-1.0 / (n - 1)))
    ax.axhline(etf, color=VERMILLION, ls="--", label=f"simplex ETF: arccos(-1/{n - 1}) = {etf:.1f} deg")
    ax.axvspan(dims.min() - 0.5, n - 1.5, color=VERMILLION, alpha=0.08, label=f"d < n-1 = {n - 1}: no ETF")
    lo = math.ceil(n / 2)
    ax.hlines(90, lo - 0.3, n - 1.7, color="black", lw=1.4, ls=":",
              label=f"Rankin: at most 90 deg for {lo} <= d <= {n - 2}")
    ax.set_xlabel("dimension d")
    ax.set_ylabel("minimum pairwise angle (deg)")
    ax.set_title(f"{n} points on the sphere S^(d-1)")
    ax.set_xlim(dims.min() - 0.5, dims.max() + 0.5)
    ax.set_xticks([int(d) for d in dims])
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# several prototypes per class, and the margin

def plot_lse_matching(proto_angles_deg, tau_ps, n_angles: int = 721, mean_curve: bool = True) -> Figure:
    """LogSumExp matching on S^1: ``S(theta) = tau_p * logsumexp_k(cos(theta - phi_k) / tau_p)``.

    One class with K prototypes at angles ``phi_k`` (degrees); ``z`` runs round the
    circle at angle theta. Computed with ``hff.Prototypes.scores``. Small tau_p:
    S is the best match ``max_k s_k`` (dashed; each prototype its own basin); large tau_p:
    ``S - tau_p log K`` approaches the mean cosine ``mean_k s_k`` (dotted, ``mean_curve``), so S
    no longer says which prototype matched. Taught in 02_prototype_geometry.
    """
    phis = np.atleast_1d(np.asarray(proto_angles_deg, dtype=float))
    if phis.size < 1:
        raise ValueError("Give at least one prototype angle.")
    tau_ps = _check_taus(tau_ps)
    theta = torch.linspace(-180, 180, n_angles)
    z = torch.stack([torch.deg2rad(theta).cos(), torch.deg2rad(theta).sin()], 1)
    raw = torch.tensor(np.stack([np.cos(np.radians(phis)), np.sin(np.radians(phis))], 1),
                       dtype=torch.float32).reshape(1, -1, 2)
    s = z @ raw[0].T  # (N, K) cosines
    fig, ax = plt.subplots(figsize=(8.4, 4.2))
    colors = series_colors(len(tau_ps))
    for i, tp in enumerate(tau_ps):
        protos = Prototypes(1, phis.size, 2, init="random", tau_p=tp)
        with torch.no_grad():
            protos.raw.copy_(raw)
            S = protos.scores(z)[:, 0]
        ax.plot(_np(theta), _np(S), color=colors[i], lw=1.8, label=f"S, tau_p = {tp:g}")
    ax.plot(_np(theta), _np(s.max(1).values), "k--", lw=1.2, label="max_k s_k (the limit tau_p -> 0)")
    if mean_curve:
        ax.plot(_np(theta), _np(s.mean(1)), "k:", lw=1.2,
                label=f"mean_k s_k (S - tau_p log {phis.size}\nas tau_p -> infinity)")
    for phi in phis:
        ax.axvline(phi, color=VERMILLION, lw=0.8, alpha=0.6)
    ax.set_xlabel("angle of z (deg); vermillion lines: the class's prototypes")
    ax.set_ylabel("class score S")
    ax.set_title(f"LogSumExp matching with K = {phis.size} prototypes")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def plot_margin_loss(gaps, margins=(0.0, 0.2), tau: float = 0.1, num_classes: int = 10) -> Figure:
    """The HFF loss against the score gap ``S_y - S_c`` (all C-1 other classes equal),
    for each margin m, computed with ``hff.hff_loss``.

    Without a margin the loss is already small once the gap is a few tau; with
    m > 0 it stays high until the gap exceeds m (dotted lines), so training keeps
    pushing classes apart. Taught in 02_prototype_geometry.
    """
    gaps = torch.as_tensor(_np(gaps), dtype=torch.float32).reshape(-1)
    if gaps.numel() < 2:
        raise ValueError("Give at least two gap values.")
    if not tau > 0:
        raise ValueError(f"tau={tau}: must be > 0.")
    margins = [float(m) for m in np.atleast_1d(margins)]
    if not margins or any(m < 0 for m in margins):
        raise ValueError(f"margins={margins}: give margins >= 0.")
    c = int(num_classes)
    scores = torch.zeros(gaps.numel(), c)
    scores[:, 0] = gaps  # class 0 is the target, the others sit at 0
    y = torch.zeros(gaps.numel(), dtype=torch.long)
    fig, ax = plt.subplots(figsize=(6.6, 4.2))
    for i, m in enumerate(margins):
        color = series_colors(i + 1)[i]
        loss = [float(hff_loss(scores[j:j + 1], y[j:j + 1], tau, m)) for j in range(gaps.numel())]
        ax.plot(_np(gaps), loss, color=color, lw=2, label=f"m = {m:g}")
        if m > 0:
            ax.axvline(m, color=color, ls=":", lw=1.2)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("score gap S_y - S_c")
    ax.set_ylabel("loss (log scale)")
    ax.set_title(f"smooth-margin loss, C = {c}, tau = {tau:g}")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
