"""hff_edu.teaching.widgets: the interactive-figure helper (outside a kernel: ipywidgets uses dummy comms)."""
import base64

import ipywidgets as W
import matplotlib.pyplot as plt
import pytest

from hff_edu.teaching.widgets import figure_png, interactive_figure, plotly_bundle


@pytest.fixture(autouse=True)
def _live(monkeypatch):
    # live redraws unless a test asks for frames (a notebook run in this process would set it)
    monkeypatch.delenv("HFF_EDU_WIDGET_FRAMES", raising=False)


def _line(n=3, kind="a"):
    fig, ax = plt.subplots()
    ax.plot(range(n))
    ax.set_title(kind)
    return fig


def test_first_figure_drawn_once_and_closed():
    w = interactive_figure(_line, n=W.IntSlider(value=3, min=2, max=6))
    assert w.redraws == 1
    assert base64.b64decode(w.png).startswith(b"\x89PNG")
    assert plt.get_fignums() == [], "the figure must be closed, or the inline backend shows it again"
    (out,) = w.output.outputs
    assert out["output_type"] == "display_data" and out["data"]["image/png"] == w.png


def test_control_change_replaces_the_figure_in_the_output():
    w = interactive_figure(_line, n=W.IntSlider(value=3, min=2, max=6), kind=["a", "b"])
    first = w.png
    w.controls["n"].value = 5
    assert w.redraws == 2 and w.png != first
    w.controls["kind"].value = "b"
    assert w.redraws == 3
    assert len(w.output.outputs) == 1, "exactly one figure in the output, never a stale copy"
    assert plt.get_fignums() == []


def test_sliders_redraw_on_release_unless_continuous():
    assert interactive_figure(_line, n=(2, 6)).controls["n"].continuous_update is False
    assert interactive_figure(_line, continuous=True, n=(2, 6)).controls["n"].continuous_update is True


def test_abbreviations_and_defaults_like_interact():
    w = interactive_figure(_line, n=(2, 8), kind=["a", "b"])
    assert isinstance(w.controls["n"], W.IntSlider) and isinstance(w.controls["kind"], W.Dropdown)
    assert w.controls["n"].value == 3, "the function's default is the control's first value"
    assert w.controls["n"].description == "n"


def test_bundle_has_widget_view_and_static_png_fallback():
    w = interactive_figure(_line, n=(2, 8))
    bundle = w._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == w.widget.model_id
    assert bundle["image/png"] == w.png
    assert "interactive(" not in bundle["text/plain"] and "_line(n=3)" in bundle["text/plain"]


def test_error_in_callback_is_shown_in_place_and_first_call_raises():
    def fig_or_fail(n=1):
        if n > 2:
            raise RuntimeError("too big")
        return _line(n)

    w = interactive_figure(fig_or_fail, n=(1, 4))
    w.controls["n"].value = 3
    assert w.error == "RuntimeError: too big"
    (out,) = w.output.outputs
    assert out["output_type"] == "stream" and "too big" in out["text"]
    w.controls["n"].value = 2  # recovers
    assert w.error is None and w.output.outputs[0]["output_type"] == "display_data"
    with pytest.raises(RuntimeError, match="too big"):  # the direct first call fails the cell (and CI)
        interactive_figure(fig_or_fail, n=W.IntSlider(value=4, min=1, max=4))


def test_clear_errors():
    with pytest.raises(ValueError, match="has no parameter"):
        interactive_figure(_line, m=(1, 3))
    with pytest.raises(ValueError, match="at least one control"):
        interactive_figure(_line)
    with pytest.raises(TypeError, match="must return its Figure"):
        interactive_figure(lambda n: None, n=(1, 3))
    with pytest.raises(TypeError, match="matplotlib Figure"):
        figure_png("not a figure")


def test_plotly_bundle_mimetype_and_html_without_plotlyjs():
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1]), layout=dict(title=dict(text="t")))
    b = plotly_bundle(fig)
    assert b["application/vnd.plotly.v1+json"]["data"][0]["type"] == "scatter3d"
    assert "Plotly.newPlot" in b["text/html"] and len(b["text/html"]) < 100_000, "plotly.js is not inlined"
    assert b["text/plain"] == "<plotly figure: t>"


def test_frames_for_pages_without_a_kernel(monkeypatch):
    monkeypatch.setenv("HFF_EDU_WIDGET_FRAMES", "1")
    w = interactive_figure(_line, n=W.IntSlider(value=3, min=2, max=4), kind=["a", "b"])
    assert w.frames == 6, "every combination is drawn up front"
    assert isinstance(w.controls["n"], W.SelectionSlider) and w.controls["n"].value == 3
    root = w.widget.children[-1]
    assert isinstance(root, W.Stack) and root.selected_index == 1 and len(root.children) == 3
    assert all(isinstance(s, W.Stack) and len(s.children) == 2 for s in root.children)
    # each control's index is linked to every stack at its depth: 1 + 3 links
    assert len(w._links) == 4
    assert {(l.source[1], l.target[1]) for l in w._links} == {("index", "selected_index")}
    shown = root.children[1].children[0]
    assert shown.value == base64.b64decode(w.png), "the selected frame is the run's own figure"
    assert plt.get_fignums() == []


def test_too_many_frames_disable_the_controls_with_a_note(monkeypatch):
    monkeypatch.setenv("HFF_EDU_WIDGET_FRAMES", "1")
    w = interactive_figure(_line, n=(2, 200))
    assert w.frames == 0 and w.controls["n"].disabled
    assert "run the notebook" in w.widget.children[1].value


def test_control_choices_match_the_slider_values():
    from hff_edu.teaching.widgets import control_choices
    assert control_choices(W.IntSlider(min=1, max=7, step=3)) == [1, 4, 7]
    logs = control_choices(W.FloatLogSlider(base=10, min=-2, max=0, step=1))
    assert logs == pytest.approx([0.01, 0.1, 1.0])
    assert control_choices(W.Dropdown(options=["x", "y"])) == ["x", "y"]
    assert control_choices(W.Text()) is None
