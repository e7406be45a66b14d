"""plot_step_losses (02b_hff_from_scratch): it draws every run and their true gap, and rejects bad input."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from hff_edu.viz import training_views as tv


def _curves():
    t = np.arange(10, dtype=float)
    ref = np.stack([2.0 / (1 + t), 1.5 / (1 + t)], axis=1)     # (10 steps, 2 layers)
    close = ref + 1e-5 * np.array([1.0, -2.0])                 # a near-perfect copy
    late = ref.copy()
    late[6:, 1] += 0.1                                          # agrees, then departs at step 6
    return {"fit": ref, "yours": torch.tensor(close), "other": late}


def test_one_panel_per_layer_and_a_gap_panel_with_the_true_gaps():
    fig = tv.plot_step_losses(_curves(), layer_names=["layer 1", "layer 2"], reference="fit", tolerance=1e-3)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes[:2]] == ["layer 1", "layer 2"]
    assert all(len(ax.lines) == 3 for ax in fig.axes[:2])     # every run in every layer panel
    gap = {line.get_label(): line.get_ydata() for line in fig.axes[2].lines}
    assert set(gap) == {"yours", "other", "tolerance 0.001"}  # the reference has no gap to itself
    np.testing.assert_allclose(gap["tolerance 0.001"], 1e-3)
    np.testing.assert_allclose(gap["yours"], 2e-5, rtol=1e-6)  # max over layers of |difference|
    np.testing.assert_allclose(gap["other"][:6], 1e-9)         # exact agreement is drawn at the floor
    np.testing.assert_allclose(gap["other"][6:], 0.1, rtol=1e-9)
    assert fig.axes[2].get_yscale() == "log" and "0 drawn at 1e-09" in fig.axes[2].get_ylabel()
    assert fig.axes[0].get_ylim()[0] == 0                      # loss axes are not truncated


def test_without_reference_only_the_layer_panels_and_a_1d_curve_is_one_layer():
    fig = tv.plot_step_losses({"a": np.linspace(1, 0.5, 8), "b": np.linspace(1, 0.4, 8)})
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "layer 1"
    wide = {"ff": np.stack([np.geomspace(30, 0.5, 8)] * 2, axis=1)}
    assert tv.plot_step_losses(wide).axes[0].get_yscale() == "log"  # spans more than a factor 20


@pytest.mark.parametrize("curves, kwargs, match", [
    ({}, {}, "empty"),
    ({"a": np.ones((5, 2)), "b": np.ones((4, 2))}, {}, "same"),
    ({"a": np.ones((5, 2))}, {"layer_names": ["only one"]}, "one name per column"),
    ({"a": np.ones((5, 2)), "b": np.ones((5, 2))}, {"reference": "c"}, "not one of the runs"),
    ({"a": np.ones((5, 2))}, {"reference": "a"}, "second run"),
    ({"a": np.ones((0, 2))}, {}, r"\(steps, layers\)"),
])
def test_bad_input_is_named(curves, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tv.plot_step_losses(curves, **kwargs)
