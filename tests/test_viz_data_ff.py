"""Figures of 00_local_learning (viz.data_views) and 01_forward_forward (viz.ff_views)."""
import pytest
import torch
from matplotlib.figure import Figure

from hff_edu import baselines, ff, hff
from hff_edu.training.trainer import History
from matplotlib.colors import to_hex

from hff_edu.viz import data_views as dv
from hff_edu.viz import ff_views as fv
from hff_edu.viz import style


# ---------------------------------------------------------------- data_views

def test_plot_samples_one_column_per_class():
    x = torch.rand(30, 1, 8, 8)
    y = torch.arange(30) % 3
    fig = dv.plot_samples(x, y, ["a", "b", "c"], per_class=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]


def test_plot_samples_rejects_colour_images_and_bad_shapes():
    with pytest.raises(ValueError, match="channels"):
        dv.plot_samples(torch.rand(4, 3, 8, 8), torch.zeros(4), ["a"])
    with pytest.raises(ValueError, match="labels"):
        dv.plot_samples(torch.rand(4, 8, 8), torch.zeros(5), ["a"])


def test_plot_gradient_flow_one_row_per_method():
    fig = dv.plot_gradient_flow(3, 2)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert "every layer" in fig.axes[0].get_title() and "layer 2 only" in fig.axes[1].get_title()
    assert len(dv.plot_gradient_flow(4, 1, "local").axes) == 1
    with pytest.raises(ValueError):
        dv.plot_gradient_flow(3, 4)
    with pytest.raises(ValueError):
        dv.plot_gradient_flow(3, 1, ("ff",))


def _layer_grads(model, k):
    x, y = torch.randn(16, 20), torch.arange(16) % 4
    model.zero_grad(set_to_none=True)
    model.local_losses(x, y, torch.Generator().manual_seed(0))[k].backward()
    return dv.grad_norms_by_layer(model)


@pytest.mark.parametrize("cls", [ff.FFNet, hff.HFFNet, baselines.LocalCENet])
def test_grad_norms_only_in_the_layer_whose_loss_was_used(cls):
    norms = _layer_grads(cls(20, [8, 8, 8], 4), 1)
    assert norms["layer 2"][0] > 0 and norms["layer 2"][1] > 0
    assert norms["layer 1"] == (0.0, 0) and norms["layer 3"] == (0.0, 0)


def test_grad_norms_everywhere_for_backprop():
    norms = _layer_grads(baselines.BPNet(20, [8, 8, 8], 4), 0)
    assert set(norms) == {"layer 1", "layer 2", "layer 3", "head"}
    assert all(v[0] > 0 for v in norms.values())


def test_plot_grad_norms_labels_zero_bars():
    fig = dv.plot_grad_norms({"ff": {"layer 1": (0.0, 0), "layer 2": (1.5, 10)}, "bp": {"layer 1": 2.0}})
    assert len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0" in texts and "1.5" in texts
    # the suite's method colours (viz/style.py), not matplotlib's green/red
    assert to_hex(fig.axes[0].patches[0].get_facecolor()) == style.METHOD_COLORS["ff"].lower()
    with pytest.raises(ValueError):
        dv.plot_grad_norms({})


def test_plot_accuracy_curves():
    h = History("x", ["l"], ["l"], records=[dict(test_acc=0.5), dict(test_acc=0.7)])
    fig = dv.plot_accuracy_curves({"ff": h, "hff": h}, chance=0.1, zoom=False)
    assert len(fig.axes[0].lines) == 3
    assert fig.axes[0].get_ylim() == (0.0, 1.0)
    ff_line, hff_line = fig.axes[0].lines[:2]
    assert to_hex(ff_line.get_color()) == style.METHOD_COLORS["ff"].lower()
    assert ff_line.get_linestyle() != hff_line.get_linestyle()  # told apart in grey print too
    legend = fig.axes[0].get_legend()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= fig.axes[0].get_window_extent().x1 - 1  # outside the axes: covers no line
    with pytest.raises(ValueError):
        dv.plot_accuracy_curves({})


def test_plot_accuracy_curves_zooms_with_bands_seeds_and_whole_epochs():
    run = lambda *acc: History("x", ["l"], ["l"], records=[dict(test_acc=a) for a in acc])
    fig = dv.plot_accuracy_curves({"hff": [run(0.80, 0.83, 0.84), run(0.82, 0.83, 0.86)], "bp": run(0.81, 0.82, 0.83)},
                                  chance=0.1, n_test=2000)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert 0.7 < low < 0.8 and 0.86 < high <= 1.0  # zoomed where the lines are
    assert "zoomed" in ax.get_ylabel()
    assert any("chance = 0.10" in t.get_text() for t in ax.texts)  # below the axis: named, not drawn
    assert len(ax.collections) == 2  # one noise band per method
    assert len(ax.lines) == 4  # two thin seed lines and the mean for hff, one line for bp
    assert abs(ax.lines[2].get_ydata()[-1] - 0.85) < 1e-9  # the mean of the seeds
    assert "mean of 2 seeds" in ax.get_legend().get_texts()[0].get_text()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)  # no epoch 1.5


# ---------------------------------------------------------------- ff_views

def test_plot_label_overlay_append_and_overwrite():
    x = torch.rand(2, 64)
    y = torch.tensor([3, 5])
    pos = ff.overlay_label(x, y, 10, "append")
    fig = fv.plot_label_overlay({"pos": pos[0], "neg": pos[1]}, (8, 8), 10, "append")
    assert len(fig.axes) == 4  # image + code strip per panel
    pos = ff.overlay_label(x, y, 10, "overwrite")
    fig = fv.plot_label_overlay({"pos": pos[0]}, (8, 8), 10, "overwrite", zoom=12)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="features"):
        fv.plot_label_overlay({"bad": torch.rand(70)}, (8, 8), 10, "append")


def test_plot_label_overlay_shows_the_code_whatever_its_value_and_names_classes_in_full():
    x = torch.randn(1, 64) * 3  # pixels far louder than a label of value 1
    names = [f"class number {c}" for c in range(10)]
    for scale in (1.0, 28.0):
        fig = fv.plot_label_overlay({"pos": ff.overlay_label(x, torch.tensor([4]), 10, "append", scale)[0]},
                                    (8, 8), 10, "append", class_names=names)
        strip = fig.axes[1]
        assert [t.get_text() for t in strip.get_xticklabels()] == names  # not cut to 5 characters
        values = [t.get_text() for t in strip.texts]
        assert values.count("0") == 9 and f"{scale:.2g}" in values  # every cell's value written in
        hot = strip.get_images()[0].get_array()[0]
        assert hot[4, 3] == 1 and hot[4, 0] > 0.4 and hot[0, 0] > 0.9  # the label cell is dark, the rest pale
    fig = fv.plot_label_overlay({"neutral": ff.overlay_label(x, None, 10, "overwrite")[0]}, (8, 8), 10,
                                "overwrite", zoom=16)
    assert [t.get_text() for t in fig.axes[1].texts].count("0.1") == 10


def test_plot_negative_label_matrix_counts_false_negatives():
    y = torch.arange(100) % 10
    fig = fv.plot_negative_label_matrix(y, {"same": y, "wrong": ff.wrong_labels(y, 10)}, 10)
    titles = [ax.get_title() for ax in fig.axes]
    assert "100.0%" in titles[0] and "0.0%" in titles[1]
    with pytest.raises(ValueError):
        fv.plot_negative_label_matrix(y, {"short": y[:5]}, 10)


def test_plot_softplus_identity_curves_coincide():
    fig = fv.plot_softplus_identity(theta=2.0)
    a, b = fig.axes[0].lines[0].get_ydata(), fig.axes[0].lines[1].get_ydata()
    assert abs(a - b).max() < 1e-5


def _snapshots():
    return [dict(epoch=e, pos=[torch.rand(50) + e, torch.rand(50) + 2 * e],
                 neg=[torch.rand(50), torch.rand(50)]) for e in range(3)]


def test_plot_goodness_histograms_grid():
    fig = fv.plot_goodness_histograms(_snapshots(), epochs=[0, 2], thetas=[1.0, 1.0])
    assert len(fig.axes) == 4
    colours = {to_hex(p.get_facecolor()[:3]) for p in fig.axes[0].patches}
    assert colours == {style.POS_COLOR.lower(), style.NEG_COLOR.lower()}  # blue / vermillion
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1  # one legend, above the panels
    assert fig.axes[3].get_title() == "layer 2, epoch 2"
    with pytest.raises(ValueError, match="epoch"):
        fv.plot_goodness_histograms(_snapshots(), epochs=[7])


def test_goodness_ranges_fix_the_axes():
    snaps = _snapshots()
    ranges = fv.goodness_ranges(snaps, thetas=[10.0, -1.0])
    assert ranges[0][1] == 10.0 and ranges[1][0] == -1.0
    fig = fv.plot_goodness_histograms(snaps, epochs=[1], ranges=ranges)
    assert fig.axes[0].get_xlim()[1] >= 10.0


def test_plot_layer_accuracy_and_cost():
    fig = fv.plot_layer_accuracy({"layer 1": 0.7, "layer 2": 0.8}, {"goodness": 0.8}, chance=0.1)
    assert len(fig.axes[0].patches) == 3
    with pytest.raises(ValueError):
        fv.plot_layer_accuracy({})
    fig = fv.plot_inference_cost({"goodness": 10, "softmax": 1}, {"goodness": 1.0, "softmax": 0.1})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError):
        fv.plot_inference_cost({"goodness": 10}, {"softmax": 1.0})


def test_plot_layer_accuracy_error_bars_and_zoom():
    fig = fv.plot_layer_accuracy({"layer 1": 0.85, "layer 2": 0.83}, {"goodness": 0.854}, chance=0.1,
                                 n_test=2000, zoom=True)
    ax = fig.axes[0]
    bars = next(c for c in ax.containers if hasattr(c, "errorbar"))
    assert len(bars.errorbar.lines[2][0].get_segments()) == 3  # one error bar per bar
    assert 0.7 < ax.get_ylim()[0] < 0.83 and "zoomed" in ax.get_ylabel()
    assert ax.patches[2].get_hatch() == "//" and not ax.patches[0].get_hatch()


def _layer_stats_records(epochs=3, layers=2, theta=10.0, late=False):
    # goodness / theta rises past 1; with late=True the deeper layer stays below it
    recs = []
    for e in range(epochs):
        pos = [theta * (0.2 + e) if (j == 0 or not late) else theta * 0.2 for j in range(layers)]
        recs.append(dict(epoch=e, sparsity=[0.3] * layers, active=[1.0] * layers, goodness_pos=pos,
                         goodness_neg=[theta * 0.1] * layers, separated=[0.5 + 0.1 * e] * layers))
    return recs


def test_plot_layer_stats_one_row_per_run():
    runs = {"classic": _layer_stats_records(late=True), "tuned": _layer_stats_records(theta=2.0)}
    fig = fv.plot_layer_stats(runs, {"classic": [10.0, 10.0], "tuned": [2.0, 2.0]})
    assert len(fig.axes) == 6
    g_ax = fig.axes[0]
    # goodness divided by theta: layer 1's positive curve of the classic run ends at (0.2 + 2)
    assert abs(g_ax.lines[0].get_ydata()[-1] - 2.2) < 1e-9
    assert abs(g_ax.lines[2].get_ydata()[-1] - 0.2) < 1e-9  # layer 2 stays below theta
    assert fig.axes[1].get_ylim() == (0.0, 1.02)  # the fraction's whole range
    with pytest.raises(ValueError, match="thresholds"):
        fv.plot_layer_stats(runs, {"classic": [10.0, 10.0]})
    with pytest.raises(ValueError, match="goodness"):
        fv.plot_layer_stats({"hff": [dict(epoch=0, sparsity=[0.1])]}, {"hff": [1.0]})
    with pytest.raises(ValueError, match="empty"):
        fv.plot_layer_stats({}, {})


def test_plot_layer_stats_steps_panels_and_colours():
    runs = {"classic": _layer_stats_records(epochs=5)}
    for r, step in zip(runs["classic"], (0, 10, 20, 30, 40)):
        r["epoch"] = step
    fig = fv.plot_layer_stats(runs, {"classic": [10.0, 10.0]}, unit="step", panels=("separated",))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert "step" in ax.get_xlabel() and list(ax.lines[0].get_xdata()) == [0, 10, 20, 30, 40]
    colours = {to_hex(line.get_color()) for line in ax.lines[:2]}
    assert len(colours) == 2 and "#f0e442" not in colours  # one colour per layer, never yellow
    assert ax.lines[0].get_marker() != ax.lines[1].get_marker()  # and one marker per layer
    with pytest.raises(ValueError, match="unit"):
        fv.plot_layer_stats(runs, {"classic": [10.0, 10.0]}, unit="batch")
    with pytest.raises(ValueError, match="panels"):
        fv.plot_layer_stats(runs, {"classic": [10.0, 10.0]}, panels=("loss",))
