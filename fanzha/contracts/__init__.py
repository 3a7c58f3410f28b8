"""Data contracts: Arrow schemas, vocabularies, importers with quarantine."""

from fanzha.contracts.schemas import GROUND_TRUTH, TABLES, TS
from fanzha.contracts.vocab import (
    CASH_OUT_CHANNELS,
    AccountKind,
    AgeBand,
    Channel,
    Ingress,
    NumberClass,
    RegistrationQuality,
    Typology,
)

__all__ = [
    "CASH_OUT_CHANNELS",
    "GROUND_TRUTH",
    "TABLES",
    "TS",
    "AccountKind",
    "AgeBand",
    "Channel",
    "Ingress",
    "NumberClass",
    "RegistrationQuality",
    "Typology",
]
