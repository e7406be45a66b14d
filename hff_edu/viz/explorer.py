"""The 3-D prototype explorer: embeddings and prototypes on S^2 as a plotly figure that the
reader rotates and zooms, with controls for the layer, the epoch and a highlighted class.

Taught in 04_hypersphere_views. Notation: ``z`` (N, d) are one layer's unit embeddings
of the probe images, ``p_hat`` (C, K, d) its prototypes, ``y`` (N,) the labels; the
snapshots come from ``callbacks.EmbeddingSnapshots`` (epoch 0 = untrained).

A layer with d = 3 is drawn as it is. A wider layer is mapped to S^2 per epoch with
``embedding_views.sphere_view`` (spherical UMAP, or the PCA fallback), its
prototypes mapped together with its embeddings (one fit, so a prototype lands beside
the samples it is near in d dimensions). Each epoch's map is rotated onto the next
(orthogonal Procrustes, last epoch = reference), so the epoch slider shows movement,
not the arbitrary orientation of each fit.

Classes take the colour-blind-safe class colours and one marker shape each (``core/palette.py``);
the grey sphere is half opaque, so points on its far side show through faded (a depth cue that
turns with the view). All controls are plotly's own (a slider over animation frames, dropdown menus, the
legend): they need no kernel, so the explorer works the same in JupyterLab, VS Code
and the offline HTML export. The matplotlib views in ``embedding_views`` stay the
static pictures (for print, and where JavaScript is not run).
"""
from __future__ import annotations

import numpy as np

from .embedding_views import VIEW_METHODS, sphere_view
from ..core.palette import CLASS_MARKERS_3D
from .sphere import _np, class_colors

#: marker opacity of the classes that are not highlighted
DIMMED = 0.06
#: prototype colour of the classes that are not highlighted
DIMMED_PROTOTYPE = "rgb(200,200,200)"
#: one marker shape per class (plotly scatter3d symbols), so classes differ by more than colour
MARKERS_3D = CLASS_MARKERS_3D
#: opacity of the grey sphere: points on its far side show through it faded (a depth cue)
SPHERE_OPACITY = 0.3


def _rgb(color) -> str:
    from matplotlib.colors import to_rgb
    r, g, b = (int(round(255 * c)) for c in to_rgb(color))
    return f"rgb({r},{g},{b})"


def procrustes_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The orthogonal 3x3 matrix ``R`` that minimises ``||a R - b||`` (rows are the same points).

    ``R = U V^T`` from the SVD ``a^T b = U S V^T``. It may be a reflection: the
    handedness of a UMAP or PCA map means nothing.
    """
    u, _, vt = np.linalg.svd(np.asarray(a).T @ np.asarray(b))
    return u @ vt


def layer_views(snapshots: list[dict], layer: int, method: str = "pca", seed: int = 0,
                **umap_kwargs) -> dict:
    """Points and prototypes of one layer on S^2 at every snapshot.

    A 3-d layer is always drawn as it is; ``method`` maps a wider one: ``pca`` (the
    default [ours]: linear and fast, so what moves between epochs is the network,
    not the map), ``umap`` (one spherical UMAP fit per epoch, clearer clusters,
    seconds per fit) or ``auto`` (umap when installed, else pca). Returns ``dict(epochs, points, prototypes, method, d)``: ``points`` a list over
    epochs of (N, 3) arrays, ``prototypes`` a list of (C, K, 3) arrays (or None for
    a model without prototypes), ``method`` the view used (``direct``, ``umap``,
    ``pca``), ``d`` the layer's width. Maps of a wide layer are aligned epoch to
    epoch (:func:`procrustes_rotation`).
    """
    if method not in VIEW_METHODS:
        raise ValueError(f"Unknown view {method!r}: choose one of {', '.join(VIEW_METHODS)}.")
    if not snapshots:
        raise ValueError("No snapshots: pass EmbeddingSnapshots(...).snapshots after training.")
    n_layers = len(snapshots[0]["embeddings"])
    if not -n_layers <= layer < n_layers:
        raise ValueError(f"layer={layer}, but the snapshots hold {n_layers} layer(s) (0 .. {n_layers - 1}).")
    layer %= n_layers
    d = int(_np(snapshots[0]["embeddings"][layer]).shape[1])
    if d == 3:
        method = "direct"
    elif method == "direct":
        raise ValueError(f"method='direct' draws 3-d layers as they are, but layer {layer} has d={d}: "
                         "use 'pca', 'umap' or 'auto'.")
    points, protos, used = [], [], None
    for snap in snapshots:
        z = _np(snap["embeddings"][layer]).astype(np.float64)
        p = snap.get("prototypes")
        p = None if p is None else _np(p[layer]).astype(np.float64)
        flat = z if p is None else np.concatenate([z, p.reshape(-1, p.shape[-1])])
        xyz, used = sphere_view(flat, method=method, seed=seed, **(umap_kwargs if method != "pca" else {}))
        points.append(xyz[: len(z)])
        protos.append(None if p is None else xyz[len(z):].reshape(p.shape[0], p.shape[1], 3))
    if used != "direct":
        for e in range(len(points) - 2, -1, -1):  # rotate each epoch's map onto the next one's
            r = procrustes_rotation(points[e], points[e + 1])
            points[e] = points[e] @ r
            if protos[e] is not None:
                protos[e] = protos[e] @ r
    return dict(epochs=[s["epoch"] for s in snapshots], points=points, prototypes=protos, method=used, d=d)


def _sphere_surface(n: int = 36):
    import plotly.graph_objects as go
    u, v = np.mgrid[0:2 * np.pi:complex(0, 2 * n), 0:np.pi:complex(0, n)]
    # opaque enough that points behind the sphere show through faded: the depth cue of a rotating view
    return go.Surface(x=np.cos(u) * np.sin(v), y=np.sin(u) * np.sin(v), z=np.cos(v), opacity=SPHERE_OPACITY,
                      colorscale=[[0, "rgb(150,150,150)"], [1, "rgb(150,150,150)"]], showscale=False,
                      hoverinfo="skip", name="S^2", showlegend=False,
                      contours={ax: dict(highlight=False) for ax in "xyz"})  # no contour lines under the mouse


def _xyz(a: np.ndarray) -> dict:
    a = np.round(np.asarray(a, dtype=float), 4)  # 4 decimals: the page stays small
    return dict(x=a[:, 0], y=a[:, 1], z=a[:, 2])


def prototype_explorer(snapshots: list[dict], y, class_names=None, layers=None, layer_names=None,
                       method: str = "pca", title: str = "", seed: int = 0, height: int = 620,
                       point_size: float = 3.0, umap_kwargs: dict | None = None):
    """A plotly figure: every chosen layer's probe embeddings and prototypes on S^2, over training.

    Controls (all plotly's, no kernel needed): a *layer* menu, an *epoch* slider
    (with play/pause), a *highlight* menu that dims every class but one, and the
    legend (click a class to hide it, double-click to isolate it). Drag to rotate,
    scroll to zoom. ``layers``: indices into the snapshots' layers (default all);
    ``method``: how layers wider than 3 are mapped (see :func:`layer_views`). Returns a
    ``plotly.graph_objects.Figure``; show it with ``widgets.show_plotly``.
    """
    import plotly.graph_objects as go

    y, layers, n_classes, names = _explorer_inputs(snapshots, y, class_names, layers)
    colors = [_rgb(c) for c in class_colors(n_classes)]
    views = [layer_views(snapshots, l, method=method, seed=seed, **(umap_kwargs or {})) for l in layers]
    if layer_names is None:
        layer_names = [f"layer {l + 1} (d={v['d']})" for l, v in zip(layers, views)]
    fig = go.Figure()
    fig.add_trace(_sphere_surface())
    groups = _add_layer_traces(fig, views, layer_names, y, names, colors, point_size)
    fig.frames = _epoch_frames(views, groups, y, n_classes)

    def layer_title(li):
        how = "as it is" if views[li]["method"] == "direct" else f"{views[li]['method']} view"
        return f"{title + ': ' if title else ''}{layer_names[li]}, {how}"

    layer_buttons = []
    for li in range(len(views)):
        visible = [True] + [False] * (len(fig.data) - 1)
        for i in groups[li][0] + ([groups[li][1]] if groups[li][1] is not None else []):
            visible[i] = True
        layer_buttons.append(dict(label=layer_names[li], method="update",
                                  args=[{"visible": visible}, {"title.text": layer_title(li)}]))
    _explorer_layout(fig, layer_title(0), layer_buttons, _highlight_buttons(views, groups, names, colors),
                     views[0]["epochs"], height)
    return fig


def _explorer_inputs(snapshots, y, class_names, layers):
    """The explorer's inputs checked: labels, chosen layers, number of classes, class names."""
    y = _np(y).astype(int).ravel()
    if not snapshots:
        raise ValueError("No snapshots: pass EmbeddingSnapshots(...).snapshots after training.")
    n_probe = len(_np(snapshots[0]["embeddings"][0]))
    if len(y) != n_probe:
        raise ValueError(f"y has {len(y)} labels but the snapshots hold {n_probe} probe embeddings.")
    n_layers = len(snapshots[0]["embeddings"])
    layers = list(range(n_layers)) if layers is None else [l % n_layers for l in layers]
    if not layers:
        raise ValueError("layers is empty: choose at least one layer to explore.")
    n_classes = int(y.max()) + 1
    if snapshots[0].get("prototypes") is not None:
        n_classes = max(n_classes, _np(snapshots[0]["prototypes"][0]).shape[0])
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    if len(names) < n_classes:
        raise ValueError(f"{len(names)} class names for {n_classes} classes.")
    return y, layers, n_classes, names


def _add_layer_traces(fig, views, layer_names, y, names, colors, point_size) -> list:
    """Every layer's class traces and prototype trace at the last epoch (only the first layer shown);
    returns, per layer, (indices of its class traces, index of its prototype trace or None)."""
    import plotly.graph_objects as go
    last, n_classes, groups = len(views[0]["epochs"]) - 1, len(colors), []
    for li, (view, lname) in enumerate(zip(views, layer_names)):
        class_idx = []
        for c in range(n_classes):
            class_idx.append(len(fig.data))
            fig.add_trace(go.Scatter3d(mode="markers", name=names[c], legendgroup=f"{li}-{c}",
                                       marker=dict(size=point_size, color=colors[c], opacity=0.8,
                                                   symbol=MARKERS_3D[c % len(MARKERS_3D)]),
                                       hovertemplate=f"{names[c]}<extra>{lname}</extra>",
                                       visible=li == 0, **_xyz(view["points"][last][y == c].reshape(-1, 3))))
        proto_idx = None
        if view["prototypes"][last] is not None:
            k = view["prototypes"][last].shape[1]
            proto_idx = len(fig.data)
            fig.add_trace(go.Scatter3d(
                mode="markers", name="prototypes", legendgroup=f"{li}-p",
                marker=dict(size=8, symbol="diamond", color=[colors[c] for c in range(n_classes) for _ in range(k)],
                            line=dict(color="black", width=1)),
                hovertemplate="prototype: %{text}<extra></extra>",
                text=[names[c] for c in range(n_classes) for _ in range(k)], visible=li == 0,
                **_xyz(view["prototypes"][last].reshape(-1, 3))))
        groups.append((class_idx, proto_idx))
    return groups


def _epoch_frames(views, groups, y, n_classes) -> list:
    """One animation frame per snapshot epoch, moving every layer's points and prototypes."""
    import plotly.graph_objects as go
    moving = [i for cls, p in groups for i in cls + ([p] if p is not None else [])]
    frames = []
    for e, epoch in enumerate(views[0]["epochs"]):
        data = []
        for (cls, p), view in zip(groups, views):
            data += [go.Scatter3d(**_xyz(view["points"][e][y == c].reshape(-1, 3))) for c in range(n_classes)]
            if p is not None:
                data.append(go.Scatter3d(**_xyz(view["prototypes"][e].reshape(-1, 3))))
        frames.append(go.Frame(name=str(epoch), data=data, traces=moving))
    return frames


def _highlight_buttons(views, groups, names, colors) -> list:
    """The highlight menu: all classes, or one class with every other dimmed."""
    last, n_classes = len(views[0]["epochs"]) - 1, len(colors)
    class_traces = [i for cls, _ in groups for i in cls]
    proto_traces = [(p, views[li]["prototypes"][last].shape[1]) for li, (_, p) in enumerate(groups) if p is not None]

    def highlight(chosen) -> dict:
        # restyle values, one per trace: class traces dim by opacity (scatter3d has no per-point
        # opacity), prototype traces grey out the other classes' markers
        keep = [chosen is None or c == chosen for c in range(n_classes)]
        opacity = [0.8 if keep[c] else DIMMED for _ in groups for c in range(n_classes)]
        color = [colors[c] for _ in groups for c in range(n_classes)]
        for _, k in proto_traces:
            opacity.append(1.0)
            color.append([colors[c] if keep[c] else DIMMED_PROTOTYPE for c in range(n_classes) for _ in range(k)])
        return {"marker.opacity": opacity, "marker.color": color}

    return [dict(label="all classes" if chosen is None else names[chosen], method="restyle",
                 args=[highlight(chosen), class_traces + [p for p, _ in proto_traces]])
            for chosen in [None] + list(range(n_classes))]


def _explorer_layout(fig, title_text, layer_buttons, highlight_buttons, epochs, height) -> None:
    """The menus (layer, highlight, play/pause), the epoch slider and the scene."""
    last = len(epochs) - 1
    step_args = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    fig.update_layout(
        title=dict(text=title_text, x=0.01, xanchor="left", y=0.985, yref="container", font=dict(size=14)),
        height=height, margin=dict(l=0, r=0, t=115, b=10), uirevision="explorer",
        annotations=[dict(text=label, x=x, y=1.135, xref="paper", yref="paper", showarrow=False,
                          xanchor="left", font=dict(size=11, color="grey"))
                     for label, x in (("layer", 0.0), ("highlight", 0.3))],
        legend=dict(itemsizing="constant", title=dict(text="class (click: hide, double-click: isolate)")),
        scene=dict(aspectmode="cube", uirevision="explorer",
                   camera=dict(eye=dict(x=0.9, y=0.9, z=0.6)),
                   **{ax: dict(range=[-1.15, 1.15], visible=False) for ax in ("xaxis", "yaxis", "zaxis")}),
        updatemenus=[
            dict(type="dropdown", buttons=layer_buttons, active=0, x=0.0, y=1.09, xanchor="left",
                 yanchor="top", showactive=True, name="layer"),
            dict(type="dropdown", buttons=highlight_buttons, active=0, x=0.3, y=1.09, xanchor="left",
                 yanchor="top", showactive=True, name="highlight"),
            dict(type="buttons", direction="left", x=0.0, y=0.0, xanchor="left", yanchor="top",
                 showactive=False, name="play",
                 buttons=[dict(label="▶ play", method="animate",
                               args=[None, dict(mode="immediate", fromcurrent=True,
                                                frame=dict(duration=700, redraw=True), transition=dict(duration=0))]),
                          dict(label="❚❚ pause", method="animate", args=[[None], step_args])]),
        ],
        sliders=[dict(active=last, x=0.18, y=0.02, len=0.8, xanchor="left", yanchor="top",
                      currentvalue=dict(prefix="epoch ", font=dict(size=13)), pad=dict(t=0),
                      steps=[dict(label=str(ep), method="animate", args=[[str(ep)], step_args])
                             for ep in epochs])],
    )


def explorer_summary(fig) -> dict:
    """What an explorer figure holds: layers, epochs, classes and traces (for checks and tests)."""
    layers = [b["label"] for b in fig.layout.updatemenus[0].buttons]
    classes = [b["label"] for b in fig.layout.updatemenus[1].buttons][1:]
    return dict(layers=layers, epochs=[s["label"] for s in fig.layout.sliders[0].steps], classes=classes,
                traces=len(fig.data), frames=len(fig.frames))


