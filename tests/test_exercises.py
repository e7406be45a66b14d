"""The exercise convention: a stub is "not solved yet" (no error), a wrong answer raises,
a right one is "correct"; the results are recorded for the counts CI compares."""
import pytest
import torch

from hff_edu import exercises as ex


def stub(*args):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def _fresh_results():
    ex.RESULTS.clear()
    yield
    ex.RESULTS.clear()


@pytest.mark.parametrize("check", [
    lambda a: ex.check_close("c", a, 1.0),
    lambda a: ex.check_equal("c", a, 3),
    lambda a: ex.check_range("c", a, 0.0, 1.0),
    lambda a: ex.check_true("c", a, "must hold"),
])
def test_a_stub_is_not_solved_yet_and_does_not_raise(check, capsys):
    assert check(stub) is False
    assert check(None) is False
    assert ex.RESULTS == {"c": ex.UNSOLVED}
    assert "[c] not solved yet" in capsys.readouterr().out


def test_a_stub_function_is_not_solved_yet():
    assert ex.check_function("f", stub, lambda v: v, [1.0]) is False
    assert ex.check_function("f", lambda v: None, lambda v: v, [1.0]) is False
    assert ex.check_function("f", None, lambda v: v, [1.0]) is False
    assert ex.RESULTS["f"] == ex.UNSOLVED


def test_wrong_answers_raise_with_what_was_expected():
    with pytest.raises(ex.ExerciseError, match="expected 1, got 2"):
        ex.check_close("c", lambda: 2.0, 1.0)
    with pytest.raises(ex.ExerciseError, match="expected 3, got 4"):
        ex.check_equal("e", 4, 3)
    with pytest.raises(ex.ExerciseError, match="must hold"):
        ex.check_true("t", lambda: False, "must hold")
    with pytest.raises(ex.ExerciseError, match="values off"):
        ex.check_function("f", lambda v: v + 1, lambda v: v, [torch.ones(3)])
    with pytest.raises(ex.ExerciseError, match="raised ZeroDivisionError"):
        ex.check_function("f", lambda v: 1 / 0, lambda v: v, [1.0])


def test_right_answers_are_recorded_and_counted(capsys):
    assert ex.check_close("a", lambda: 0.5, 0.5)
    assert ex.check_function("b", lambda v: 2 * v, lambda v: v + v, [1.0, torch.arange(3.0)])
    ex.check_equal("c", stub, 1)
    assert ex.summary() == {ex.CORRECT: 2, ex.UNSOLVED: 1}
    out = capsys.readouterr().out
    assert "[a] correct" in out and "exercises: 2 correct, 1 not solved yet" in out
