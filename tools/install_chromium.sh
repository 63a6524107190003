#!/usr/bin/env bash
# Install the system Chromium that tests/test_browser.py drives through Playwright.
# Idempotent: does nothing when /usr/bin/chromium exists. Uses Debian's `chromium` package, so no
# browser is downloaded by Playwright itself.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM is missing and apt-get is not available; install Chromium by hand" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "error: $CHROMIUM is missing; run this script as root (or with passwordless sudo)," >&2
    echo "       or install it yourself: apt-get install chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium; then
    echo "install without recommended packages failed; retrying with them" >&2
    "${SUDO[@]}" apt-get install -y -q chromium
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "error: the chromium package installed, but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
