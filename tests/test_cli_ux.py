"""Small pieces every CLI table shares: ordinals, plain price ticks, the progress display."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from levradar import cli_support
from levradar.fmt import ordinal
from levradar.plot import price_ticks

ENGLISH = {
    0: "0th", 1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 10: "10th", 11: "11th", 12: "12th", 13: "13th",
    14: "14th", 21: "21st", 22: "22nd", 23: "23rd", 71: "71st", 100: "100th", 101: "101st", 111: "111th",
    112: "112th", 113: "113th", 1002: "1002nd",
}  # fmt: skip


@pytest.mark.parametrize(("n", "word"), ENGLISH.items())
def test_ordinal_examples(n: int, word: str) -> None:
    assert ordinal(n) == word


@given(st.integers(min_value=0, max_value=10**9))
def test_ordinal_suffix_depends_on_the_last_two_digits_only(n: int) -> None:
    word = ordinal(n)
    assert word.startswith(str(n))
    suffix = word[len(str(n)) :]
    assert suffix == ordinal(n % 100)[len(str(n % 100)) :]
    assert suffix == ("th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th"))


def test_ordinal_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError, match="-1"):
        ordinal(-1)


@given(
    st.floats(min_value=1e-4, max_value=1e6, allow_nan=False),
    st.floats(min_value=1.05, max_value=3.0, allow_nan=False),
)
def test_price_ticks_are_round_plain_prices_inside_the_range(lo: float, ratio: float) -> None:
    hi = lo * ratio
    ticks, decimals = price_ticks(lo, hi)
    assert len(ticks) >= 2
    assert all(lo <= t <= hi for t in ticks)
    labels = [f"{t:,.{decimals}f}" for t in ticks]
    assert len(set(labels)) == len(labels)  # the decimals tell neighbours apart
    assert all("e" not in label and "^" not in label for label in labels)


def test_btc_range_ticks_read_like_prices() -> None:
    ticks, decimals = price_ticks(80_621.1, 157_369.0)
    assert [f"{t:,.{decimals}f}" for t in ticks][:3] == ["90,000", "100,000", "110,000"]


def test_working_draws_on_a_terminal_and_names_each_step(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli_support, "err_console", Console(file=out, force_terminal=True, width=100))
    with cli_support.working("reading the sample", total=2) as step:
        step("writing the store")
    text = out.getvalue()
    assert "reading the sample" in text and "writing the store" in text and "1/2" in text


def test_working_is_silent_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli_support, "err_console", Console(file=out, force_terminal=False))
    with cli_support.working("reading the sample") as step:
        step("writing the store")
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (11.42e9, "$11.42B"),
        (4.9e8, "$0.49B"),
        (5.3e7, "$53.0M"),
        (9.5e5, "$950.0k"),
        (120.0, "$120"),
        (None, "-"),
    ],
)
def test_usd_cells_never_round_a_small_pocket_to_zero_millions(value: float | None, text: str) -> None:
    from levradar.render import usd

    assert usd(value) == text
