"""The class palette stays apart for colour-blind viewers: every pair of class colours differs by at
least 15 CIE76 units with normal vision and under simulated protan, deutan and tritan vision
(Machado, Oliveira & Fernandes 2009, severity 1.0), and reads on white."""
import itertools

import numpy as np
import pytest

from hff_edu.core import palette

# Machado et al. 2009, severity 1.0, acting on linear RGB
CVD = {
    "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
WHITE = np.array([0.95047, 1.0, 1.08883])


def _linear(hex_colour):
    c = np.array([int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb):
    xyz = SRGB_TO_XYZ @ linear_rgb / WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _seen(hex_colour, vision):
    rgb = _linear(hex_colour)
    if vision != "normal":
        rgb = np.clip(np.array(CVD[vision]) @ rgb, 0, 1)
    return _lab(rgb)


def min_difference(colours, vision):
    return min(np.linalg.norm(_seen(a, vision) - _seen(b, vision))
               for a, b in itertools.combinations(colours, 2))


@pytest.mark.parametrize("vision", ["normal", "protan", "deutan", "tritan"])
def test_class_colours_stay_apart(vision):
    assert min_difference(palette.CLASS_COLORS, vision) >= 15


def test_the_measure_catches_a_palette_that_merges():
    # tab10's orange and green merge for protans: the measure must see it (else the test above is empty)
    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
             "#bcbd22", "#17becf"]
    assert min_difference(tab10, "protan") < 6
    assert min_difference(tab10, "normal") > 15


def test_class_colours_read_on_white():
    lightness = [_seen(c, "normal")[0] for c in palette.CLASS_COLORS]
    assert max(lightness) <= 72, "a class colour too pale to see on a white background"


def test_ten_colours_and_markers_all_different():
    assert len(set(palette.CLASS_COLORS)) == len(palette.CLASS_COLORS) == 10
    assert len(set(palette.CLASS_MARKERS)) == 10
    assert palette.class_colors(3) == list(palette.CLASS_COLORS[:3])
    assert len(set(palette.class_colors(14))) == 14
