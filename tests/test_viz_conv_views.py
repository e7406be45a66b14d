"""Figures of hff_edu.viz.conv_views: they return Figures with the expected content, and fail clearly."""
import pytest
import torch
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from hff_edu.training.trainer import History
from hff_edu.viz import conv_views as cv


def test_augmentations_grid():
    x = torch.randn(5, 1, 8, 8)
    fig = cv.plot_augmentations(x, [x.flip(3), x], titles=list("abcde"))
    assert isinstance(fig, Figure) and len(fig.axes) == 15
    with pytest.raises(ValueError, match="shape"):
        cv.plot_augmentations(x, [x[:2]])


def test_feature_maps_rows_per_block():
    maps = [torch.rand(2, 6, 8, 8), torch.rand(2, 4, 4, 4)]
    fig = cv.plot_feature_maps(torch.rand(3, 16, 16), maps, n_channels=3)
    assert len(fig.axes) == 2 * 4 + 2  # 2 blocks x (input column + 3 channels), one colour bar per block
    for row in (0, 1):  # the channels of a block share one scale, from 0 to the block's largest value
        images = [ax.images[0] for ax in fig.axes[4 * row + 1:4 * row + 4]]
        assert all(im.get_clim() == pytest.approx((0.0, float(maps[row][0, :3].max()))) for im in images)
    assert len(cv.plot_feature_maps(torch.rand(3, 16, 16), maps, n_channels=3, colorbar=False).axes) == 8
    with pytest.raises(ValueError, match="empty"):
        cv.plot_feature_maps(torch.rand(1, 8, 8), [])


def test_block_accuracy_bars():
    fig = cv.plot_block_accuracy({"HFF": [0.5, 0.7, 0.8], "BP": [0.9]}, chance=0.1)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(ax.patches) == 4 and not bars[0].errorbar
    fig = cv.plot_block_accuracy({"HFF": [0.5, 0.7, 0.8], "BP": [0.9]}, chance=0.1, n_test=1000)
    bars = [c for c in fig.axes[0].containers if isinstance(c, BarContainer)]
    caps = bars[0].errorbar.lines[1]  # error bars: 2 s.e. of one accuracy
    lo, hi = caps[0].get_ydata()[0], caps[1].get_ydata()[0]
    assert hi - lo == pytest.approx(4 * (0.5 * 0.5 / 1000) ** 0.5, rel=1e-3) and "2 s.e." in fig.axes[0].get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["block 1", "block 2", "block 3"]
    with pytest.raises(ValueError, match="empty"):
        cv.plot_block_accuracy({})


def test_head_dim_sweep_lines():
    fig = cv.plot_head_dim_sweep([2, 8, 32], [[0.3, 0.4], [0.6, 0.7], [0.7, 0.8]], 10, labels=["b1", "b2"])
    assert len(fig.axes[0].get_lines()) == 3  # two series + the d = C-1 marker
    with pytest.raises(ValueError, match="one row per d"):
        cv.plot_head_dim_sweep([2, 8], [0.1, 0.2, 0.3], 10)


def test_inference_cost_labels_ratio():
    fig = cv.plot_inference_cost({"HFF": 0.01, "FF": 0.1}, {"HFF": 1, "FF": 10})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "10.0x  (10 passes)" in texts and "1.0x  (1 pass)" in texts
    fig = cv.plot_inference_cost({"HFF": 0.01, "FF": 0.16}, {"HFF": 1, "FF": 10}, reference="HFF",
                                 flops={"HFF": 2.0, "FF": 31.0})
    assert "16.0x (FLOPs: 15.5x)  (10 passes)" in [t.get_text() for t in fig.axes[0].texts]
    fig = cv.plot_inference_cost({"HFF": 0.02, "FF": 0.1, "BP": 0.01}, reference="HFF")
    assert "5.0x" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(ValueError, match="empty"):
        cv.plot_inference_cost({})
    with pytest.raises(ValueError, match="reference"):
        cv.plot_inference_cost({"HFF": 0.1}, reference="FF")


def test_learning_curves():
    h = History("m", ["l"], ["l"], records=[dict(epoch=e, test_acc=0.1 * e) for e in (1, 2, 3)])
    fig = cv.plot_learning_curves({"a": h, "b": h})
    assert len(fig.axes[0].get_lines()) == 2
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())  # whole epochs only
    h2 = History("m", ["l"], ["l"], records=[dict(epoch=e, test_acc=0.8 + 0.01 * e) for e in (1, 2, 3)])
    fig = cv.plot_learning_curves({"HFF": h2}, n_test=1000, zoom=True)
    ax = fig.axes[0]
    band = 2 * (0.81 * 0.19 / 1000) ** 0.5
    assert len(ax.collections) == 1  # the band
    assert ax.get_ylim() == pytest.approx((0.81 - band - 0.02, 0.83 + 2 * (0.83 * 0.17 / 1000) ** 0.5 + 0.02))
    assert "zoomed" in ax.get_ylabel()


def test_head_dim_sweep_error_bars():
    fig = cv.plot_head_dim_sweep([2, 16], [[0.3, 0.4], [0.7, 0.8]], 10, labels=["b1", "b2"], n_test=300)
    assert len(fig.axes[0].containers) == 2 and "2 s.e." in fig.axes[0].get_ylabel()


def test_colours_are_the_suite_palette_methods_keep_their_colour():
    from matplotlib.colors import to_rgb

    from hff_edu.viz.style import METHOD_COLORS, OKABE_ITO
    names = ["HFF", "FF goodness", "local CE", "backprop", "A-body", "random body"]
    colors = cv.series_colors(names)
    assert colors[:4] == [METHOD_COLORS[m] for m in ("hff", "ff", "local-ce", "bp")]
    assert set(colors[4:]) <= set(OKABE_ITO) and len(set(colors)) == len(names)  # spares are new colours
    fig = cv.plot_block_accuracy({"HFF": [0.5, 0.7], "local CE": [0.6, 0.8]})
    assert fig.axes[0].patches[0].get_facecolor()[:3] == pytest.approx(to_rgb(METHOD_COLORS["hff"]))
    assert len(cv.series_colors([f"s{i}" for i in range(20)])) == 20  # more series than colours: cycles


def test_accuracy_axes_start_at_zero_and_legends_sit_outside():
    h = History("m", ["l"], ["l"], records=[dict(epoch=e, test_acc=0.8 + 0.01 * e) for e in (1, 2, 3)])
    for fig in (cv.plot_learning_curves({"HFF": h, "FF": h}),
                cv.plot_head_dim_sweep([2, 16], [[0.80, 0.81], [0.84, 0.85]], 10, labels=["b1", "b2"])):
        ax = fig.axes[0]
        assert ax.get_ylim() == (0.0, 1.0)  # no truncated axis exaggerating a 0.04 gap
        legend = ax.get_legend()
        fig.canvas.draw()
        box, axes_box = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 >= axes_box.x1  # right of the axes: it cannot cover a line

