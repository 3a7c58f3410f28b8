"""Phone-number normalisation: the forms carriers and banks write, service numbers, and the fast path."""

from __future__ import annotations

import numpy as np
import phonenumbers
import polars as pl
import pytest

from fanzha.contracts.phones import is_service_number, normalize_number, normalize_numbers

CASES = [
    ("13912345678", "+8613912345678"),
    ("+86 139 1234 5678", "+8613912345678"),
    ("0086-139-1234-5678", "+8613912345678"),
    ("8613912345678", "+8613912345678"),
    ("(+86)139.1234.5678", "+8613912345678"),
    ("１３９１２３４５６７８", "+8613912345678"),  # full-width digits
    ("0592-2345678", "+865922345678"),  # Xiamen landline
    ("010-69012345", "+861069012345"),  # Beijing landline with its trunk 0
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("4008123123", "+864008123123"),
    ("95588", "+8695588"),  # bank hotline (service number)
    ("+8695530", "+8695530"),  # as the simulator writes service numbers
    ("10086", "+8610086"),
    ("110", "+86110"),
    ("1069012345678", "+861069012345678"),  # SMS port
    ("12ab", None),
    ("1-800-FLOWERS", None),  # no vanity letters
    ("2345678", None),  # landline without area code, no area code configured
    ("139123456", None),  # too short for a mobile
    ("", None),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_single_number(raw: str, expected: str | None) -> None:
    assert normalize_number(raw) == expected


def test_column_matches_single_values_and_keeps_nulls() -> None:
    raw = pl.Series("n", [c[0] for c in CASES] + [None])
    out = normalize_numbers(raw)
    assert out.to_list() == [c[1] for c in CASES] + [None]
    assert out.name == "n"


def test_area_code_completes_local_landlines() -> None:
    out = normalize_numbers(pl.Series(["2345678", "13912345678"]), area_code="592")
    assert out.to_list() == ["+865922345678", "+8613912345678"]


def test_service_numbers_are_recognisable() -> None:
    out = normalize_numbers(pl.Series(["95588", "13912345678", "106900001234", "0592-2345678"]))
    assert is_service_number(out).to_list() == [True, False, True, False]


def test_vectorised_mobile_path_agrees_with_phonenumbers() -> None:
    """The regex fast path must say exactly what phonenumbers says, valid or not, for random 11-digit strings."""
    rng = np.random.default_rng(5)
    prefixes = rng.integers(130, 200, 3000)
    rest = rng.integers(0, 10**8, 3000)
    raw = [f"{p}{r:08d}" for p, r in zip(prefixes, rest, strict=True)]
    expected = []
    for s in raw:
        n = phonenumbers.parse(s, "CN")
        ok = phonenumbers.is_valid_number(n)
        expected.append(phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) if ok else None)
    got = normalize_numbers(pl.Series(raw)).to_list()
    assert got == expected
    assert 0 < sum(e is None for e in expected) < len(expected)  # the sample holds both kinds


def test_other_default_region() -> None:
    out = normalize_numbers(pl.Series(["020 7946 0958", "+86 139 1234 5678"]), default_region="GB")
    assert out.to_list() == ["+442079460958", "+8613912345678"]
