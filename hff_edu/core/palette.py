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
