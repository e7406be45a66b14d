"""Figures of hff_edu.viz.transfer_views (notebook 07): zoomed accuracy axes that say so, error bars of
two standard errors, bands whose meaning the legend states, readable cosines, and clear errors."""
import matplotlib
import pytest
import torch
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

from hff_edu.core.palette import OKABE_ITO, YELLOW
from hff_edu.viz import transfer_views as tv

matplotlib.use("Agg")


def test_two_se_is_an_error_bar_of_one_accuracy():
    assert tv.two_se(0.5, 1000) == pytest.approx(2 * (0.25 / 1000) ** 0.5)
    assert tv.two_se(1.0, 100) > 0  # never a zero-width bar at 0 or 1
    with pytest.raises(ValueError, match="at least 1"):
        tv.two_se(0.5, 0)


def test_block_transfer_bars_carry_error_bars_and_a_zoomed_labelled_axis():
    fig = tv.plot_block_transfer({"A-body": [0.6, 0.7, 0.78], "random body": [0.55, 0.62, 0.7]}, n_test=2000,
                                 chance=0.2)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(b) == 3 for b in bars)
    caps = bars[0].errorbar.lines[1]
    lo, hi = caps[0].get_ydata()[0], caps[1].get_ydata()[0]
    assert hi - lo == pytest.approx(2 * tv.two_se(0.6, 2000), rel=1e-6)
    low, high = ax.get_ylim()
    assert low <= 0.2 and high >= 0.78  # chance and every bar in view
    assert "zoomed" in ax.get_ylabel() and "2 s.e." in ax.get_ylabel() and ax.get_xlabel() and ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["block 1", "block 2", "block 3"]
    colours = {to_hex(b.patches[0].get_facecolor()) for b in bars}
    assert colours <= {c.lower() for c in OKABE_ITO} and YELLOW.lower() not in colours
    assert bars[0].patches[0].get_hatch() != bars[1].patches[0].get_hatch()  # told apart without colour
    fig = tv.plot_block_transfer({"A-body": [0.80, 0.82]}, n_test=2000)
    assert fig.axes[0].get_ylim()[0] > 0.5  # zoomed onto the bars when there is no chance line
    with pytest.raises(ValueError, match="empty"):
        tv.plot_block_transfer({}, n_test=10)


def test_shots_curve_zooms_onto_the_curves_states_its_band_and_keeps_the_legend_outside():
    curve = dict(shots=[1, 5, 20], mean=torch.tensor([[0.5, 0.6], [0.70, 0.72], [0.80, 0.81]]),
                 learned=torch.tensor([[0.45, 0.5], [0.72, 0.75], [0.83, 0.85]]), all=0.86)
    fig = tv.plot_shots_curve({"A-body": curve}, chance=0.2, references={"trained on B": 0.9})
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert 0.0 <= low <= 0.2 and 0.9 <= high <= 1.0  # chance and every reference stay in view
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5", "20"]
    fig = tv.plot_shots_curve({"A-body": curve})
    low, high = fig.axes[0].get_ylim()
    assert 0.4 < low < 0.45 and 0.85 < high < 0.9  # zoomed onto the band (0.45 to 0.85)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("lowest to highest of 2 draws" in t for t in texts)  # what the band means
    assert tv.plot_shots_curve({"A-body": curve}, ylim=(0, 1)).axes[0].get_ylim() == (0.0, 1.0)
    fig.canvas.draw()
    legend, axes_box = fig.axes[0].get_legend().get_window_extent(), fig.axes[0].get_window_extent()
    assert legend.x0 >= axes_box.x1
    with pytest.raises(ValueError, match="empty"):
        tv.plot_shots_curve({})


def test_prototype_agreement_writes_readable_cosines():
    p = torch.nn.functional.normalize(torch.randn(4, 6), dim=1)
    fig = tv.plot_prototype_agreement(p, -p, list("abcd"))
    ax = fig.axes[0]
    diagonal = [t for t in ax.texts if t.get_text() == "-1.00"]
    assert len(diagonal) == 4 and all(t.get_color() == "white" for t in diagonal)  # dark cells, light text
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert fig.axes[1].get_ylabel() == "cosine"
    with pytest.raises(ValueError, match="both must be"):
        tv.plot_prototype_agreement(p, p[:2])
