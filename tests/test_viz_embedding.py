"""hff_edu.viz.embedding_views: sphere coordinates, the PCA fallback, snapshot plots, alignment/uniformity."""
import builtins

import numpy as np
import pytest
import torch

from hff_edu import geometry
from hff_edu.viz import embedding_views as ev


def _clusters(n_per=20, c=4, d=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = geometry.random_prototypes(c, d, seed)
    z = centres.repeat_interleave(n_per, 0) + 0.05 * torch.randn(n_per * c, d, generator=g)
    return geometry.normalise(z), torch.arange(c).repeat_interleave(n_per), centres


def _snapshots(epochs=(0, 1, 2), c=4, n_per=10, seed=0):
    """Fake EmbeddingSnapshots.snapshots: a 6-d layer and a 3-d layer, collapsed at epoch 0."""
    snaps, y = [], None
    for e in epochs:
        z6, y, p6 = _clusters(n_per, c, 6, seed)
        z3, _, p3 = _clusters(n_per, c, 3, seed)
        if e == 0:  # untrained: everything near one direction, classes mixed
            noise = torch.randn(z3.shape, generator=torch.Generator().manual_seed(seed + 1))
            z3 = geometry.normalise(torch.tensor([1.0, 0.0, 0.0]) + 0.03 * noise)
        snaps.append(dict(epoch=e, embeddings=[z6, z3], prototypes=[p6[:, None], p3[:, None]]))
    return snaps, y


def test_spherical_to_cartesian_known_points_and_unit_norm():
    xyz = ev.spherical_to_cartesian([0.0, np.pi / 2, np.pi / 2], [0.0, 0.0, np.pi / 2])
    np.testing.assert_allclose(xyz, [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-12)
    angles = np.random.default_rng(0).uniform(-20, 20, size=(2, 50))  # umap's angles are unbounded
    np.testing.assert_allclose(np.linalg.norm(ev.spherical_to_cartesian(*angles), axis=1), 1.0)
    with pytest.raises(ValueError, match="one angle pair"):
        ev.spherical_to_cartesian([0.0, 1.0], [0.0])


def test_pca_sphere_unit_rows_and_keeps_a_3d_subspace():
    z, y, _ = _clusters(d=12)
    v = ev.pca_sphere(z)
    assert v.shape == (len(z), 3)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    # Data that lies in a 3-d subspace through its mean: PCA recovers it up to a rotation,
    # so cosines between centred points are preserved.
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 3))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    lifted = base @ q[:3] + 5.0  # rotate into R^8 and shift
    v = ev.pca_sphere(lifted)
    c = base - base.mean(0)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    np.testing.assert_allclose(v @ v.T, c @ c.T, atol=1e-6)


def test_pca_sphere_pads_narrow_layers_and_rejects_bad_input():
    v = ev.pca_sphere(np.random.default_rng(0).normal(size=(10, 2)))
    assert v.shape == (10, 3) and np.allclose(v[:, 2], 0)
    with pytest.raises(ValueError, match="expected \\(N, d\\)"):
        ev.pca_sphere(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2"):
        ev.pca_sphere(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        ev.pca_sphere(np.full((4, 4), np.nan))


def test_sphere_view_direct_pca_and_fallback_without_umap(monkeypatch):
    z3 = torch.randn(20, 3) * 4
    v, how = ev.sphere_view(z3)
    assert how == "direct" and np.allclose(np.linalg.norm(v, axis=1), 1)
    with pytest.raises(ValueError, match="d=10"):
        ev.sphere_view(torch.randn(20, 10), method="direct")
    with pytest.raises(ValueError, match="Unknown view"):
        ev.sphere_view(z3, method="tsne")

    real_import = builtins.__import__

    def no_umap(name, *args, **kwargs):
        if name == "umap" or name.startswith("umap."):
            raise ImportError("no umap here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_umap)
    assert not ev.umap_available()
    z, _, _ = _clusters(d=10)
    v, how = ev.sphere_view(z)  # auto falls back to PCA
    assert how == "pca"
    np.testing.assert_allclose(v, ev.pca_sphere(z))
    with pytest.raises(ImportError, match="pca_sphere"):
        ev.umap_sphere(z)


def test_cosine_knn_is_exact_and_starts_with_self():
    z, _, _ = _clusters(d=10)
    idx, dist = ev._cosine_knn(z.numpy(), 5)
    assert idx.shape == (len(z), 5) and np.array_equal(idx[:, 0], np.arange(len(z)))
    full = 1 - (z @ z.T).numpy()
    np.testing.assert_allclose(dist[:, 1:], np.sort(full, axis=1)[:, 1:5], atol=1e-5)


def test_spread_matches_pairwise_distances():
    z, _, _ = _clusters(d=7)
    expected = float(torch.pdist(z).pow(2).mean())
    assert ev.spread(z) == pytest.approx(expected, rel=1e-5)
    assert ev.spread(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-9)  # collapsed


def test_alignment_uniformity_shapes_and_collapse_signature():
    snaps, y = _snapshots()
    st = ev.alignment_uniformity(snaps, y)
    assert st["epochs"] == [0, 1, 2]
    for key in ("alignment", "uniformity", "spread", "ratio"):
        assert len(st[key]) == 2 and all(len(v) == 3 for v in st[key])
    # the collapsed epoch 0 of the 3-d layer: tiny alignment but bad uniformity and a high ratio
    assert st["alignment"][1][0] < st["alignment"][1][-1]
    assert st["uniformity"][1][0] > st["uniformity"][1][-1]
    assert st["ratio"][1][0] > st["ratio"][1][-1]
    with pytest.raises(ValueError, match="No snapshots"):
        ev.alignment_uniformity([], y)


def test_snapshot_plots():
    snaps, y = _snapshots()
    names = ["a", "b", "c", "d"]
    fig = ev.plot_snapshot_grid(snaps, y, class_names=names)
    assert len(fig.axes) == 3 and len(fig.legends) == 1
    assert all(ax.get_legend() is None for ax in fig.axes)
    fig = ev.plot_snapshot(snaps, y, epoch=1, class_names=names)
    assert len(fig.axes) == 1 and "epoch 1" in fig.axes[0].get_title()
    n_lines = len(fig.axes[0].lines)
    fig = ev.plot_snapshot(snaps, y, epoch=1, octant=True)
    assert len(fig.axes[0].lines) == n_lines + 3  # the octant's three quarter circles
    with pytest.raises(ValueError, match="epochs \\[0, 1, 2\\]"):
        ev.plot_snapshot(snaps, y, epoch=7)
    with pytest.raises(ValueError, match="d=6"):
        ev.plot_snapshot(snaps, y, epoch=1, layer=0)
    with pytest.raises(ValueError, match="No views"):
        ev.plot_sphere_grid([])


def test_heatmaps_margins_and_alignment_plots():
    snaps, y = _snapshots()
    fig = ev.plot_prototype_heatmaps(snaps[-1]["prototypes"])
    assert len(fig.axes) == 4  # two heatmaps, two colour bars
    assert any("d=3" in ax.get_title() for ax in fig.axes)

    margins = [geometry.prototype_margin(z, p, y) for z, p in zip(snaps[-1]["embeddings"], snaps[-1]["prototypes"])]
    correct = margins[-1] > 0
    correct[:3] = ~correct[:3]  # some wrong ones too
    fig = ev.plot_margin_histograms(margins, correct)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) > 0
    with pytest.raises(ValueError, match="shape"):
        ev.plot_margin_histograms(margins, correct[:5])

    st = {"HFF": ev.alignment_uniformity(snaps, y), "BP": ev.alignment_uniformity(snaps[:2], y)}
    fig = ev.plot_alignment_uniformity_curves(st)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 4  # 2 models x 2 layers
    fig = ev.plot_wang_isola(st)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4


def test_margin_histograms_and_curves_use_colour_blind_safe_colours():
    from matplotlib.colors import to_hex

    from hff_edu.viz.style import CORRECT_COLOR, OKABE_ITO, WRONG_COLOR
    snaps, y = _snapshots()
    margins = [geometry.prototype_margin(z, p, y) for z, p in zip(snaps[-1]["embeddings"], snaps[-1]["prototypes"])]
    correct = margins[-1] > 0
    correct[:3] = ~correct[:3]
    fig = ev.plot_margin_histograms(margins, correct)
    colours = {to_hex(p.get_facecolor()[:3]) for p in fig.axes[0].patches}
    assert colours == {CORRECT_COLOR.lower(), WRONG_COLOR.lower()}
    st = {"HFF": ev.alignment_uniformity(snaps, y), "BP": ev.alignment_uniformity(snaps, y)}
    fig = ev.plot_alignment_uniformity_curves(st)
    used = [to_hex(ln.get_color()) for ln in fig.axes[0].lines]
    assert used[0] == OKABE_ITO[0].lower() and used[-1] == OKABE_ITO[1].lower()  # one palette colour per model


def test_spheres_use_class_colours_markers_and_a_depth_cue():
    from matplotlib.colors import to_hex

    from hff_edu.core.palette import CLASS_COLORS, CLASS_MARKERS
    v = ev.view_direction(20, 35)
    np.testing.assert_allclose(np.linalg.norm(v), 1.0)
    # two points of class 0, one facing the camera and one behind the sphere
    pts = np.stack([v, -v])
    fig = ev.plot_sphere_grid([dict(points=pts, labels=np.array([0, 0]))], elev=20, azim=35)
    ax = fig.axes[0]
    from mpl_toolkits.mplot3d.art3d import Path3DCollection
    drawn = [c for c in ax.collections if isinstance(c, Path3DCollection)]
    alphas = sorted(c.get_alpha() for c in drawn)
    assert len(drawn) == 2 and alphas[0] < 0.3 < alphas[1], "the far point is faint, the near one solid"
    assert {to_hex(c.get_facecolor()[0][:3]) for c in drawn} == {CLASS_COLORS[0].lower()}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "far side (faint)" in labels and "prototype" in labels
    handles = fig.legends[0].legend_handles
    assert handles[0].get_marker() == CLASS_MARKERS[0]
    fig = ev.plot_sphere_grid([dict(prototypes=geometry.random_prototypes(10, 3, 0))], ["c"] * 10)
    assert len(fig.axes) == 1  # prototypes alone (notebook 04, section 1)


def test_class_regions_and_mutual_neighbours():
    # three classes on S^2: 0 and 1 close together (and mixed up), 2 far away
    p = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.0, 0.0, 2.0]])  # not unit length: normalised inside
    z = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.02, 0.0], [0.9, 0.3, 0.0], [0.95, 0.0, 0.0], [0.0, 0.1, 1.0]])
    y = torch.tensor([0, 0, 1, 1, 2])  # the second class-1 sample sits on class 0's prototype
    rows = ev.class_regions(z, y, p, ["a", "b", "c"])
    assert [r["accuracy"] for r in rows] == [1.0, 0.5, 1.0]
    assert rows[1]["confused_with"] == "a" and rows[1]["confused_share"] == 0.5
    assert rows[0]["nearest"] == "b" and rows[2]["angle"] == pytest.approx(90.0, abs=1e-3)
    assert rows[0]["angle"] == pytest.approx(np.degrees(np.arccos(0.9 / np.hypot(0.9, 0.3))), abs=1e-3)
    assert ev.mutual_neighbours(rows) == [("a", "b", pytest.approx(rows[0]["angle"]))]
    with pytest.raises(ValueError, match="do not fit"):
        ev.class_regions(z, y[:3], p)


def test_ratio_course_finds_the_lowest_epoch_and_the_rise_after_it():
    st = {"HFF": dict(epochs=[0, 1, 2, 3], ratio=[[0.7, 0.4, 0.45, 0.5], [0.8, 0.6, 0.5, 0.3]])}
    course = ev.ratio_course(st)
    assert course[0]["series"] == "HFF L1" and course[0]["lowest_epoch"] == 1
    assert course[0]["rise"] == pytest.approx(0.1) and course[0]["first"] == 0.7
    assert course[1]["lowest_epoch"] == 3 and course[1]["rise"] == 0.0


def test_every_axes_of_the_04_figures_has_a_title_and_axis_labels():
    snaps, y = _snapshots()
    st = {"HFF": ev.alignment_uniformity(snaps, y), "BP": ev.alignment_uniformity(snaps[:2], y)}
    for fig in (ev.plot_alignment_uniformity_curves(st), ev.plot_wang_isola(st)):
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    curves = ev.plot_alignment_uniformity_curves(st)
    assert "lower is better" in curves.axes[0].get_ylabel() and "untrained" in curves.axes[0].get_xlabel()
    heat = ev.plot_prototype_heatmaps(snaps[-1]["prototypes"])
    maps = [ax for ax in heat.axes if ax.get_title()]  # the colour bars carry no title
    assert len(maps) == 2 and all(ax.get_xlabel() and ax.get_ylabel() for ax in maps)
