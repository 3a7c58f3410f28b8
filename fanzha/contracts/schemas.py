"""Arrow schemas of every table the center reads (see docs/data-contracts.md).

Conventions: phone numbers are E.164 strings (``+8613912345678``); times are
``timestamp[ms, UTC]`` (shown in Asia/Shanghai by the console); money is an int64
count of cents (分) so sums balance exactly; categorical columns hold the values
of the enums in :mod:`fanzha.contracts.vocab`.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("ms", tz="UTC")

SUBSCRIBERS = pa.schema(
    [
        pa.field("number", pa.string(), nullable=False, metadata={"doc": "E.164 phone number"}),
        pa.field("carrier", pa.string(), nullable=False),
        pa.field("number_class", pa.string(), nullable=False, metadata={"enum": "NumberClass"}),
        pa.field("real_name_verified", pa.bool_(), nullable=False),
        pa.field("id_hash", pa.string(), metadata={"doc": "salted hash of the holder's ID card number"}),
        pa.field("district", pa.string()),
        pa.field("police_station", pa.string()),
        pa.field("age_band", pa.string(), metadata={"enum": "AgeBand"}),
        pa.field("activated_at", TS),
    ]
)

ACCOUNTS = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False, metadata={"enum": "AccountKind"}),
        pa.field("institution", pa.string(), nullable=False, metadata={"doc": "bank or payment platform"}),
        pa.field("holder_id_hash", pa.string()),
        pa.field("holder_number", pa.string(), metadata={"doc": "E.164 phone number on file"}),
        pa.field("registration_quality", pa.string(), nullable=False, metadata={"enum": "RegistrationQuality"}),
        pa.field("opened_at", TS),
    ]
)

CALLS = pa.schema(
    [
        pa.field("caller", pa.string(), nullable=False),
        pa.field("callee", pa.string(), nullable=False),
        pa.field("start", TS, nullable=False),
        pa.field("duration_s", pa.int32(), nullable=False, metadata={"doc": "0 = not answered"}),
        pa.field("ingress", pa.string(), nullable=False, metadata={"enum": "Ingress"}),
        pa.field("cell_id", pa.string()),
        pa.field("imei", pa.string()),
    ]
)

SMS = pa.schema(
    [
        pa.field("sender", pa.string(), nullable=False),
        pa.field("recipient", pa.string(), nullable=False),
        pa.field("time", TS, nullable=False),
        pa.field("text", pa.string()),
    ]
)

TRANSFERS = pa.schema(
    [
        pa.field("transfer_id", pa.string(), nullable=False),
        pa.field("time", TS, nullable=False),
        pa.field("from_account", pa.string(), nullable=False),
        pa.field(
            "to_account", pa.string(), metadata={"doc": "null for cash-outs without a traceable receiver"}
        ),
        pa.field("amount_cents", pa.int64(), nullable=False),
        pa.field("channel", pa.string(), nullable=False, metadata={"enum": "Channel"}),
        pa.field("order_no", pa.string(), metadata={"doc": "third-party payment order number (订单号)"}),
    ]
)

URL_VISITS = pa.schema(
    [
        pa.field("number", pa.string(), nullable=False),
        pa.field("time", TS, nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string()),
    ]
)

REPORTS = pa.schema(
    [
        pa.field("report_id", pa.string(), nullable=False),
        pa.field("victim_number", pa.string(), nullable=False),
        pa.field("reported_at", TS, nullable=False),
        pa.field("typology", pa.string(), metadata={"enum": "Typology"}),
        pa.field("loss_cents", pa.int64()),
        pa.field("fraud_numbers", pa.list_(pa.string())),
        pa.field("fraud_accounts", pa.list_(pa.string())),
        pa.field("domains", pa.list_(pa.string())),
        pa.field("transfer_ids", pa.list_(pa.string()), metadata={"doc": "the victim's own transfers"}),
    ]
)

PROTECTED_NUMBERS = pa.schema(
    [
        pa.field("number", pa.string(), nullable=False, metadata={"doc": "whitelisted government/bank line"}),
        pa.field("owner", pa.string(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "subscribers": SUBSCRIBERS,
    "accounts": ACCOUNTS,
    "calls": CALLS,
    "sms": SMS,
    "transfers": TRANSFERS,
    "url_visits": URL_VISITS,
    "reports": REPORTS,
    "protected_numbers": PROTECTED_NUMBERS,
}

# Ground truth written by the simulator (never by a real data source).
GT_FRAUD_NUMBERS = pa.schema(
    [
        pa.field("number", pa.string(), nullable=False),
        pa.field("gang_id", pa.int32(), nullable=False),
        pa.field("role", pa.string(), nullable=False, metadata={"doc": "caller | sms_blaster | spoofer"}),
        pa.field("typology", pa.string()),
        pa.field("first_active", TS),
    ]
)
GT_MULE_ACCOUNTS = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("gang_id", pa.int32(), nullable=False),
        pa.field("level", pa.int16(), nullable=False, metadata={"doc": "1 = receives victims' money"}),
    ]
)
GT_VICTIMS = pa.schema(
    [
        pa.field("case_id", pa.string(), nullable=False),
        pa.field("number", pa.string(), nullable=False),
        pa.field("gang_id", pa.int32(), nullable=False),
        pa.field("typology", pa.string(), nullable=False),
        pa.field("first_contact", TS),
        pa.field("first_transfer", TS),
        pa.field("loss_cents", pa.int64(), nullable=False),
        pa.field("reported_at", TS, metadata={"doc": "null = never reported"}),
    ]
)
GT_CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("gang_id", pa.int32(), nullable=False),
        pa.field("typology", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False, metadata={"doc": "call | sms"}),
        pa.field("start", TS),
        pa.field("domain", pa.string()),
        pa.field("targets", pa.int64()),
    ]
)
GT_FRAUD_TRANSFERS = pa.schema(
    [
        pa.field("transfer_id", pa.string(), nullable=False),
        pa.field("case_id", pa.string(), nullable=False, metadata={"doc": "whose money this transfer carries"}),
        pa.field("gang_id", pa.int32(), nullable=False),
        pa.field("level", pa.int16(), nullable=False, metadata={"doc": "level of the sending account; 0 = victim"}),
    ]
)

GROUND_TRUTH: dict[str, pa.Schema] = {
    "gt_fraud_numbers": GT_FRAUD_NUMBERS,
    "gt_mule_accounts": GT_MULE_ACCOUNTS,
    "gt_victims": GT_VICTIMS,
    "gt_campaigns": GT_CAMPAIGNS,
    "gt_fraud_transfers": GT_FRAUD_TRANSFERS,
}
