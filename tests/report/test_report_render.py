"""How the report writes one number of this run."""

from __future__ import annotations

from skinbench.report.render import DASH, run_text


def test_a_difference_is_signed_and_its_standard_deviation_is_not() -> None:
    assert run_text(-0.054, 0.131, 3, "+.3f") == "-0.054 ± 0.131 (n=3)"
    assert run_text(0.2, 0.01, 2, "+.3f") == "+0.200 ± 0.010 (n=2)"


def test_a_value_over_seeds_one_seed_and_a_missing_value() -> None:
    assert run_text(0.853, 0.012, 3) == "0.853 ± 0.012 (n=3)"
    assert run_text(0.853, None, 1) == "0.853"
    assert run_text(None, None, 0) == DASH
