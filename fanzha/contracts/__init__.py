"""Data contracts: Arrow schemas, vocabularies, importers with quarantine."""

from typing import TYPE_CHECKING

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

# Importers, mappings and number normalisation load lazily (they pull in Polars and phonenumbers).
_LAZY = {
    "ContractError": "fanzha.contracts.importers",
    "ImportReport": "fanzha.contracts.importers",
    "ValidationReport": "fanzha.contracts.importers",
    "import_file": "fanzha.contracts.importers",
    "validate_file": "fanzha.contracts.importers",
    "Mapping": "fanzha.contracts.mapping",
    "MappingError": "fanzha.contracts.mapping",
    "load_mapping": "fanzha.contracts.mapping",
    "normalize_numbers": "fanzha.contracts.phones",
    "normalize_number": "fanzha.contracts.phones",
    "is_service_number": "fanzha.contracts.phones",
}
__all__ += list(_LAZY)

if TYPE_CHECKING:  # real types for mypy; loaded lazily at run time
    from fanzha.contracts.importers import ContractError as ContractError
    from fanzha.contracts.importers import ImportReport as ImportReport
    from fanzha.contracts.importers import ValidationReport as ValidationReport
    from fanzha.contracts.importers import import_file as import_file
    from fanzha.contracts.importers import validate_file as validate_file
    from fanzha.contracts.mapping import Mapping as Mapping
    from fanzha.contracts.mapping import MappingError as MappingError
    from fanzha.contracts.mapping import load_mapping as load_mapping
    from fanzha.contracts.phones import is_service_number as is_service_number
    from fanzha.contracts.phones import normalize_number as normalize_number
    from fanzha.contracts.phones import normalize_numbers as normalize_numbers


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fanzha.contracts' has no attribute {name!r}")
