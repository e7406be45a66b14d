"""Every exercise of the course against answers a student could give (tests/exercise_samples/): the
right ones are correct, every wrong-but-plausible one is caught, every answer that calls the package
function the exercise rebuilds is caught, and a blank is "not solved yet".
``python benchmarks/exercise_audit.py`` prints the same as a table."""
import importlib
import pkgutil

import pytest

import exercise_samples
from hff_edu.teaching import exercises as ex

SAMPLES = {}
for _m in pkgutil.iter_modules(exercise_samples.__path__):
    SAMPLES.update(importlib.import_module(f"exercise_samples.{_m.name}").SAMPLES)


def stub(*args, **kwargs):
    raise NotImplementedError


def _run(key, answer, sample):
    context = sample.get("context", dict)()
    ex.check(key, answer, **context)
    return ex.RESULTS[key]


@pytest.mark.parametrize("key", [e.key for e in ex.catalogue()])
def test_every_exercise_has_samples(key):
    sample = SAMPLES.get(key)
    assert sample, f"exercise {key} has no answers in tests/exercise_samples/"
    assert sample.get("right") and sample.get("wrong"), f"{key}: give right and wrong-but-plausible answers"
    if ex.lookup(key).kind in ("compute", "debug"):
        assert sample.get("package"), f"{key}: give the answer that calls the package function it rebuilds"


@pytest.mark.parametrize("key", [e.key for e in ex.catalogue()])
def test_answers_are_judged_right(key, monkeypatch):
    monkeypatch.delenv(ex.MODE_ENV, raising=False)
    sample = SAMPLES[key]
    for label, answer in sample["right"].items():
        assert _run(key, answer, sample) == ex.CORRECT, f"{key}: the right answer {label!r} was not accepted"
    for kind in ("wrong", "package"):
        for label, answer in sample.get(kind, {}).items():
            assert _run(key, answer, sample) == ex.WRONG, f"{key}: the {kind} answer {label!r} was accepted"
    assert _run(key, sample.get("blank", stub), sample) == ex.UNSOLVED
