"""What the sample modules share: answers that are values, not code.

A predict, explain or choice exercise is answered by a function that returns a value (a letter, a dict
of letters, a dict of numbers); its samples differ only in that value, so they are written as data::

    "05.4": given_samples(right={"b": "b", "B with spaces": " B "}, wrong={"a": "a", "c": "c"}),

This module holds no exercise's samples (``SAMPLES`` is empty): ``tests/test_exercise_samples.py`` and
``benchmarks/exercise_audit.py`` read ``SAMPLES`` from every module of this folder.
"""
import copy

SAMPLES: dict = {}


def given(value):
    """A student's answer function that returns ``value`` (a fresh copy at every call, as a function
    that builds its answer would)."""
    return lambda: copy.deepcopy(value)


def given_all(values: dict) -> dict:
    """label -> value, as label -> answer function (:func:`given`)."""
    return {label: given(value) for label, value in values.items()}


def given_samples(right: dict, wrong: dict, **rest) -> dict:
    """The samples of an exercise answered by a value: ``right`` and ``wrong`` map a label to the value the
    answer returns; ``rest`` (e.g. ``context``) is passed on as it is."""
    return dict(right=given_all(right), wrong=given_all(wrong), **rest)
