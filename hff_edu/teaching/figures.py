"""Numbered figures with a caption and alt text, in the notebook, its HTML export and the site.

    figs = Figures("03")                                   # once, in the set-up cell
    figs.show(fig, "curves", "Test accuracy per epoch ...", alt="Four rising lines ...")
    figs.caption("explorer", "The embeddings on the sphere ...", alt="...")   # under a widget

:meth:`Figures.show` displays one bundle: an HTML ``<figure>`` (the PNG with its ``alt`` text and
a ``<figcaption>`` "Figure 03.2. ..."), the PNG alone (for exports that take no HTML) and the
caption as plain text (so the text view says what the figure shows, not ``<Figure size ...>``).
Numbers are given by key in the order a figure first appears, so rerunning a cell keeps its number.
The caption says what to look at; the alt text describes the figure for someone who cannot see it.
"""
from __future__ import annotations

import html

from matplotlib.figure import Figure

from .widgets import figure_png

#: the CSS class of every captioned figure (the browser tests and the site look for it)
CSS_CLASS = "hff-figure"


class CaptionError(ValueError):
    """A figure without a caption or alt text."""


class Figures:
    """The figures of one notebook: numbers by key, captions and alt text."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.numbers: dict[str, int] = {}

    def number(self, key: str) -> str:
        """``"03.2"``: the figure's number, the same on every rerun of its cell."""
        if key not in self.numbers:
            self.numbers[key] = len(self.numbers) + 1
        return f"{self.notebook}.{self.numbers[key]}"

    @staticmethod
    def _texts(caption: str, alt: str) -> tuple[str, str]:
        caption, alt = (caption or "").strip(), (alt or "").strip()
        if not caption or not alt:
            raise CaptionError("a figure needs a caption (what to look at) and alt text (what it shows, for "
                               "someone who cannot see it): pass both.")
        return caption, alt

    def bundle(self, fig: Figure, key: str, caption: str, alt: str) -> dict:
        """The display bundle of :meth:`show` (HTML figure, PNG, caption as text); closes ``fig``."""
        caption, alt = self._texts(caption, alt)
        label = f"Figure {self.number(key)}."
        png = figure_png(fig)
        page = (f'<figure class="{CSS_CLASS}" id="figure-{html.escape(self.number(key))}" style="margin:0.5em 0">'
                f'<img src="data:image/png;base64,{png}" alt="{html.escape(alt, quote=True)}" '
                'style="max-width:100%;height:auto">'
                f'<figcaption style="font-size:0.92em;margin-top:0.3em"><b>{html.escape(label)}</b> '
                f"{html.escape(caption)}</figcaption></figure>")
        return {"text/html": page, "image/png": png, "text/plain": f"{label} {caption}"}

    def show(self, fig: Figure, key: str, caption: str, alt: str) -> None:
        """Display ``fig`` as a numbered figure with its caption and alt text (and close it)."""
        from IPython.display import display
        display(self.bundle(fig, key, caption, alt), raw=True, metadata={"image/png": {"alt": alt}})

    def caption(self, key: str, caption: str, alt: str) -> None:
        """A caption for a figure drawn by something else (a widget, a plotly figure), shown under it; the
        description sits in a folded block, for screen readers and for whoever wants it."""
        from IPython.display import display
        caption, alt = self._texts(caption, alt)
        label = f"Figure {self.number(key)}."
        display({"text/html": (f'<div class="{CSS_CLASS}-caption" style="font-size:0.92em">'
                               f"<b>{html.escape(label)}</b> {html.escape(caption)}"
                               f"<details><summary>Figure description</summary>{html.escape(alt)}</details></div>"),
                 "text/plain": f"{label} {caption}"}, raw=True)

    def interactive(self, fn, key: str, caption: str, alt: str, continuous: bool = False, **controls):
        """:func:`hff_edu.teaching.widgets.interactive_figure` with its caption under it; returns it."""
        from IPython.display import display
        from .widgets import interactive_figure
        self._texts(caption, alt)
        figure = interactive_figure(fn, continuous=continuous, **controls)
        display(figure)
        self.caption(key, caption, alt)
        return figure

    def plotly(self, fig, key: str, caption: str, alt: str) -> None:
        """A plotly figure, shown once, with its caption under it."""
        from .widgets import show_plotly
        self._texts(caption, alt)
        show_plotly(fig)
        self.caption(key, caption, alt)
