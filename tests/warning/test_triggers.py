"""Live trigger: a person paying a flagged account gets an immediate 特危, merged with graded warnings."""

from __future__ import annotations

import polars as pl

from fanzha.warning.risk import WarningGrade, flagged_payments, merge_warnings, transfer_triggers

FLAG = 1_000_000


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    transfers = pl.DataFrame({
        "from_account": ["A-victim", "A-victim", "A-early", "MULE1", "A-crook", "A-other"],
        "to_account": ["MULE1", "MULE1", "MULE1", "MULE2", "MULE1", "SHOP"],
        "time": [FLAG + 60_000, FLAG + 120_000, FLAG - 1, FLAG + 5, FLAG + 9, FLAG + 9],
    })
    accounts = pl.DataFrame({"account_id": ["A-victim", "A-early", "MULE1", "A-crook", "A-other"],
                             "holder_number": ["p-victim", "p-early", "p-mule", "p-fraudster", "p-other"]})
    flagged = pl.DataFrame({"account": ["MULE1", "MULE2"], "flagged_at": [FLAG, FLAG]})
    return transfers, accounts, flagged


def test_payments_into_a_flagged_account_after_the_flag_trigger_once_per_person() -> None:
    transfers, accounts, flagged = _frames()
    out = transfer_triggers(flagged_payments(transfers, accounts, flagged, pl.DataFrame({"number": ["p-fraudster"]})))
    # before the flag: not yet known; mule to mule: layering; a fraud number's holder: not a victim;
    # a payment to a shop: nothing
    assert out["person"].to_list() == ["p-victim"]
    row = out.row(0, named=True)
    assert (row["warned_at"], row["graded_at"], row["grade"], row["p"], row["elements"]) == (
        FLAG + 60_000, FLAG + 60_000, int(WarningGrade.CRITICAL), 1.0, ["MULE1"])


def test_merge_keeps_the_first_warning_and_the_highest_grade() -> None:
    graded = pl.DataFrame({"person": ["p-victim", "p-b"], "warned_at": [10, 20], "first_grade": [1, 2],
                           "grade": [2, 2], "p": [0.4, 0.5], "elements": [["+86170"], ["+86171"]],
                           "graded_at": [15, 20]})
    transfers, accounts, flagged = _frames()
    frauds = pl.DataFrame({"number": ["p-fraudster"]})
    merged = merge_warnings(graded, transfer_triggers(flagged_payments(transfers, accounts, flagged, frauds)))
    v = merged.filter(pl.col("person") == "p-victim").row(0, named=True)
    assert (v["warned_at"], v["first_grade"], v["grade"], v["graded_at"], v["p"]) == (
        10, 1, int(WarningGrade.CRITICAL), FLAG + 60_000, 1.0)
    assert v["elements"] == ["+86170", "MULE1"]
    b = merged.filter(pl.col("person") == "p-b").row(0, named=True)
    assert (b["grade"], b["graded_at"]) == (2, 20)
    assert merged.height == 2
