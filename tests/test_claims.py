"""Claim checks: they hold, fail or are skipped with a printed reason; a failure is fatal under the
runner and CI and a friendly box in a class; comparisons use paired tests; timing claims read the
load measured during the measurement."""
import math
import subprocess
import sys
import time

import pytest
import torch

from hff_edu import stats
from hff_edu.teaching.claims import MODE_ENV, ClaimFailed, Claims, gap_sentence, mode
from hff_edu.measuring.load import LoadMeter


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv(MODE_ENV, "strict")


def test_a_claim_holds_fails_or_is_skipped(capsys, strict):
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


def test_a_skip_applies_only_to_its_profile(strict):
    with pytest.raises(ClaimFailed):
        Claims("classroom").check("small run", False, skip_in={"smoke": "too few samples"})


def test_in_a_class_a_failed_claim_is_a_box_and_the_notebook_goes_on(monkeypatch, capsys):
    monkeypatch.setenv(MODE_ENV, "friendly")
    claims = Claims("classroom")
    assert claims.check("HFF beats FF", False, "HFF 0.80, FF 0.85", expected="HFF ahead") is False
    assert claims.check("next claim", True)
    out = capsys.readouterr().out
    assert "[claim] HFF beats FF: FAILED (HFF 0.80, FF 0.85)" in out
    assert "expected: HFF ahead" in out and "this run: HFF 0.80, FF 0.85" in out and "goes on" in out
    assert claims.summary() == {"holds": 1, "skipped": 0, "failed": 1}


def test_record_mode_prints_one_line_and_goes_on(monkeypatch, capsys):
    monkeypatch.setenv(MODE_ENV, "record")
    assert Claims("classroom").check("x", False, "d") is False
    assert capsys.readouterr().out.strip() == "[claim] x: FAILED (d)"


def test_mode_defaults(monkeypatch):
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert mode() == "friendly"
    monkeypatch.setenv("CI", "true")
    assert mode() == "strict"
    monkeypatch.setenv(MODE_ENV, "loud")
    with pytest.raises(ValueError, match="choose one of strict, friendly, record"):
        mode()


# -- paired statistics ---------------------------------------------------------------------------

def test_mcnemar_counts_only_the_samples_where_the_models_disagree():
    # 1000 samples; A and B agree on 900; A alone right on 70, B alone right on 30
    a = torch.zeros(1000, dtype=torch.bool)
    b = torch.zeros(1000, dtype=torch.bool)
    a[:800], b[:800] = True, True        # both right
    a[800:870] = True                    # only A
    b[870:900] = True                    # only B
    c = stats.mcnemar(a, b, "A", "B")
    assert c.acc_a == pytest.approx(0.87) and c.acc_b == pytest.approx(0.83)
    # exact binomial: P(X <= 30 | n = 100, 1/2) * 2
    from scipy.stats import binomtest
    assert c.p_value == pytest.approx(binomtest(30, 100, 0.5).pvalue, rel=1e-9)
    assert c.favours("A") and not c.favours("B")
    assert "A is ahead of B by 4 points" in c.sentence()


def _pairs(both, only_a, only_b, neither):
    """Right/wrong vectors of A and B with the given counts of agreement and disagreement."""
    a = torch.tensor([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = torch.tensor([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    return a, b


def test_the_same_gap_is_resolved_or_not_by_how_the_models_disagree():
    # both 3 points apart on 1000 samples: decided by 30 discordant samples, or drowned in 400
    tight = stats.mcnemar(*_pairs(820, 30, 0, 150))
    loose = stats.mcnemar(*_pairs(600, 215, 185, 0))
    assert tight.gap == pytest.approx(0.03) and loose.gap == pytest.approx(0.03)
    assert tight.resolved() and not loose.resolved()
    assert "not resolved" in loose.sentence()


def test_one_accuracy_s_error_is_not_the_error_of_a_difference():
    one = stats.accuracy_noise(0.85, 2000)
    assert stats.difference_noise(0.85, 2000, 0.85, 2000) == pytest.approx(math.sqrt(2) * one)


def test_paired_bootstrap_and_compare():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(500, generator=g)
    better = (base + 0.1).clamp(max=1.0)
    c = stats.compare(better, base, "better", "base")
    assert c.test == "paired bootstrap" and c.favours("better")
    assert stats.compare(base, base).p_value == 1.0
    assert stats.compare(base > 0.5, base > 0.6).test == "McNemar"
    with pytest.raises(ValueError, match="same samples"):
        stats.compare(base, base[:10])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.compare(base * 3, base)


def test_seed_test_and_binomial_above():
    c = stats.seed_test([0.90, 0.91, 0.905, 0.912], [0.88, 0.889, 0.884, 0.893], "HFF", "FF")
    assert c.favours("HFF") and "4 seeds" in c.test
    unresolved = stats.seed_test([0.9, 0.8, 0.95], [0.85, 0.9, 0.9])
    assert not unresolved.resolved()
    assert "these 3 seeds" in unresolved.sentence(), "a seed test counts seeds, not test samples"
    right = torch.arange(100) < 30
    assert stats.binomial_above(right, 0.1).resolved()
    assert not stats.binomial_above(right, 0.3).resolved()


def test_gap_sentence_speaks_for_the_comparison():
    a, b = torch.arange(1000) < 870, torch.arange(1000) < 830
    assert gap_sentence(stats.mcnemar(a, b, "HFF", "BP")).startswith("HFF is ahead of BP")


def test_check_better_holds_only_when_the_test_resolves_the_gap(strict):
    a, b = torch.arange(1000) < 870, torch.arange(1000) < 830
    Claims("classroom").check_better("A beats B", stats.mcnemar(a, b))
    with pytest.raises(ClaimFailed):
        Claims("classroom").check_better("B beats A", stats.mcnemar(a, b), better="B")


# -- timing claims and the load during the measurement -------------------------------------------

def _spin(seconds):
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="starts background programs with sh")
def test_a_timing_claim_is_skipped_when_other_programs_took_the_cores(strict, capsys):
    cpus = LoadMeter().cpus
    spin = "import time\nt = time.time()\nwhile time.time() - t < 2.5: pass"
    # other programs, not our children: started through a shell that leaves them to init
    subprocess.run(["sh", "-c", " ".join([f"{sys.executable} -c '{spin}' >/dev/null 2>&1 &"] * cpus)], check=True)
    time.sleep(0.3)
    with LoadMeter(cpus_needed=cpus) as load:  # wants every core: nothing is spare
        _spin(1.0)
    time.sleep(1.5)  # let them end
    assert load.busy and "other programs kept" in load.reason()
    assert Claims("classroom").check_timing("fast", False, "0.9x", load) is False  # skipped, not failed
    assert "[claim] fast: skipped in classroom: other programs kept" in capsys.readouterr().out


def test_the_measured_process_and_its_children_count_as_ours():
    from hff_edu import load as load_module
    before = load_module._own_seconds()
    # a child that burns one second of CPU (however busy the machine), then is waited for
    subprocess.run([sys.executable, "-c", "import time\nwhile time.process_time() < 1.0: pass"], check=True)
    assert load_module._own_seconds() - before >= 0.95


def test_a_quiet_measurement_is_not_busy_when_nothing_is_known(monkeypatch):
    from hff_edu import load as load_module
    monkeypatch.setattr(load_module, "_machine_busy_seconds", lambda: 1 / 0)  # no counters on this platform
    with LoadMeter() as load:
        pass
    assert not load.known and not load.busy and load.reason() == "" and "unknown" in str(load)
