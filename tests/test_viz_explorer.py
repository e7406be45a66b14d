"""hff_edu.viz.explorer: per-layer sphere views over epochs and the plotly prototype explorer."""
import numpy as np
import pytest

pytest.importorskip("plotly")

from hff_edu.viz import explorer  # noqa: E402

from test_viz_embedding import _snapshots  # noqa: E402  (fake snapshots: a 6-d and a 3-d layer)


def test_procrustes_recovers_a_rotation_and_a_reflection():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    for r in (q, q @ np.diag([1, 1, -1])):
        np.testing.assert_allclose(explorer.procrustes_rotation(a, a @ r), r, atol=1e-10)


def test_layer_views_direct_and_pca_on_the_sphere():
    snaps, _ = _snapshots()
    direct = explorer.layer_views(snaps, 1, method="pca")  # a 3-d layer is drawn as it is, whatever the method
    assert direct["method"] == "direct" and direct["d"] == 3 and direct["epochs"] == [0, 1, 2]
    np.testing.assert_allclose(direct["points"][-1], snaps[-1]["embeddings"][1].numpy(), atol=1e-6)
    pca = explorer.layer_views(snaps, 0, method="pca")
    assert pca["method"] == "pca" and pca["d"] == 6
    for pts, protos in zip(pca["points"], pca["prototypes"]):
        np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0, atol=1e-6)
        assert protos.shape == (4, 1, 3)


def test_wide_layer_maps_are_aligned_epoch_to_epoch(monkeypatch):
    # each epoch's fit returns the same picture in a random orientation; after alignment every
    # epoch must show it in the last epoch's orientation
    snaps, _ = _snapshots()
    rng = np.random.default_rng(1)
    base = rng.normal(size=(44, 3))  # 40 probe points + 4 prototypes
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    turns = iter([np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in snaps])
    monkeypatch.setattr(explorer, "sphere_view", lambda z, method, **kw: (base @ next(turns), "umap"))
    v = explorer.layer_views(snaps, 0, method="umap")
    for e in range(len(snaps) - 1):
        np.testing.assert_allclose(v["points"][e], v["points"][-1], atol=1e-8)
        np.testing.assert_allclose(v["prototypes"][e], v["prototypes"][-1], atol=1e-8)


def test_explorer_controls_and_frames():
    snaps, y = _snapshots()
    names = ["a", "b", "c", "d"]
    fig = explorer.prototype_explorer(snaps, y, names, method="pca", title="t")
    s = explorer.explorer_summary(fig)
    assert s["layers"] == ["layer 1 (d=6)", "layer 2 (d=3)"]
    assert s["epochs"] == ["0", "1", "2"] and s["frames"] == 3 and s["classes"] == names
    assert s["traces"] == 1 + 2 * (4 + 1)  # the sphere, then per layer 4 classes and the prototypes
    visible = [t.visible is not False for t in fig.data]
    assert visible == [True] + [True] * 5 + [False] * 5, "the first layer is shown first"
    second = fig.layout.updatemenus[0].buttons[1].args[0]["visible"]
    assert second == [True] + [False] * 5 + [True] * 5
    # highlighting class "b": its points opaque, the others dimmed, in every layer
    args, traces = fig.layout.updatemenus[1].buttons[2].args
    class_traces = [i for i in traces if fig.data[i].name in names]
    opac = dict(zip(traces, args["marker.opacity"]))
    assert [opac[i] > 0.5 for i in class_traces] == [False, True, False, False] * 2
    # a frame moves every class and prototype trace, never the sphere
    assert 0 not in fig.frames[0].traces and len(fig.frames[0].data) == 10


def test_explorer_without_prototypes_and_errors():
    snaps, y = _snapshots()
    no_protos = [dict(s, prototypes=None) for s in snaps]
    fig = explorer.prototype_explorer(no_protos, y, layers=[1])
    assert explorer.explorer_summary(fig)["traces"] == 1 + 4
    with pytest.raises(ValueError, match="labels"):
        explorer.prototype_explorer(snaps, y[:-1])
    with pytest.raises(ValueError, match="layer"):
        explorer.layer_views(snaps, 5)
    with pytest.raises(ValueError, match="Unknown view"):
        explorer.layer_views(snaps, 0, method="tsne")
    with pytest.raises(ValueError, match="d=6"):
        explorer.layer_views(snaps, 0, method="direct")
    with pytest.raises(ValueError, match="No snapshots"):
        explorer.prototype_explorer([], y)
