"""Claim checks: they hold, fail, or are skipped with a printed reason; conclusions follow the numbers."""
import pytest

from hff_edu.claims import ClaimFailed, Claims, accuracy_noise, gap_sentence


def test_a_claim_holds_fails_or_is_skipped(capsys):
    claims = Claims("smoke")
    assert claims.check("beats chance", 0.8 > 0.1, "0.8 vs 0.1")
    assert claims.check("lazy", lambda: True)
    with pytest.raises(ClaimFailed, match="does not hold"):
        claims.check("wrong", False, "detail")
    assert claims.check("small run", False, skip_in={"smoke": "too few samples"}) is False
    out = capsys.readouterr().out
    assert "[claim] beats chance: holds (0.8 vs 0.1)" in out
    assert "[claim] small run: skipped in smoke: too few samples" in out
    assert claims.summary() == {"holds": 2, "skipped": 1, "failed": 1}


def test_a_skip_applies_only_to_its_profile():
    with pytest.raises(ClaimFailed):
        Claims("classroom").check("small run", False, skip_in={"smoke": "too few samples"})


def test_gap_sentence_does_not_rank_inside_the_noise():
    assert "not visible at this size" in gap_sentence("HFF", 0.866, "BP", 0.863, noise=0.01)
    s = gap_sentence("HFF", 0.90, "FF", 0.80, noise=0.01)
    assert s.startswith("In this run HFF is ahead of FF by 0.1")
    assert gap_sentence("FF", 0.80, "HFF", 0.90, noise=0.01).startswith("In this run HFF is ahead of FF")


def test_accuracy_noise():
    assert accuracy_noise(0.5, 10000) == pytest.approx(2 * 0.005)
    assert accuracy_noise(1.0, 100) > 0  # a perfect score still has an error bar
    assert accuracy_noise(0.9, 100) > accuracy_noise(0.9, 10000)
    with pytest.raises(ValueError):
        accuracy_noise(0.5, 0)
