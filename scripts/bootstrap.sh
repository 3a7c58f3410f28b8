#!/usr/bin/env bash
# Creates .venv and installs the exact pins of requirements.lock plus fanzha itself.
# Idempotent and quiet when nothing changed: a stamp file records the lock's hash.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
py="${FANZHA_PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "fanzha needs Python >= 3.11 (found: $("$py" --version 2>&1)); set FANZHA_PYTHON to one" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $("$py" --version)" >&2
  "$py" -m venv .venv
fi
stamp=.venv/.fanzha-lock-stamp
want="$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "[bootstrap] installing pinned dependencies from requirements.lock" >&2
  .venv/bin/python -m pip install -q --upgrade pip uv >&2
  .venv/bin/uv pip install -q --python .venv/bin/python -r requirements.lock >&2
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e . >&2
  echo "$want" > "$stamp"
fi
