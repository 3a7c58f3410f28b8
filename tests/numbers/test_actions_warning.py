"""Carrier actions by number class, and link-free warning SMS deduplicated per person per day."""

from __future__ import annotations

import polars as pl
import pytest

from fanzha.contracts.vocab import NumberClass, Typology
from fanzha.numbers.actions import CarrierAction, NumberError, carrier_action, number_class
from fanzha.numbers.warning_sms import _LINK, HOUR, warning_text, warnings_for


@pytest.mark.parametrize(
    ("number", "cls", "action"),
    [
        ("+8613906000000", NumberClass.LOCAL, CarrierAction.FORCED_SHUTDOWN),  # a Xiamen mobile prefix
        ("+865922345678", NumberClass.LOCAL, CarrierAction.FORCED_SHUTDOWN),  # a Xiamen landline
        ("+8613800138000", NumberClass.OUT_OF_TOWN, CarrierAction.CALLER_INTERCEPTION),  # Beijing
        ("+8617012345678", NumberClass.VIRTUAL, CarrierAction.EMPTY_NUMBER_TONE),
        ("+8616512345678", NumberClass.VIRTUAL, CarrierAction.EMPTY_NUMBER_TONE),
        ("+85291234567", NumberClass.OUT_OF_TOWN, CarrierAction.CALLER_INTERCEPTION),  # Hong Kong
    ],
)
def test_action_follows_number_class(number: str, cls: NumberClass, action: CarrierAction) -> None:
    assert number_class(number) is cls
    assert carrier_action(number) is action


def test_local_depends_on_the_centers_city() -> None:
    assert number_class("+8613800138000", home_city="Beijing") is NumberClass.LOCAL
    assert number_class("+8613906000000", home_city="Beijing") is NumberClass.OUT_OF_TOWN


def test_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(NumberError, match=r"not an E\.164"):
        number_class("call me maybe")


def test_no_warning_text_contains_a_link() -> None:
    for typ in [*Typology, None]:
        text = warning_text(typ)
        assert not _LINK.search(text), typ
        assert text.startswith("【")


def test_one_warning_per_person_per_day_with_the_typologys_text() -> None:
    t0 = 1_800_000_000_000
    events = pl.DataFrame({
        "src": ["F1", "F1", "F2", "F1", "F1", "X"],
        "dst": ["a", "a", "a", "b", "c", "d"],
        "time": [t0, t0 + 10, t0 + 20, t0 + 30, t0 - 100 * HOUR, t0],
    })
    confirmed = pl.DataFrame({"number": ["F1", "F2"], "confirmed_at": [t0 + HOUR, t0 + 2 * HOUR],
                              "typology": [Typology.IMPERSONATE_POLICE.value, None]})
    w = warnings_for(events, confirmed, lookback_ms=72 * HOUR)
    assert sorted(w["recipient"].to_list()) == ["a", "b"]  # c is outside the look-back, d never reached
    a = w.filter(pl.col("recipient") == "a").row(0, named=True)
    assert a["numbers"] == ["F1", "F2"]
    assert "公检法" in a["text"]
    again = warnings_for(events, confirmed, already_sent=w.select("recipient", "day"))
    assert again.height == 0
