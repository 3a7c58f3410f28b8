"""Reverse lookup (反向查找) of potential victims: from case elements to everyone in contact.

Given the elements of one or more cases (fraud numbers, receiving accounts, phishing
domains, apps) and a look-back window ``[since, until)`` (since inclusive, until
exclusive), find every person who

* had a call or SMS with a fraud number, in either direction; the person is the other
  party, and a contact between two fraud numbers is nobody's evidence (excluded);
* paid into a flagged account: the paying account's holder number (``accounts``) is the
  person; payments from another flagged account (mule to mule) and from accounts with
  no holder number or a fraud holder number are left out;
* visited a flagged domain (``url_visits``; domains compared lower-cased and exactly,
  so list each subdomain a case names).

Apps are accepted but no contract table records app installs, so they match nobody and
the result says so in ``notes``.

The result has one row per person (E.164 number) with per-channel evidence that the
risk model reads. The query is written once (DuckDB SQL, transpiled for Spark by
sqlglot) and runs on any :class:`~fanzha.analytics.Engine`; element lists are passed as
tables and the window as bound parameters, never formatted into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import phonenumbers
import polars as pl
import pyarrow as pa

from fanzha.analytics import Engine, Query, TableSource, derived_parts, e164_to_int64
from fanzha.contracts.schemas import ACCOUNTS, CALLS, SMS, TRANSFERS, TS, URL_VISITS
from fanzha.settings import get_settings

DATA_TABLES: dict[str, pa.Schema] = {
    "calls": CALLS,
    "sms": SMS,
    "transfers": TRANSFERS,
    "accounts": ACCOUNTS,
    "url_visits": URL_VISITS,
}

CONTACTS = pa.schema(
    [
        pa.field("number", pa.string(), nullable=False, metadata={"doc": "the person in contact (E.164)"}),
        pa.field("first_contact_at", TS, metadata={"doc": "earliest evidence on any channel"}),
        pa.field("last_contact_at", TS, metadata={"doc": "latest evidence on any channel"}),
        pa.field("calls", pa.int64(), metadata={"doc": "calls with fraud numbers, both directions"}),
        pa.field("calls_in", pa.int64(), metadata={"doc": "fraud number called the person"}),
        pa.field("calls_out", pa.int64(), metadata={"doc": "the person called a fraud number"}),
        pa.field("calls_answered", pa.int64(), metadata={"doc": "calls with duration > 0"}),
        pa.field("call_s_total", pa.int64()),
        pa.field("call_s_last", pa.int32(), metadata={"doc": "duration of the latest call (longest if tied)"}),
        pa.field("last_call_at", TS),
        pa.field("sms", pa.int64()),
        pa.field("sms_in", pa.int64(), metadata={"doc": "SMS from a fraud number to the person"}),
        pa.field("sms_out", pa.int64(), metadata={"doc": "SMS from the person to a fraud number"}),
        pa.field("transfers", pa.int64(), metadata={"doc": "payments into flagged accounts"}),
        pa.field("transfer_cents", pa.int64()),
        pa.field("first_transfer_at", TS),
        pa.field("visits", pa.int64(), metadata={"doc": "visits to flagged domains"}),
        pa.field("first_visit_at", TS),
        pa.field("matched_numbers", pa.list_(pa.string()), metadata={"doc": "fraud numbers seen, sorted"}),
        pa.field("matched_accounts", pa.list_(pa.string()), metadata={"doc": "flagged accounts paid, sorted"}),
        pa.field("matched_domains", pa.list_(pa.string()), metadata={"doc": "flagged domains visited, sorted"}),
    ]
)

_SQL = """
WITH
fn AS (SELECT DISTINCT number, n FROM el_numbers WHERE number IS NOT NULL),
fa AS (SELECT DISTINCT account_id FROM el_accounts WHERE account_id IS NOT NULL),
fd AS (SELECT DISTINCT domain FROM el_domains WHERE domain IS NOT NULL),
call_hit AS (
    SELECT caller, callee, start, duration_s
    FROM calls
    WHERE start >= $since AND start < $until
      AND (caller IN (SELECT n FROM fn) OR callee IN (SELECT n FROM fn))
),
call_ev AS (
    SELECT h.*, f1.n IS NOT NULL AS inbound, COALESCE(f1.number, f2.number) AS element
    FROM call_hit AS h
    LEFT JOIN fn AS f1 ON f1.n = h.caller
    LEFT JOIN fn AS f2 ON f2.n = h.callee
    WHERE (f1.n IS NULL) <> (f2.n IS NULL)
),
sms_hit AS (
    SELECT sender, recipient, time
    FROM sms
    WHERE time >= $since AND time < $until
      AND (sender IN (SELECT n FROM fn) OR recipient IN (SELECT n FROM fn))
),
sms_ev AS (
    SELECT h.*, f1.n IS NOT NULL AS inbound, COALESCE(f1.number, f2.number) AS element
    FROM sms_hit AS h
    LEFT JOIN fn AS f1 ON f1.n = h.sender
    LEFT JOIN fn AS f2 ON f2.n = h.recipient
    WHERE (f1.n IS NULL) <> (f2.n IS NULL)
),
transfer_hit AS (
    SELECT from_account, to_account, time, amount_cents
    FROM transfers
    WHERE time >= $since AND time < $until
      AND to_account IN (SELECT account_id FROM fa)
      AND from_account NOT IN (SELECT account_id FROM fa)
),
payer AS (
    SELECT account_id, MAX(holder_number) AS holder_number
    FROM accounts
    WHERE account_id IN (SELECT from_account FROM transfer_hit) AND holder_number IS NOT NULL
    GROUP BY account_id
),
evidence AS (
    SELECT '+' || CAST(CASE WHEN inbound THEN callee ELSE caller END AS VARCHAR) AS person, 'call' AS channel,
           inbound, element, start AS t, duration_s, CAST(NULL AS BIGINT) AS amount_cents
    FROM call_ev
    UNION ALL
    SELECT '+' || CAST(CASE WHEN inbound THEN recipient ELSE sender END AS VARCHAR), 'sms', inbound,
           element, time, NULL, NULL
    FROM sms_ev
    UNION ALL
    SELECT p.holder_number, 'transfer', FALSE, h.to_account, h.time, NULL, h.amount_cents
    FROM transfer_hit AS h
    JOIN payer AS p ON p.account_id = h.from_account
    WHERE p.holder_number NOT IN (SELECT number FROM fn)
    UNION ALL
    SELECT v.number, 'visit', FALSE, LOWER(v.domain), v.time, NULL, NULL
    FROM url_visits AS v
    WHERE v.time >= $since AND v.time < $until
      AND LOWER(v.domain) IN (SELECT domain FROM fd)
      AND v.number NOT IN (SELECT number FROM fn)
),
timed AS (
    SELECT *, MAX(CASE WHEN channel = 'call' THEN t END) OVER (PARTITION BY person) AS last_call_at
    FROM evidence
)
SELECT
    person AS number,
    MIN(t) AS first_contact_at,
    MAX(t) AS last_contact_at,
    COUNT(*) FILTER (WHERE channel = 'call') AS calls,
    COUNT(*) FILTER (WHERE channel = 'call' AND inbound) AS calls_in,
    COUNT(*) FILTER (WHERE channel = 'call' AND NOT inbound) AS calls_out,
    COUNT(*) FILTER (WHERE channel = 'call' AND duration_s > 0) AS calls_answered,
    COALESCE(SUM(duration_s) FILTER (WHERE channel = 'call'), 0) AS call_s_total,
    MAX(duration_s) FILTER (WHERE channel = 'call' AND t = last_call_at) AS call_s_last,
    MAX(last_call_at) AS last_call_at,
    COUNT(*) FILTER (WHERE channel = 'sms') AS sms,
    COUNT(*) FILTER (WHERE channel = 'sms' AND inbound) AS sms_in,
    COUNT(*) FILTER (WHERE channel = 'sms' AND NOT inbound) AS sms_out,
    COUNT(*) FILTER (WHERE channel = 'transfer') AS transfers,
    COALESCE(SUM(amount_cents) FILTER (WHERE channel = 'transfer'), 0) AS transfer_cents,
    MIN(t) FILTER (WHERE channel = 'transfer') AS first_transfer_at,
    COUNT(*) FILTER (WHERE channel = 'visit') AS visits,
    MIN(t) FILTER (WHERE channel = 'visit') AS first_visit_at,
    ARRAY_SORT(ARRAY_AGG(DISTINCT element) FILTER (WHERE channel IN ('call', 'sms'))) AS matched_numbers,
    ARRAY_SORT(ARRAY_AGG(DISTINCT element) FILTER (WHERE channel = 'transfer')) AS matched_accounts,
    ARRAY_SORT(ARRAY_AGG(DISTINCT element) FILTER (WHERE channel = 'visit')) AS matched_domains
FROM timed
GROUP BY person
"""

REVERSE_LOOKUP = Query(
    name="reverse_lookup",
    sql=_SQL,
    inputs=("calls", "sms", "transfers", "accounts", "url_visits", "el_numbers", "el_accounts", "el_domains"),
    params=("since", "until"),
    schema=CONTACTS,
    order_by=("number",),
)

_E164 = re.compile(r"^\+[1-9]\d{3,14}$")
_DOMAIN = re.compile(r"^[a-z0-9\-_.]+$")
APPS_NOTE = "apps: no contract table records app installs, so app elements matched nobody"


class LookupInputError(ValueError):
    """Case elements or a window that cannot be looked up (message says which and why)."""


def _number(raw: str, region: str) -> str:
    s = re.sub(r"[\s\-()]", "", str(raw))
    if _E164.match(s):
        return s
    try:
        parsed = phonenumbers.parse(s, region)
    except phonenumbers.NumberParseException:
        raise LookupInputError(f"not a phone number: {raw!r}") from None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _domain(raw: str) -> str:
    s = str(raw).strip().lower().rstrip(".")
    if "://" in s:
        s = s.split("://", 1)[1]
    s = s.split("/", 1)[0].split(":", 1)[0]
    if not s or not _DOMAIN.match(s):
        raise LookupInputError(f"not a domain: {raw!r}")
    return s


def _account(raw: str) -> str:
    s = re.sub(r"\s", "", str(raw))
    if not s:
        raise LookupInputError("empty account id")
    return s


@dataclass(frozen=True)
class CaseElements:
    """The elements of one or more cases, normalised: E.164 numbers, trimmed accounts, lower-case domains.

    Numbers without ``+`` are read in the center's default region (``FANZHA_DEFAULT_REGION``).
    """

    numbers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        numbers: Iterable[str] = (),
        accounts: Iterable[str] = (),
        domains: Iterable[str] = (),
        apps: Iterable[str] = (),
        region: str | None = None,
    ) -> CaseElements:
        """Normalise and deduplicate raw elements; raises :class:`LookupInputError` on malformed ones."""
        if isinstance(numbers, str) or isinstance(accounts, str) or isinstance(domains, str) or isinstance(apps, str):
            raise LookupInputError("pass element lists, not a single string")
        reg = region or get_settings().default_region
        return cls(
            numbers=tuple(sorted({_number(n, reg) for n in numbers if n is not None and str(n).strip()})),
            accounts=tuple(sorted({_account(a) for a in accounts if a is not None and str(a).strip()})),
            domains=tuple(sorted({_domain(d) for d in domains if d is not None and str(d).strip()})),
            apps=tuple(sorted({str(a).strip() for a in apps if a is not None and str(a).strip()})),
        )

    @property
    def empty(self) -> bool:
        return not (self.numbers or self.accounts or self.domains)

    def tables(self) -> dict[str, pa.Table]:
        """The element lists as the one-column tables the query joins against."""
        return {
            "el_numbers": pa.table(
                {"number": pa.array(self.numbers, pa.string()), "n": e164_to_int64(pa.array(self.numbers, pa.string()))}
            ),
            "el_accounts": pa.table({"account_id": pa.array(self.accounts, pa.string())}),
            "el_domains": pa.table({"domain": pa.array(self.domains, pa.string())}),
        }


@dataclass(frozen=True)
class LookupResult:
    """People in contact with the case elements (one row each, schema :data:`CONTACTS`) and notes on coverage."""

    contacts: pa.Table
    notes: tuple[str, ...] = field(default=())

    def to_polars(self) -> pl.DataFrame:
        out = pl.from_arrow(self.contacts)
        assert isinstance(out, pl.DataFrame)
        return out


def city_tables(folder: Path | str) -> dict[str, Path]:
    """The data tables of a contract folder: ``NAME.parquet`` or a ``NAME/`` folder of Parquet parts."""
    root = Path(folder)
    if not root.is_dir():
        raise LookupInputError(f"no such data folder: {root}")
    found: dict[str, Path] = {}
    for name in DATA_TABLES:
        for cand in (root / f"{name}.parquet", root / name):
            if cand.exists():
                found[name] = cand
                break
    if not found:
        raise LookupInputError(f"{root} holds none of the tables {sorted(DATA_TABLES)}")
    return found


LOOKUP_LAYOUT = "lookup-v1"
"""Name (and version) of the number-keyed layout the lookup scans instead of the contract calls/SMS."""
_NUMBER_KEYED: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "calls": (["caller", "callee", "start", "duration_s"], ("caller", "callee")),
    "sms": (["sender", "recipient", "time"], ("sender", "recipient")),
}


def _number_keyed(name: str, table: pa.Table) -> pa.Table:
    """The lookup's columns of a contract calls/SMS table, numbers as E.164 digits (BIGINT)."""
    columns, numbers = _NUMBER_KEYED[name]
    table = table.select(columns)
    for col in numbers:
        i = table.schema.get_field_index(col)
        table = table.set_column(i, pa.field(col, pa.int64()), e164_to_int64(table.column(i), f"{name}.{col}"))
    return table


def _layout(name: str, source: TableSource) -> TableSource:
    if name not in _NUMBER_KEYED:
        return source
    if isinstance(source, pa.Table):
        return _number_keyed(name, source)
    return derived_parts(source, LOOKUP_LAYOUT, _NUMBER_KEYED[name][0], lambda t: _number_keyed(name, t))


def prepare_lookup(tables: Mapping[str, TableSource]) -> dict[str, Path]:
    """Derive (or refresh) the number-keyed layout of the calls/SMS Parquet sources now, e.g. right after an import.

    :func:`reverse_lookup` does the same for parts it finds missing or changed, so this
    only moves that one-off conversion out of the first lookup. Returns the layout folders.
    """
    out: dict[str, Path] = {}
    for name, source in tables.items():
        if name in _NUMBER_KEYED and not isinstance(source, pa.Table):
            layout = _layout(name, source)
            assert isinstance(layout, Path)
            out[name] = layout
    return out


def _window(since: datetime, until: datetime) -> None:
    for label, t in (("since", since), ("until", until)):
        if not isinstance(t, datetime):
            raise LookupInputError(f"{label} must be a datetime, got {type(t).__name__}")
        if t.tzinfo is None or t.utcoffset() is None:
            raise LookupInputError(f"{label} must be time-zone aware (e.g. Asia/Shanghai or UTC): {t!r}")
    if until <= since:
        raise LookupInputError(f"empty window: until ({until.isoformat()}) must be after since ({since.isoformat()})")


def reverse_lookup(
    engine: Engine,
    tables: Mapping[str, TableSource],
    elements: CaseElements,
    since: datetime,
    until: datetime,
) -> LookupResult:
    """Everyone in contact with ``elements`` in ``[since, until)``, with per-channel evidence.

    ``tables`` maps ``calls``, ``sms``, ``transfers``, ``accounts``, ``url_visits`` to Parquet
    files/folders or Arrow tables; a missing one is searched as empty and named in ``notes``.
    """
    _window(since, until)
    unknown = set(tables) - set(DATA_TABLES)
    if unknown:
        raise LookupInputError(f"unknown tables {sorted(unknown)}: expected some of {sorted(DATA_TABLES)}")
    notes: list[str] = []
    if elements.apps:
        notes.append(APPS_NOTE)
    notes += [f"{name}: no table given, searched as empty" for name in DATA_TABLES if name not in tables]
    if elements.empty:
        return LookupResult(CONTACTS.empty_table(), tuple(notes))
    bound: dict[str, TableSource] = {
        name: _layout(name, tables[name] if name in tables else schema.empty_table())
        for name, schema in DATA_TABLES.items()
    }
    bound.update(elements.tables())
    contacts = engine.run(REVERSE_LOOKUP, bound, {"since": since, "until": until})
    return LookupResult(contacts, tuple(notes))
