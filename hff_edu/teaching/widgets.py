"""Interactive figures for the notebooks: the one helper every widget cell uses.

    interactive_figure(fn, epoch=IntSlider(...))   controls that redraw ``fn(epoch=...)``
    show_plotly(fig)                               a plotly figure, shown once

``fn`` is one of the package's plain figure functions (``viz``: ``(...) -> Figure``).
``interactive_figure`` calls it once straight away, so an exception fails a
papermill run and the first figure exists before any frontend is involved; every
control change calls it again. Each figure is rendered to PNG, put into the
widget's ``Output`` by setting ``Output.outputs`` (no capture context, so nothing
can escape to JupyterLab's Log Console or stay behind as a stale copy in the cell),
and closed at once (so the inline backend never shows it a second time).

Where no widget frontend exists (papermill's stored notebook on GitHub, an HTML
export without widget state) the displayed bundle falls back to the static PNG of
the current figure; with widget state (the notebook runner (``course/runner.py``)'s HTML export) the
controls and the figure render from the saved state.

Frames for pages without a kernel: when ``$HFF_EDU_WIDGET_FRAMES`` is set (the
notebook runner sets it for its papermill kernels) and the controls select at most
``MAX_FRAMES`` figures, every figure is drawn up front into a ``Stack`` of images,
and each control's index is linked to the stacks in the browser (``jslink``), so
the sliders of the exported HTML switch figures with no kernel at all. Numeric
sliders become ``SelectionSlider`` controls over the same values for this (a linked
index must count from 0). Beyond ``MAX_FRAMES`` the export shows the run's
figure and disables the controls, with a note.

Why not ``ipywidgets.interact``: with ipywidgets 8.1 and a backend that names itself
``inline``, figures drawn in its callback are not captured by the widget (they land
in the Log Console, or stay in the cell as a stale copy). Taught in every notebook
with a slider (00, 01, 02, 04, 05).
"""
from __future__ import annotations

import base64
import inspect
import io
import os
import traceback

import ipywidgets as W
from IPython.display import display
from matplotlib.figure import Figure

__all__ = ["InteractiveFigure", "interactive_figure", "figure_png", "plotly_bundle", "show_plotly"]

#: set (to anything but "" or "0") by the notebook runner (course/runner.py) for runs without a widget frontend
FRAMES_ENV = "HFF_EDU_WIDGET_FRAMES"
#: where a plotly figure's HTML gets plotly.js: None (the page has it: JupyterLab, Notebook 7 and VS Code
#: render plotly's mimetype, the runner's HTML export adds plotly.js once) or "cdn" (each figure loads it:
#: Colab and Kaggle render HTML only). hosted.setup() sets it for the frontend it finds.
PLOTLY_JS: str | None = None
#: the most figures an exported widget precomputes (the product of its controls' choices)
MAX_FRAMES = 60


def frames_wanted() -> bool:
    return os.environ.get(FRAMES_ENV, "") not in ("", "0")


def figure_png(fig: Figure, close: bool = True) -> str:
    """The figure as a base64 PNG (tight bounding box, the figure's dpi), closed afterwards.

    Closing matters: a figure left open in pyplot is shown again by the inline
    backend at the end of the next cell that runs.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}: the figure function "
                        "must return its Figure (and not call plt.show()).")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        if close:
            import matplotlib.pyplot as plt
            plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _control(name: str, abbrev, default):
    """An ipywidgets control from a widget or an ``interact`` abbreviation ((min, max), list, ...)."""
    if isinstance(abbrev, W.ValueWidget):
        control = abbrev
    else:
        control = W.interactive.widget_from_abbrev(abbrev, default)
        if control is None:
            raise ValueError(f"interactive_figure: cannot make a control for {name}={abbrev!r}: pass an "
                             "ipywidgets control, a (min, max[, step]) tuple, a list of options or a bool.")
    if not getattr(control, "description", ""):
        control.description = name
    return control


def control_choices(control) -> list | None:
    """Every value a control can take, in order, or None when it has no finite list."""
    if isinstance(control, W.widgets.widget_selection._Selection):
        return list(control._options_values)
    if isinstance(control, W.FloatLogSlider):
        n = int(round((control.max - control.min) / control.step)) + 1
        return [float(control.base ** (control.min + i * control.step)) for i in range(n)]
    if isinstance(control, (W.IntSlider, W.FloatSlider)):
        n = int(round((control.max - control.min) / control.step)) + 1
        kind = int if isinstance(control, W.IntSlider) else float
        return [kind(control.min + i * control.step) for i in range(n)]
    if isinstance(control, W.Checkbox):
        return [False, True]
    return None


def _indexed(control, choices):
    """A control with an ``index`` trait over ``choices`` (a linked index counts from 0)."""
    if isinstance(control, W.widgets.widget_selection._Selection):
        return control
    labels = [str(v) if isinstance(v, (int, bool)) else f"{v:.3g}" for v in choices]
    current = min(range(len(choices)), key=lambda i: abs(float(choices[i]) - float(control.value)))
    return W.SelectionSlider(options=list(zip(labels, choices)), index=current,
                             description=control.description, continuous_update=False)


class InteractiveFigure:
    """Controls and the figure ``fn(**values)`` they select; display it to show it (once).

    ``controls`` maps parameter names of ``fn`` to ipywidgets controls.
    ``redraws`` counts the figures drawn; ``png`` is the current figure (base64).
    """

    def __init__(self, fn, controls: dict, continuous: bool = False):
        if not callable(fn):
            raise TypeError(f"interactive_figure needs a function that returns a Figure, got {fn!r}.")
        if not controls:
            raise ValueError("interactive_figure needs at least one control, e.g. epoch=IntSlider(...).")
        params = inspect.signature(fn).parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = [n for n in controls if n not in params and not takes_kwargs]
        if unknown:
            raise ValueError(f"interactive_figure: {getattr(fn, '__name__', fn)} has no parameter(s) "
                             f"{unknown}; its parameters are {list(params)}.")
        self.fn = fn
        self.controls = {}
        for name, abbrev in controls.items():
            p = params.get(name)
            default = p.default if p is not None and p.default is not p.empty else inspect.Parameter.empty
            control = _control(name, abbrev, default)
            if hasattr(control, "continuous_update") and not continuous:
                control.continuous_update = False  # redraw when the slider is released, not on every pixel
            self.controls[name] = control
        self.redraws = 0
        self.error: str | None = None
        self.frames = 0  # figures drawn up front for a page without a kernel (0: live redraws)
        self.png = self._draw()  # the direct call: an exception here fails the cell (and papermill)
        self.output = W.Output(layout=W.Layout(min_height="2em"))
        self.output.outputs = (self._image_output(self.png),)
        figure_area = self.output
        note = []
        if frames_wanted():
            choices = {n: control_choices(c) for n, c in self.controls.items()}
            count = 1
            for values in choices.values():
                count = count * len(values) if values is not None and count is not None else None
            if count is not None and count <= MAX_FRAMES:
                figure_area = self._frame_stacks(choices)
            else:
                for c in self.controls.values():
                    c.disabled = True
                note = [W.HTML(f"<i>Static copy: these controls select {count or 'unlimited'} figures "
                               f"(more than {MAX_FRAMES} to store); run the notebook to use them.</i>")]
        self.widget = W.VBox([W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap")),
                              *note, figure_area])
        if not self.frames:
            for control in self.controls.values():
                control.observe(self._changed, names="value")

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def _frame_stacks(self, choices: dict):
        """Every figure the controls can select, in nested ``Stack`` widgets linked to the controls' indices."""
        names = list(self.controls)
        self.controls = {n: _indexed(c, choices[n]) for n, c in self.controls.items()}
        current = [self.controls[n].index for n in names]

        def stacks(depth: int, fixed: dict, index: tuple):
            if depth == len(names):
                png = self.png if list(index) == current else figure_png(self.fn(**fixed))
                self.frames += 1
                return W.Image(value=base64.b64decode(png), format="png")
            name = names[depth]
            children = [stacks(depth + 1, {**fixed, name: v}, index + (i,)) for i, v in enumerate(choices[name])]
            stack = W.Stack(children, selected_index=self.controls[name].index)
            self._links.append(W.jslink((self.controls[name], "index"), (stack, "selected_index")))
            return stack

        self._links = []
        return stacks(0, {}, ())

    def _draw(self) -> str:
        png = figure_png(self.fn(**self.values))
        self.redraws += 1
        return png

    @staticmethod
    def _image_output(png: str) -> dict:
        return {"output_type": "display_data", "data": {"image/png": png, "text/plain": "<Figure>"},
                "metadata": {}}

    def _changed(self, change=None) -> None:
        # Runs in a comm handler: an exception must not escape (it would go to the Log Console);
        # show it where the figure was, and keep the controls usable.
        try:
            self.png = self._draw()
            self.error = None
            self.output.outputs = (self._image_output(self.png),)
        except Exception as e:  # noqa: BLE001: any error of the figure function is shown in place
            self.error = f"{type(e).__name__}: {e}"
            tb = traceback.format_exception(type(e), e, e.__traceback__)
            self.output.outputs = ({"output_type": "stream", "name": "stderr", "text": "".join(tb)},)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {}
        shown = ", ".join(f"{n}={v!r}" for n, v in self.values.items())
        bundle["image/png"] = self.png  # the static fallback where no widget frontend exists
        bundle["text/plain"] = f"<interactive figure: {getattr(self.fn, '__name__', 'figure')}({shown})>"
        return bundle


def interactive_figure(fn, continuous: bool = False, **controls) -> InteractiveFigure:
    """Controls that redraw ``fn(**values)``; put it last in a cell (or ``display`` it) to show it.

    ``controls``: one per parameter of ``fn`` to vary, an ipywidgets control or an
    ``interact`` abbreviation (``(0, 10)``, ``["a", "b"]``, ``True``). Sliders redraw
    when released (``continuous=True``: while dragging). ``fn`` is called once now,
    with the controls' initial values: its exceptions propagate (CI sees them).
    """
    return InteractiveFigure(fn, controls, continuous=continuous)


def plotly_bundle(fig) -> dict:
    """The mime bundle of a plotly figure: plotly's own mimetype (JupyterLab, VS Code) and HTML.

    The HTML part is a ``<div>`` and a script calling ``Plotly.newPlot`` without
    plotly.js itself: the notebook runner (``course/runner.py``)'s HTML export puts plotly.js (from the
    plotly package, no CDN) once into the page head. Where the frontend renders HTML only (Colab,
    Kaggle: :data:`PLOTLY_JS` = "cdn"), the HTML loads plotly.js from its CDN itself.
    """
    import plotly.io as pio
    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())
    bundle["text/html"] = pio.to_html(fig, include_plotlyjs=PLOTLY_JS or False, full_html=False,
                                      config={"displaylogo": False, "responsive": True})
    bundle["text/plain"] = f"<plotly figure: {fig.layout.title.text or 'untitled'}>"
    return bundle


def show_plotly(fig) -> None:
    """Display a plotly figure exactly once (see :func:`plotly_bundle`)."""
    display(plotly_bundle(fig), raw=True)
