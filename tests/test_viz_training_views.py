"""Figures of 03_hff_training (hff_edu/viz/training_views.py): every axes has a title and axis labels,
accuracy axes are zoomed and say so, error bars and seed ticks are drawn, integer epoch ticks, and bad
input is rejected with a message."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from hff_edu.core.palette import YELLOW  # noqa: E402
from hff_edu.training.trainer import History  # noqa: E402
from hff_edu.viz import training_views as tv  # noqa: E402


def _history(n_layers=3, epochs=3, heads=0):
    names = [f"layer {i + 1}" for i in range(n_layers)]
    h = History("HFFNet", names + ["head"] * heads, names)
    for e in range(1, epochs + 1):
        h.records.append(dict(epoch=e, seconds=1.0, train_loss=[1.0 / e] * (n_layers + heads),
                              train_acc=0.5 + 0.1 * e, test_acc=0.5 + 0.1 * e,
                              layer_test_acc=[0.4 + 0.1 * e] * n_layers))
    return h


def _labelled(fig):
    for ax in fig.axes:
        assert ax.get_title(), "every axes has a title"
        assert ax.get_xlabel() and (ax.get_ylabel() or ax.get_yticklabels()), "every axes has axis labels"


def test_noise_is_two_standard_errors_of_one_accuracy():
    assert tv.noise(0.8, 1000) == pytest.approx(2 * (0.8 * 0.2 / 1000) ** 0.5)
    assert np.all(tv.noise([0.5, 0.9], None) == 0)
    assert tv.zoomed_low([0.81, 0.86], chance=0.1) < 0.81
    assert tv.zoomed_low([0.81, 0.86], chance=0.1) > 0.5  # zoomed: not from 0 or chance


def test_method_curves_mean_band_bars_and_integer_epochs():
    curves = {"HFF": [[0.70, 0.80, 0.85], [0.72, 0.81, 0.84]], "backprop": [[0.71, 0.82, 0.86], [0.7, 0.8, 0.87]]}
    fig = tv.plot_method_curves(curves, n_test=1000, chance=0.1)
    _labelled(fig)
    ax = fig.axes[0]
    assert "axis from" in ax.get_ylabel()
    assert ax.get_ylim()[0] > 0.5
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), "integer epoch ticks"
    assert ax.collections, "a seed band"
    with pytest.raises(ValueError):
        tv.plot_method_curves({})


def test_layer_and_loss_curves_have_no_yellow_and_a_band():
    from matplotlib.colors import to_hex
    fig = tv.plot_layer_accuracy_curves({"HFF": _history(6), "backprop": _history(1)}, chance=0.1, n_test=1000)
    colours = [to_hex(ln.get_color()) for ln in fig.axes[0].lines]
    assert YELLOW.lower() not in colours
    assert fig.axes[0].collections
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel()
    fig = tv.plot_loss_curves({"FF": _history(2, heads=1), "HFF": _history()})
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel()
    with pytest.raises(ValueError, match="no epochs"):
        tv.plot_loss_curves({"HFF": _history(epochs=0)})


def test_summary_and_layer_choice_are_labelled_and_zoomed():
    fig = tv.plot_method_summary(["HFF: last", "backprop"], [0.8, 0.9], [1.0, 2.0], chance=0.1, n_test=1000,
                                 per_seed=[[0.79, 0.8, 0.81], [0.9, 0.9, 0.9]])
    _labelled(fig)
    assert "axis from" in fig.axes[0].get_xlabel()
    fig = tv.plot_layer_choice(["layer 1", "layer 2"], [0.8, 0.85], {"sum": 0.86}, n_test=1000)
    _labelled(fig)
    assert "axis from" in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_ylim()[0] > 0.5
    with pytest.raises(ValueError):
        tv.plot_layer_choice(["layer 1"], [0.8, 0.9])


def test_ablation_title_band_filled_and_open_dots_and_room_for_the_seed_ticks():
    names = ["ref", "tau 0.5", "tau 1"]
    fig = tv.plot_ablation(names, [0.85, 0.84, 0.8], 0.85, ["reference", "temperature", "temperature"],
                           n_test=2000, per_seed=[[0.84, 0.85, 0.86], [0.83, 0.84, 0.85], [0.79, 0.8, 0.92]],
                           resolved=[None, False, True])
    _labelled(fig)
    ax = fig.axes[0]
    assert "3 seeds" in ax.get_title()
    assert ax.get_xlim()[1] >= 0.92, "the highest seed tick stays inside the axes"
    texts = [t for t in ax.texts]
    assert len(texts) == 3
    assert ax.patches or ax.collections, "the reference's band"
    with pytest.raises(ValueError):
        tv.plot_ablation(["ref"], [0.85], 0.85, resolved=[True, False])


def test_temperature_limits_and_markdown_table():
    fig = tv.plot_temperature_limits([0.01, 0.1, 1.0], {"vote": [1.0, 0.98, 0.95], "scores": [0.9, 0.97, 1.0]},
                                     tau=0.1)
    _labelled(fig)
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError):
        tv.plot_temperature_limits([0.0, 0.1], {"vote": [1.0, 1.0]})
    text = tv.markdown_table(["method", "acc"], [("HFF", 0.86123), ("bp", 0.5)])
    assert "0.8612" in text and text.count("\n") == 3
