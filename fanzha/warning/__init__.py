"""Precision warning (精准宣防, capability C4): reverse lookup of potential victims, and later risk and dispatch."""

from fanzha.warning.lookup import (
    CONTACTS,
    CaseElements,
    LookupInputError,
    LookupResult,
    city_tables,
    reverse_lookup,
)

__all__ = ["CONTACTS", "CaseElements", "LookupInputError", "LookupResult", "city_tables", "reverse_lookup"]
