"""The exercise engine: a stub is "not solved yet", a wrong answer says what is wrong without the
expected value and the notebook goes on (strict mode, the runner's, raises), an answer that calls
the function it should rebuild is wrong, and the counts are what CI compares."""
import re

import pytest
import torch

from hff_edu.teaching import exercises as ex
from hff_edu.teaching.forbid import ForbiddenCall, forbidden


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(ex.MODE_ENV, raising=False)
    saved = dict(ex.REGISTRY)
    ex.RESULTS.clear()
    yield
    ex.RESULTS.clear()
    ex.REGISTRY.clear()
    ex.REGISTRY.update(saved)


def _declare(key="99.1", forbid=(), kind="compute"):
    @ex.exercise(key, "double it", kind=kind, level=1, minutes=3, forbid=forbid)
    def _check(t, fn):
        for x in (torch.arange(3.0), torch.tensor(-7.5)):
            t.close(t.call(fn, x), 2 * x, f"an input of shape {tuple(x.shape)}")
    return key


def test_states_and_summary(capsys):
    key = _declare()
    assert ex.check(key, lambda x: x + x) is None and ex.RESULTS[key] == ex.CORRECT
    ex.check(key, stub)
    assert ex.RESULTS[key] == ex.UNSOLVED
    ex.check(key, None)
    assert ex.RESULTS[key] == ex.UNSOLVED
    ex.check(key, lambda x: 3 * x)
    assert ex.RESULTS[key] == ex.WRONG
    assert ex.summary() == {ex.CORRECT: 0, ex.WRONG: 1, ex.UNSOLVED: 0}
    out = capsys.readouterr().out
    assert "[99.1 double it] correct" in out and "[99.1 double it] not solved yet" in out
    assert "exercises: 0 correct, 1 wrong, 0 not solved yet" in out


def test_a_wrong_answer_says_what_is_wrong_but_not_the_expected_value(capsys):
    key = _declare()
    ex.check(key, lambda x: x + 1.25)
    out = capsys.readouterr().out
    assert "wrong" in out and "shape (3,)" in out and "the first at index" in out
    for expected in ("2.0", "4.0", "-15"):  # 2 * x on the hidden inputs
        assert expected not in out
    assert ex.STUCK in out  # points to the hints, does not print one


def test_a_wrong_answer_does_not_stop_the_notebook_but_does_under_the_runner(monkeypatch):
    key = _declare()
    ex.check(key, lambda x: x)  # friendly: returns, no exception
    assert ex.RESULTS[key] == ex.WRONG
    monkeypatch.setenv(ex.MODE_ENV, "strict")
    with pytest.raises(ex.ExerciseError, match="99.1"):
        ex.check(key, lambda x: x)
    monkeypatch.setenv(ex.MODE_ENV, "loud")
    with pytest.raises(ValueError, match="strict"):
        ex.mode()


def test_errors_in_the_answer_are_wrong_answers_with_the_error(capsys):
    key = _declare()
    ex.check(key, lambda x: x / undefined_name)  # noqa: F821
    assert ex.RESULTS[key] == ex.WRONG
    assert "NameError" in capsys.readouterr().out
    ex.check(key, 3)
    assert "should be a function" in capsys.readouterr().out


def test_calling_the_forbidden_function_is_wrong_even_when_the_error_is_caught(capsys):
    key = _declare(forbid=["hff_edu.methods.ff.goodness"])
    from hff_edu.methods import ff

    def sneaky(x):
        try:
            ff.goodness(x.reshape(1, -1))
        except Exception:
            pass
        return 2 * x
    ex.check(key, sneaky)
    assert ex.RESULTS[key] == ex.WRONG
    assert "hff_edu.methods.ff.goodness" in capsys.readouterr().out
    ex.check(key, lambda x: 2 * x)
    assert ex.RESULTS[key] == ex.CORRECT
    assert ff.goodness(torch.ones(2, 3)).tolist() == [3.0, 3.0]  # put back afterwards


def test_forbidden_catches_aliases_c_functions_and_classes():
    import torch.nn.functional as F
    from hff_edu.methods.hff import Prototypes
    from hff_edu.methods.ff import ff_loss as alias
    x = torch.randn(4, 3)
    with forbidden(["hff_edu.methods.ff.ff_loss", "torch.nn.functional.softplus",
                    "hff_edu.methods.hff.Prototypes"]) as seen:
        with pytest.raises(ForbiddenCall):
            alias(x[:, 0], x[:, 1], 0.0)
        F.softplus(x)  # a C function: recorded, not raised
        Prototypes(3, 1, 4)  # __init__ calls super(): a closure, watched and recorded
    assert seen == ["hff_edu.methods.ff.ff_loss", "torch.nn.functional.softplus", "hff_edu.methods.hff.Prototypes"]
    assert alias(torch.ones(1), torch.zeros(1), 0.0) > 0 and Prototypes(3, 1, 4) is not None
    with pytest.raises(ValueError, match="full dotted name"):
        with forbidden(["hff_edu.nothing_here"]):
            pass


def test_forbidden_catches_a_tensor_method_called_on_a_tensor():
    x = torch.randn(4, 3)
    with forbidden(["torch.Tensor.log_softmax"]) as seen:
        x.softmax(1)  # another method of the same tensor: allowed
        x.log_softmax(1)
        torch.Tensor.log_softmax(x, 1)
    assert seen == ["torch.Tensor.log_softmax"] * 2


def test_a_choice_gives_feedback_per_wrong_option(capsys):
    @ex.exercise("99.2", "pick", kind="explain", level=1, minutes=2)
    def _check(t, answer):
        t.choice(answer, ex.digest("b"), {"a": "a ignores the pairing", "c": "c ignores seeds"}, options="abc")
    ex.check("99.2", "B")
    assert ex.RESULTS["99.2"] == ex.CORRECT
    ex.check("99.2", "a")
    ex.check("99.2", "z")
    out = capsys.readouterr().out
    assert "a ignores the pairing" in out and "answer with one of" in out


def test_choices_checks_every_part_without_naming_the_right_option(capsys):
    table = {"first": (ex.digest("c"), {"a": "a forgets the pairing", "b": "b counts twice"}),
             "second": (ex.digest("a"), {"b": "b mixes up the limits"})}
    t = ex.Tester(ex.Exercise("99.5", "pick two", "explain", 1, 2, checker=None))
    t.choices({"first": "c", "second": " A ", "extra": "z"}, table)  # right (case, spaces, extra keys): passes
    t.choices(lambda: {"first": "C", "second": "a"}, table)  # a function returning the dict: its result counts
    for answers, says, right in [({"first": "a", "second": "a"}, "question 'first': a forgets the pairing", "c"),
                                 ({"first": "c", "second": "b"}, "question 'second': b mixes up the limits", "a"),
                                 ({"first": "c", "second": "d"}, "question 'second': that option does not fit", "a"),
                                 ({"first": "b", "second": "q"}, "question 'first': b counts twice", "c")]:
        with pytest.raises(ex.Wrong, match=says) as wrong:  # the first wrong part, named
            t.choices(answers, table)
        assert not re.search(rf"\b{right}\b", str(wrong.value)), f"names the right option: {wrong.value}"
    with pytest.raises(ex.Wrong, match="question 'second': answer with one of 'a', 'b', 'c', 'd'; got 'q'"):
        t.choices({"first": "c", "second": "q"}, table)
    with pytest.raises(ex.Wrong, match=r"one option letter per limit: keys \['first', 'second'\]; 'second' is missing"):
        t.choices({"first": "c"}, table, part="limit")
    with pytest.raises(ex.Wrong, match="return a dict.*the answer is a str"):
        t.choices("c", table)
    with pytest.raises(ex.Unsolved):
        t.choices(stub, table)

    @ex.exercise("99.5", "pick two", kind="explain", level=1, minutes=2)
    def _check(t, answer):
        t.choices(answer, table)
    ex.check("99.5", {"first": "c", "second": "a"})
    assert ex.RESULTS["99.5"] == ex.CORRECT
    ex.check("99.5", {"first": "c", "second": "b"})
    assert ex.RESULTS["99.5"] == ex.WRONG
    out = capsys.readouterr().out
    assert "[99.5 pick two] wrong: question 'second': b mixes up the limits" in out


def test_declarations_are_validated_and_keys_are_looked_up():
    with pytest.raises(ValueError, match="kind"):
        ex.exercise("99.3", "x", kind="quiz", level=1, minutes=5)
    with pytest.raises(ValueError, match="level"):
        ex.exercise("99.3", "x", kind="compute", level=4, minutes=5)
    with pytest.raises(ValueError, match="minutes"):
        ex.exercise("99.3", "x", kind="compute", level=1, minutes=0)
    with pytest.raises(KeyError, match="no exercise '01.99'"):
        ex.check("01.99", 1)
    @ex.exercise("99.4", "a header", kind="design", level=2, minutes=7)
    def _check(t, answer):
        t.equal(answer, 1)
    assert ex.lookup("99.4").header() == "**Exercise 99.4 · a header** · design · ★★ · ~7 min"
