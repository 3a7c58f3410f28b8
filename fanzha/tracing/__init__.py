"""Fund tracing (资金流向研判): ledger index, taint kernels, trace, freeze plan, return of frozen money."""

from fanzha.tracing.ledger import LedgerError, LedgerIndex
from fanzha.tracing.trace import Extension, Seed, TraceError, TraceResult, extend, trace

__all__ = ["Extension", "LedgerError", "LedgerIndex", "Seed", "TraceError", "TraceResult", "extend", "trace"]
