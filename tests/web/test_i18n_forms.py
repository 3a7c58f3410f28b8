"""The message catalogue covers every label the pages use, in both languages; form parsing rules."""

from __future__ import annotations

import re
import string
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from fanzha.contracts.vocab import Channel, Typology
from fanzha.numbers.actions import CarrierAction
from fanzha.store.models import (
    CaseStatus,
    ElementKind,
    ListDecision,
    OrderKind,
    OrderStatus,
    Role,
    TraceJobStatus,
)
from fanzha.warning.dispatch import Channel as WarningChannel
from fanzha.warning.risk import WarningGrade
from fanzha.web import forms
from fanzha.web.i18n import LANGS, MESSAGES, translator

TEMPLATES = Path(__file__).resolve().parents[2] / "fanzha" / "web" / "templates"
TZ = ZoneInfo("Asia/Shanghai")


def _fields(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_both_languages_have_every_key_with_the_same_fields() -> None:
    zh, en = MESSAGES["zh-CN"], MESSAGES["en"]
    assert set(zh) == set(en)
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert _fields(zh[key]) == _fields(en[key]), key


def test_every_literal_key_in_the_templates_and_routes_exists() -> None:
    sources = [p.read_text() for p in TEMPLATES.glob("*.html")]
    sources += [(TEMPLATES.parent / name).read_text() for name in ("routes.py", "app.py")]
    used: set[str] = set()
    for text in sources:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.0-9-]+)["']""", text))
        used |= set(re.findall(r"""["']((?:error|login|field|number)\.[a-z_]+)["']""", text))
    missing = sorted(k for k in used if k not in MESSAGES["en"] and not k.endswith((".", ".html")))
    assert missing == []


@pytest.mark.parametrize(("prefix", "values"), [
    ("role.", [r.value for r in Role]),
    ("status.", [s.value for s in OrderStatus]),
    ("kind.", [k.value for k in OrderKind]),
    ("typology.", [t.value for t in Typology]),
    ("channel.", [c.value for c in Channel]),
    ("element.", [e.value for e in ElementKind]),
    ("action.", [a.value for a in CarrierAction]),
    ("case_status.", [c.value for c in CaseStatus]),
    ("trace_status.", [s.value for s in TraceJobStatus]),
    ("decision.", [d.value for d in ListDecision]),
    ("grade.", [g.name.lower() for g in WarningGrade]),
    ("wchannel.", [c.value for c in WarningChannel]),
    ("lang.", list(LANGS)),
])
def test_every_vocabulary_value_has_a_label(prefix: str, values: list[str]) -> None:
    for lang in LANGS:
        missing = [v for v in values if prefix + v not in MESSAGES[lang]]
        assert missing == [], (lang, prefix)


def test_translator_formats_and_passes_unknown_text_through() -> None:
    assert translator("en")("desk.count", n=3) == "3 orders"
    assert translator("zh-CN")("desk.count", n=3) == "共 3 条"
    assert translator("xx")("nav.desk") == "工作台"  # unknown language: the default
    assert translator("en")("value is not a valid {x}") == "value is not a valid {x}"


def test_yuan_and_local_time() -> None:
    assert forms.yuan_to_cents("1,234.5") == 123450
    assert forms.yuan_to_cents("¥50000") == 5_000_000
    for bad in ("1.234", "abc", "", "NaN"):
        with pytest.raises(ValueError):
            forms.yuan_to_cents(bad)
    assert forms.local_time("2025-03-01T10:05", TZ) == datetime(2025, 3, 1, 10, 5, tzinfo=TZ)
    assert forms.local_time("2025-03-01 10:05+00:00", TZ).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def _intake(**extra: str) -> dict[str, str]:
    form = {"victim_number": "13800138000", "t0_time": "2025-03-01T10:00", "t0_amount": "500",
            "t0_to_bank": "icbc", "t0_to_account": "622200001", "fraud_numbers": "13912345678\n13912345679",
            "urls": "http://a-example.com/x, https://b-example.com", "order_numbers": "ALIPAY 2025030112345",
            "typology": "fake_loan", "idempotency_key": "k1"}
    form.update(extra)
    return form


def test_report_from_form_shapes_the_service_model() -> None:
    report = forms.report_from_form(_intake(), TZ)
    assert report.victim.number == "+8613800138000"
    assert report.transfers[0].amount_cents == 50_000 and report.transfers[0].to_bank == "ICBC"
    assert report.transfers[0].time == datetime(2025, 3, 1, 10, tzinfo=TZ)
    assert len(report.transfers) == 1  # the empty second and third rows are ignored
    assert report.fraud_numbers == ["+8613912345678", "+8613912345679"]
    assert len(report.urls) == 2
    assert report.order_numbers[0].platform == "ALIPAY"
    assert report.typology is Typology.FAKE_LOAN


def test_form_errors_name_the_field_they_belong_to() -> None:
    with pytest.raises(forms.FormError) as shaped:
        forms.report_from_form(_intake(t0_amount="12.345", t1_to_account="x", order_numbers="ALIPAY"), TZ)
    assert set(shaped.value.errors) == {"t0_amount", "t1_amount", "t1_time", "order_numbers"}
    with pytest.raises(ValidationError) as invalid:
        forms.report_from_form(_intake(victim_number="12", fraud_numbers="13912345678\nnot-a-number"), TZ)
    errors = forms.errors_by_field(invalid.value)
    assert set(errors) == {"victim_number", "fraud_numbers"}
    assert errors["fraud_numbers"].startswith("line 2:")


def test_statement_rows_from_the_desk_form() -> None:
    rows = forms.statement_rows("2025-03-01 10:10, 150, CCB, 6217\n\n2025-03-01 10:12, 50, , , atm", TZ)
    assert [(r["amount_cents"], r.get("to_account"), r.get("channel")) for r in rows] == [
        (15000, "6217", None), (5000, None, "atm")
    ]
    with pytest.raises(forms.FormError) as bad:
        forms.statement_rows("2025-03-01 10:10, 150, CCB", TZ)
    assert "line 1" in bad.value.errors["statement"]
    result = forms.execute_from_form({"amount_stopped": "300", "statement": "2025-03-01 10:10, 1, CCB, 9"}, TZ)
    assert result.amount_stopped_cents == 30_000 and len(result.statement_rows) == 1
