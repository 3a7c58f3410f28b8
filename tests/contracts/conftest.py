from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(out_dir, quarantine_dir) for an import."""
    return tmp_path / "out", tmp_path / "quarantine"
