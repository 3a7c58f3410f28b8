#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's chromium (apt) and the Python playwright
# package (from the dev dependencies). Prints the chromium path on stdout; every other
# line goes to stderr. Exits non-zero with a loud reason when something cannot be installed.
# Playwright's own browser download is never used (this machine may have no internet).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

loud() { printf '\n!!!!!!!! browser tests: %s !!!!!!!!\n\n' "$*" >&2; }

find_chromium() {
  for c in "${FANZHA_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

if ! chromium="$(find_chromium)"; then
  if ! command -v apt-get >/dev/null 2>&1; then
    loud "no chromium and no apt-get to install it (install Debian's 'chromium' package or set FANZHA_CHROMIUM)"
    exit 3
  fi
  if [ "$(id -u)" -ne 0 ]; then
    loud "no chromium, and installing it needs root: run 'apt-get install -y chromium' as root"
    exit 3
  fi
  echo "[browser] installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >&2; then
    loud "apt-get could not install chromium (is Debian's package archive reachable?)"
    exit 3
  fi
  if ! chromium="$(find_chromium)"; then
    loud "chromium was installed but no executable was found at /usr/bin/chromium"
    exit 3
  fi
fi

# Chinese text in screenshots needs a CJK font; without one pages still work (tofu boxes), so
# this is best effort and never fails the run.
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ] \
   && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "[browser] installing a CJK font (fonts-wqy-microhei) for legible screenshots" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >&2 \
    || echo "[browser] no CJK font installed: Chinese will show as boxes in screenshots" >&2
fi

py="${FANZHA_VENV_PYTHON:-$here/.venv/bin/python}"
if ! "$py" -c 'import playwright.sync_api' 2>/dev/null; then
  echo "[browser] installing the playwright Python package" >&2
  if ! "$py" -m pip install -q "playwright>=1.44,<2" >&2; then
    loud "could not install the playwright Python package (scripts/bootstrap.sh installs it with the dev extras)"
    exit 3
  fi
fi

echo "$chromium"
