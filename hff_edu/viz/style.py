"""The suite's colours: the colour-blind-safe palette of ``core/palette.py`` for every figure, and
each method's colour and line style as the method declares them (``methods/``: ``MethodSpec.color``).

Positive/negative data and correct/wrong are blue against vermillion (never green against
red, which 1 in 12 men cannot tell apart); every method has one colour in every figure, so a
student learns "HFF is blue" once. Lines also differ in style where a figure may be printed
in grey.
"""
from __future__ import annotations

from ..core.palette import BLACK, BLUE, GREEN, GREY, OKABE_ITO, ORANGE, PURPLE, SKY, VERMILLION, YELLOW
from ..methods import SPECS, spec_of

#: positive vs negative data (FF), correct vs wrong (margins, predictions)
POS_COLOR, NEG_COLOR = BLUE, VERMILLION
CORRECT_COLOR, WRONG_COLOR = BLUE, VERMILLION
#: the gradient / loss annotations of the locality diagrams
GRADIENT_COLOR = VERMILLION

#: one colour and line style per method, the same in every figure (conv kinds share their MLP's)
METHOD_COLORS = {name: spec.color for name, spec in SPECS.items()}
METHOD_STYLES = {name: spec.linestyle for name, spec in SPECS.items()}


def _spec(name: str):
    try:
        return spec_of(name)
    except ValueError:
        return None


def method_color(name: str) -> str:
    """The colour of a method name such as ``"hff"``, ``"ff-conv"`` or ``"hff last"`` (purple if unknown)."""
    spec = _spec(name)
    return spec.color if spec is not None else PURPLE


def method_style(name: str) -> str:
    spec = _spec(name)
    return spec.linestyle if spec is not None else "-"


__all__ = ["OKABE_ITO", "BLUE", "ORANGE", "GREEN", "PURPLE", "SKY", "VERMILLION", "YELLOW", "BLACK", "GREY",
           "POS_COLOR", "NEG_COLOR", "CORRECT_COLOR", "WRONG_COLOR", "GRADIENT_COLOR", "METHOD_COLORS",
           "METHOD_STYLES", "method_color", "method_style"]
