"""The suite's colours: one colour-blind-safe palette (Okabe & Ito 2008) for every figure.

Kept at the bottom of the layers so that a method can declare its own colour (``methods/``) and
every figure can read it (``viz/``). Positive/negative data and correct/wrong are blue against
vermillion (never green against red, which 1 in 12 men cannot tell apart).
"""
from __future__ import annotations

#: Okabe & Ito's colour-blind-safe palette: blue, orange, bluish green, reddish purple,
#: sky blue, vermillion, yellow, black
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK = OKABE_ITO
#: backprop's colour: a neutral grey, so that the local methods stand out against it
GREY = "#555555"

#: ten class colours for up to ten classes, chosen (from Tol's, Okabe & Ito's and tab10's colours, with
#: lightness L* 22-70 so that every one reads on white) to stay apart for every viewer: the smallest
#: CIE76 difference between two of them is 15.5 with normal vision and under a full protan, deutan
#: or tritan deficiency (Machado et al. 2009's simulation; tab10's is 4.6 for protans, Tol's
#: "muted" 1.4 for deutans), measured by ``tests/test_palette.py``. Every figure also gives each
#: class its own marker (:data:`CLASS_MARKERS`), so that print in grey still tells them apart.
CLASS_COLORS = ("#332288", "#AAAA00", "#56B4E9", "#D62728", "#228833",
                "#CC79A7", "#8C564B", "#9467BD", "#EE6677", "#AA3377")
#: one matplotlib marker per class, in the order of :data:`CLASS_COLORS`
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", "h")
#: the same shapes as plotly scatter3d symbols (3-D plotly has fewer: open variants make up the ten)
CLASS_MARKERS_3D = ("circle", "square", "diamond", "cross", "x", "circle-open", "square-open",
                    "diamond-open", "circle", "square")


def class_colors(n: int) -> list[str]:
    """``n`` class colours: :data:`CLASS_COLORS` up to ten, beyond that evenly spaced hues of a
    perceptually uniform map (markers then matter even more)."""
    if n <= len(CLASS_COLORS):
        return list(CLASS_COLORS[:max(n, 0)])
    import matplotlib
    from matplotlib.colors import to_hex
    cmap = matplotlib.colormaps["turbo"]
    return [to_hex(cmap(0.05 + 0.9 * i / (n - 1))) for i in range(n)]


def class_marker(i: int) -> str:
    """The marker of class ``i`` (the shapes repeat after ten, with the colours then all different)."""
    return CLASS_MARKERS[i % len(CLASS_MARKERS)]


def series_colors(n: int) -> list[str]:
    """``n`` colours for lines that are not methods or classes (several C, several tau): Okabe & Ito's."""
    base = [c for c in OKABE_ITO if c not in (YELLOW,)]  # yellow on white is unreadable as a line
    return [base[i % len(base)] for i in range(n)]
