"""Benchmarks. Each prints, as its last line, one JSON object (see DEVELOPERS guide):

``{"bench": NAME, "figures": {...}, "bars": [{"name", "value", "op", "bar", "ok"}]}``

Speed and quality are measured here, never asserted in timed tests.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from typing import Any, Literal

_OPS = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Bar:
    """One named bar: ``value op bar`` must hold. Names, once chosen, stay."""

    name: str
    value: float
    op: Literal["<=", ">="]
    bar: float

    @property
    def ok(self) -> bool:
        return bool(_OPS[self.op](self.value, self.bar))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "op": self.op, "bar": self.bar, "ok": self.ok}


def result_line(bench: str, figures: dict[str, Any], bars: list[Bar]) -> str:
    """The last-line JSON of a benchmark."""
    return json.dumps(
        {"bench": bench, "figures": figures, "bars": [b.as_dict() for b in bars]},
        ensure_ascii=False,
        default=float,
    )
