"""The suite's colours: one colour-blind-safe palette (Okabe & Ito 2008) for every figure.

Positive/negative data and correct/wrong are blue against vermillion (never green against
red, which 1 in 12 men cannot tell apart); every method has one colour in every figure, so a
student learns "HFF is blue" once. Lines also differ in style where a figure may be printed
in grey.
"""
from __future__ import annotations

#: Okabe & Ito's colour-blind-safe palette: blue, orange, bluish green, reddish purple,
#: sky blue, vermillion, yellow, black
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILLION, YELLOW, BLACK = OKABE_ITO

#: positive vs negative data (FF), correct vs wrong (margins, predictions)
POS_COLOR, NEG_COLOR = BLUE, VERMILLION
CORRECT_COLOR, WRONG_COLOR = BLUE, VERMILLION
#: the gradient / loss annotations of the locality diagrams
GRADIENT_COLOR = VERMILLION

#: one colour and line style per method, the same in every figure (conv kinds share their MLP's)
METHOD_COLORS = {"hff": BLUE, "ff": ORANGE, "local-ce": GREEN, "bp": "#555555"}
METHOD_STYLES = {"hff": "-", "ff": "--", "local-ce": "-.", "bp": ":"}


def method_color(name: str) -> str:
    """The colour of a method name such as ``"hff"``, ``"ff-conv"`` or ``"hff last"``."""
    base = name.split()[0].removesuffix("-conv").lower()
    return METHOD_COLORS.get(base, PURPLE)


def method_style(name: str) -> str:
    base = name.split()[0].removesuffix("-conv").lower()
    return METHOD_STYLES.get(base, "-")
