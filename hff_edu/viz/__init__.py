"""Figures: pure functions that return a ``matplotlib.figure.Figure``.

One module per topic, named after what it draws; widgets in the notebooks are
thin wrappers around these functions.
"""
