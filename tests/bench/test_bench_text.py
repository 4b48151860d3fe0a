"""A benchmark states only what its own numbers show (issue 14 defect 16): bench_vc printed "the
floor … cannot reach 2.5 times the reference" whatever it measured, also on a machine where the
floor reached 2.6–3.1 times."""

from __future__ import annotations

from bench.bench_vc import floor_lines


def test_a_floor_above_the_target_is_not_called_out_of_reach() -> None:
    text = " ".join(floor_lines(ratio_ref=2.1, floor_ref=2.8, target=2.5))
    assert "cannot" not in text and "no verifier" not in text
    assert "2.80" in text and "2.10" in text and "within reach" in text


def test_a_floor_below_the_target_says_so_with_its_own_figure() -> None:
    text = " ".join(floor_lines(ratio_ref=1.4, floor_ref=2.2, target=2.5))
    assert "2.20" in text and "no verifier doing more than the floor could reach it" in text


def test_nothing_is_said_when_the_target_is_met() -> None:
    assert floor_lines(ratio_ref=2.6, floor_ref=3.0, target=2.5) == []
