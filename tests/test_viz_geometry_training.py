"""Figures of 02_prototype_geometry and 03_hff_training: they draw what they claim and reject bad input."""
import math

import pytest
import torch
from matplotlib.figure import Figure

from hff_edu import geometry, hff
from hff_edu.training.trainer import History
from hff_edu.viz import geometry_views as gv
from hff_edu.viz import training_views as tv


def _ring(n=3):
    a = torch.arange(n) * 2 * math.pi / n
    return torch.stack([a.cos(), a.sin()], 1)


# ----------------------------------------------------------------------------
# geometry_views

def test_best_case_loss_matches_hff_loss_on_an_etf():
    for c, tau in ((10, 1.0), (10, 0.1), (100, 0.5)):
        p = geometry.simplex_etf(c, c + 3)
        exact = hff.hff_loss(p @ p.T, torch.arange(c), tau).item()
        assert gv.best_case_loss(c, tau) == pytest.approx(exact, rel=1e-4, abs=1e-6)
    assert 1.37 < gv.best_case_loss(10, 1.0) < 1.38  # the "about 1.4" of the notebooks
    assert gv.best_case_loss(10, 0.2, margin=0.2) > gv.best_case_loss(10, 0.2)
    with pytest.raises(ValueError, match="tau"):
        gv.best_case_loss(10, 0.0)


def test_projection_and_softmax_figures():
    fig = gv.plot_projection(torch.tensor([[1.0, 1.0], [2.0, 2.0], [-1.0, 0.5]]))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[1].patches) == 6  # dot product and cosine bar per vector
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        gv.plot_projection(torch.ones(3, 3))
    fig = gv.plot_softmax_temperature(torch.tensor([0.9, 0.1, -0.5]), [0.1, 1.0])
    assert len(fig.axes) == 2
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert sum(heights) == pytest.approx(1.0, abs=1e-5)
    assert heights[0] > 0.99  # tau = 0.1 is confident
    with pytest.raises(ValueError, match="\\[-1, 1\\]"):
        gv.plot_softmax_temperature(torch.tensor([2.0, 0.0]), [0.1])
    with pytest.raises(ValueError, match="> 0"):
        gv.plot_softmax_temperature(torch.tensor([0.5, 0.0]), [0.0])


def test_loss_floor_curve():
    fig = gv.plot_loss_floor([0.05, 0.1, 1.0], num_classes=(10, 100))
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 3]
    assert len(lines) == 4  # per C: the ETF floor (solid) and the ReLU floor (dashed)
    assert lines[0].get_ydata()[-1] == pytest.approx(gv.best_case_loss(10, 1.0))
    assert lines[1].get_ydata()[-1] == pytest.approx(gv.best_case_loss(10, 1.0, relu=True))
    assert lines[1].get_linestyle() == "--"
    fig = gv.plot_loss_floor([0.05, 0.1, 1.0], num_classes=(10,), relu=False)
    assert len([ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 3]) == 1
    with pytest.raises(ValueError, match="empty"):
        gv.plot_loss_floor([])


def test_gradient_field_points_towards_the_own_prototype():
    fig = gv.plot_gradient_field(_ring(3), y=0, tau=0.5, n_points=12)
    assert len(fig.axes) == 3  # two panels and the colour bar
    quiver = fig.axes[0].collections[0]
    z = torch.tensor(quiver.get_offsets(), dtype=torch.float32)
    arrows = torch.stack([torch.tensor(quiver.U), torch.tensor(quiver.V)], 1).float()
    angle = torch.atan2(z[:, 1], z[:, 0])
    # the own prototype sits at angle 0: moving towards it means decreasing |angle|
    towards = torch.stack([angle.sin(), -angle.cos()], 1) * angle.sign()[:, None]
    moving = (angle.abs() > 0.1) & (angle.abs() < math.pi - 0.1)
    assert moving.sum() >= 8
    assert ((arrows * towards).sum(1)[moving] > 0).all()
    with pytest.raises(ValueError, match="class index"):
        gv.plot_gradient_field(_ring(3), y=5)
    with pytest.raises(ValueError, match=r"\(C, 2\)"):
        gv.plot_gradient_field(torch.ones(3, 3))


def test_sphere_grid_draws_the_tetrahedron():
    fig = gv.plot_sphere_grid([geometry.simplex_etf(4, 3), geometry.random_prototypes(5, 3)],
                              ["etf", "random"])
    assert len(fig.axes) == 2
    assert "109.5" in fig.axes[0].get_title()
    black = [ln for ln in fig.axes[0].lines if ln.get_color() == "black"]
    assert len(black) == 6  # every pair of a tetrahedron is an edge
    with pytest.raises(ValueError, match="titles"):
        gv.plot_sphere_grid([geometry.simplex_etf(4, 3)], ["a", "b"])
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        gv.plot_sphere_grid([torch.ones(4, 2)])


def test_separation_history_and_dimension_sweep():
    hist = []
    geometry.separate(n=6, d=3, steps=20, history=hist)
    fig = gv.plot_separation_history({"n = 6": hist}, {"n = 6": 90.0})
    assert len(fig.axes[0].lines) == 2  # the run and its optimum
    with pytest.raises(ValueError, match="empty"):
        gv.plot_separation_history({"n = 6": []})
    fig = gv.plot_min_angle_vs_dim([2, 3, 9], [36.0, 65.0, 96.4], [5.0, 6.0, 50.0], n=10)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="same"):
        gv.plot_min_angle_vs_dim([2, 3], [36.0], n=10)


def test_lse_matching_lies_between_max_and_max_plus_log_k():
    fig = gv.plot_lse_matching([-50, 40], [0.1], n_angles=181)
    lines = fig.axes[0].lines
    s_curve, max_curve = lines[0].get_ydata(), lines[1].get_ydata()
    assert (s_curve >= max_curve - 1e-6).all()
    assert (s_curve <= max_curve + 0.1 * math.log(2) + 1e-6).all()
    with pytest.raises(ValueError, match="> 0"):
        gv.plot_lse_matching([0, 90], [-1.0])


def test_margin_loss_is_shifted_by_m():
    fig = gv.plot_margin_loss(torch.linspace(-0.5, 1.0, 31), margins=(0.0, 0.2), tau=0.1)
    l0, l2 = fig.axes[0].lines[0].get_ydata(), fig.axes[0].lines[1].get_ydata()
    assert (l2 >= l0).all()
    assert l2[10] == pytest.approx(l0[6], rel=1e-4)  # gap 0.0 with m = 0.2 == gap -0.2 without
    with pytest.raises(ValueError, match="margins"):
        gv.plot_margin_loss(torch.linspace(0, 1, 5), margins=(-0.1,))


# ----------------------------------------------------------------------------
# training_views

def _history(n_layers=3, epochs=2, heads=0):
    names = [f"layer {i + 1}" for i in range(n_layers)]
    h = History("HFFNet", names + ["head"] * heads, names)
    for e in range(1, epochs + 1):
        h.records.append(dict(epoch=e, seconds=1.0, train_loss=[1.0 / e] * (n_layers + heads),
                              train_acc=0.5 + 0.1 * e, test_acc=0.5 + 0.1 * e,
                              layer_test_acc=[0.4 + 0.1 * e] * n_layers))
    return h


def test_layer_curves_and_loss_curves():
    hists = {"HFF": _history(), "backprop": _history(1)}
    fig = tv.plot_layer_accuracy_curves(hists, chance=0.1)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 3 + 1 + 1  # layers, prediction, chance
    legend = fig.axes[0].get_legend()
    renderer = fig.canvas.get_renderer()
    assert legend.get_window_extent(renderer).y1 <= fig.axes[0].get_window_extent(renderer).y0  # below
    fig = tv.plot_loss_curves({"FF": _history(2, heads=1)})
    assert len(fig.axes[0].get_lines()) == 3
    from matplotlib.colors import to_hex
    from hff_edu.core.palette import YELLOW
    fig = tv.plot_layer_accuracy_curves({"HFF": _history(6)}, n_test=1000)
    colours = [to_hex(ln.get_color()) for ln in fig.axes[0].lines]
    assert YELLOW.lower() not in colours  # no yellow line on white (the old viridis last layer)
    assert fig.axes[0].collections, "the prediction carries a band of 2 s.e."
    assert "axis from" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="empty"):
        tv.plot_layer_accuracy_curves({})
    with pytest.raises(ValueError, match="no epochs"):
        tv.plot_loss_curves({"HFF": _history(epochs=0)})


def test_display_names_take_the_suite_method_colours():
    from hff_edu.viz import style
    assert tv.display_color("HFF") == style.METHOD_COLORS["hff"]
    assert tv.display_color("backprop") == style.METHOD_COLORS["bp"]
    assert tv.display_color("local CE") == style.METHOD_COLORS["local-ce"]
    assert tv.display_color("FF: goodness, every layer") == style.METHOD_COLORS["ff"]


def test_summary_choice_and_ablation_dots():
    from matplotlib.colors import to_hex
    fig = tv.plot_method_summary(["HFF: last", "backprop"], [0.8, 0.9], [1.0, 2.0], chance=0.1, n_test=1000,
                                 per_seed=[[0.79, 0.8, 0.81], [0.9, 0.9, 0.9]])
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == 2
    assert fig.axes[1].get_xlim()[0] == 0.0  # time: bars from 0
    assert "axis from 0.70, not 0" in fig.axes[0].get_xlabel()  # accuracy: dots on a zoomed axis, and it says so
    assert to_hex(fig.axes[0].lines[0].get_color()) == tv.display_color("HFF").lower()
    assert "2 s.e." in fig.axes[0].get_title() and "seeds" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="one accuracy per method"):
        tv.plot_method_summary(["a"], [0.8, 0.9])
    with pytest.raises(ValueError, match="per-seed"):
        tv.plot_method_summary(["a"], [0.8], per_seed=[[0.8], [0.9]])
    fig = tv.plot_layer_choice(["layer 1", "layer 2"], [0.8, 0.85], {"sum": 0.86})
    assert len([ln for ln in fig.axes[0].lines if ln.get_marker() in ("o", "D")]) == 3
    assert "axis from 0.75, not 0" in fig.axes[0].get_ylabel()  # zoomed in, and says so
    with pytest.raises(ValueError, match="one accuracy per layer"):
        tv.plot_layer_choice(["layer 1"], [0.8, 0.9])
    fig = tv.plot_ablation(["ref", "tau 1"], [0.85, 0.8], 0.85, ["reference", "temperature"])
    assert len([ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]) == 2
    assert "axis from 0.75, not 0" in fig.axes[0].get_xlabel()
    assert len(fig.axes[0].get_legend().get_texts()) == 2
    with pytest.raises(ValueError, match="group"):
        tv.plot_ablation(["ref"], [0.85], 0.85, ["a", "b"])


def test_ablation_shows_the_noise_band_and_which_rows_a_paired_test_resolves():
    fig = tv.plot_ablation(["ref", "tau 0.5", "tau 1"], [0.85, 0.84, 0.8], 0.85, n_test=2000,
                           per_seed=[[0.85, 0.86], [0.84, 0.83], [0.8, 0.79]], resolved=[None, False, True])
    ax = fig.axes[0]
    band = [p for p in ax.patches if p.get_alpha() and p.get_alpha() < 0.5]
    assert band, "the reference's noise band is drawn"
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    faces = [ln.get_markerfacecolor() for ln in dots]
    assert faces[1] == "white" and faces[2] != "white" and faces[0] != "white"  # open = not resolved
    assert "told apart (paired test)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="resolved flag"):
        tv.plot_ablation(["ref"], [0.85], 0.85, resolved=[True, False])


def test_method_curves_on_one_axis_with_seed_bands_and_no_hidden_line():
    import numpy as np
    curves = {"HFF": [[0.80, 0.84, 0.86], [0.81, 0.85, 0.86]], "backprop": [[0.80, 0.84, 0.86], [0.81, 0.85, 0.86]]}
    fig = tv.plot_method_curves(curves, n_test=1000, chance=0.1)
    ax = fig.axes[0]
    lines = [ln for ln in ax.lines if len(ln.get_xdata()) == 3 and ln.get_linestyle() != "None"]
    assert len(lines) == 2
    x0, x1 = (np.asarray(ln.get_xdata()) for ln in lines)
    assert np.all(x0 != x1), "identical curves are shifted along x, so neither hides the other"
    assert lines[0].get_marker() != lines[1].get_marker()
    assert len(ax.collections) >= 2  # a band of the seeds' range per method (and the error bars)
    assert "axis from" in ax.get_ylabel() and ax.get_ylim()[0] > 0.5
    assert all(float(t).is_integer() for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1])
    with pytest.raises(ValueError, match="empty"):
        tv.plot_method_curves({})


def test_temperature_limits_figure():
    fig = tv.plot_temperature_limits([0.01, 0.1, 1.0], {"vote": [1.0, 0.98, 0.95], "sum of scores": [0.9, 0.97, 1.0]},
                                     tau=0.1)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.lines) == 3
    with pytest.raises(ValueError, match="fractions"):
        tv.plot_temperature_limits([0.01, 0.1], {"vote": [1.0]})
    with pytest.raises(ValueError, match="positive"):
        tv.plot_temperature_limits([0.0, 0.1], {"vote": [1.0, 1.0]})


def test_markdown_table():
    text = tv.markdown_table(["method", "acc"], [("HFF", 0.86123), ("bp", 0.5)])
    lines = text.splitlines()
    assert lines[0] == "| method | acc |" and lines[1] == "|---|---|"
    assert "0.8612" in lines[2]
    with pytest.raises(ValueError, match="cells"):
        tv.markdown_table(["a", "b"], [(1,)])


def test_geometry_figures_use_colour_blind_safe_colours():
    from matplotlib.colors import to_hex

    from hff_edu.viz.style import BLUE, SKY, VERMILLION
    fig = gv.plot_softmax_temperature(torch.tensor([0.9, 0.1, -0.5]), [0.1], target=0)
    bars = [to_hex(p.get_facecolor()[:3]) for p in fig.axes[0].patches]
    assert bars == [VERMILLION.lower(), SKY.lower(), SKY.lower()]  # the target stands out, not green vs blue
    fig = gv.plot_min_angle_vs_dim([2, 3, 9], [36.0, 65.0, 96.4], [5.0, 6.0, 50.0], n=10)
    assert to_hex(fig.axes[0].lines[0].get_color()) == BLUE.lower()


def test_relu_floor_is_above_the_etf_floor_and_the_floor_runs_figure():
    for c in (2, 10, 100):
        assert gv.best_case_margin(c, relu=True) == pytest.approx(math.sqrt(c / (c - 1)))
        assert gv.best_case_loss(c, 1.0, relu=True) > gv.best_case_loss(c, 1.0)
    assert gv.best_case_loss(10, 1.0, relu=True) == pytest.approx(1.4199, abs=1e-4)  # the review's 1.420
    fig = gv.plot_floor_runs({"free": [2.0, 1.5, 1.38], "ReLU": [2.1, 1.6, 1.43]},
                             {"free": 1.377, "ReLU": 1.420}, tau=1.0)
    ax = fig.axes[0]
    assert len([ln for ln in ax.lines if len(ln.get_xdata()) == 3]) == 2
    assert "not 0" in ax.get_ylabel() and ax.get_ylim()[0] > 1.0  # zoomed, and it says so
    assert ax.get_title() and ax.get_xlabel()
    with pytest.raises(ValueError, match="curves is empty"):
        gv.plot_floor_runs({}, {"a": 1.0})
    with pytest.raises(ValueError, match="floors is empty"):
        gv.plot_floor_runs({"a": [1.0]}, {})
