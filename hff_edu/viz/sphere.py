"""Points and prototypes on the sphere S^2, and cosine heatmaps.

Shared by 02_prototype_geometry and 04_hypersphere_views.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..core import palette
from ..core.geometry import cosine_matrix, normalise


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def class_colors(n: int) -> list[str]:
    """``n`` class colours, colour-blind safe up to ten (``core/palette.py``); pair them with
    :func:`class_marker` so that classes differ by shape as well."""
    return palette.class_colors(n)


class_marker = palette.class_marker


def draw_unit_sphere(ax, alpha: float = 0.08) -> None:
    """A light wireframe of S^2 on a 3-D axis."""
    u, v = np.mgrid[0:2 * np.pi:40j, 0:np.pi:20j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v),
                      color="grey", alpha=alpha, linewidth=0.5)
    ax.set_box_aspect((1, 1, 1))
    for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        set_lim(-1.05, 1.05)
    ax.set_axis_off()


def plot_sphere(points=None, labels=None, prototypes=None, class_names=None, title: str = "",
                elev: float = 20, azim: float = 35, ax=None, point_size: float = 6) -> Figure:
    """Samples (N, 3) coloured by label and prototypes (C, 3) or (C, K, 3) as stars, on S^2.

    Everything is projected onto the sphere first, so any 3-vectors can be passed.
    """
    fig = ax.figure if ax is not None else plt.figure(figsize=(5, 5))
    ax = ax or fig.add_subplot(111, projection="3d")
    draw_unit_sphere(ax)
    n_classes = 0
    if labels is not None:
        n_classes = int(_np(labels).max()) + 1
    if prototypes is not None:
        n_classes = max(n_classes, _np(prototypes).shape[0])
    colors = class_colors(max(n_classes, 1))
    if points is not None:
        p = _np(normalise(torch.as_tensor(_np(points), dtype=torch.float32)))
        if labels is None:
            ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=palette.BLUE, s=point_size, alpha=0.6, depthshade=True)
        else:
            lab = _np(labels).astype(int)
            for ci in np.unique(lab):  # one scatter per class: its own colour and marker
                q = p[lab == ci]
                ax.scatter(q[:, 0], q[:, 1], q[:, 2], c=[colors[ci]], marker=class_marker(int(ci)),
                           s=point_size, alpha=0.6, depthshade=True)
    if prototypes is not None:
        pr = _np(prototypes)
        pr = pr[:, None] if pr.ndim == 2 else pr
        for ci in range(pr.shape[0]):
            q = _np(normalise(torch.as_tensor(pr[ci], dtype=torch.float32)))
            name = class_names[ci] if class_names is not None else str(ci)
            ax.scatter(q[:, 0], q[:, 1], q[:, 2], marker="*", s=260, c=[colors[ci]],
                       edgecolors="black", linewidths=0.8, depthshade=False, label=name)
            for v in q:
                ax.plot([0, v[0]], [0, v[1]], [0, v[2]], color=colors[ci], linewidth=1)
        if pr.shape[0] <= 10:
            ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.view_init(elev=elev, azim=azim)
    if title:
        ax.set_title(title)
    return fig


def plot_cosine_heatmap(vectors, names=None, title: str = "pairwise cosine", ax=None) -> Figure:
    """Heatmap of ``cos(v_i, v_j)`` for rows of ``vectors`` ((n, d), or (C, K, d) flattened)."""
    v = torch.as_tensor(_np(vectors), dtype=torch.float32)
    v = v.reshape(-1, v.shape[-1])
    cos = _np(cosine_matrix(v))
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.8, 4))
    ax = ax or fig.add_subplot(111)
    im = ax.imshow(cos, vmin=-1, vmax=1, cmap="RdBu_r")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if names is not None and len(names) == len(cos):
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(title)
    return fig
