"""Figures: pure functions that return a ``matplotlib.figure.Figure``.

One module per topic, named after what it draws; widgets in the notebooks are
thin wrappers around these functions (``hff_edu.teaching.widgets.interactive_figure``).
``explorer`` is the exception: its 3-D prototype explorer is a plotly figure,
interactive on its own (shown with ``hff_edu.teaching.widgets.show_plotly``).
"""
