#!/usr/bin/env bash
# Debian's Chromium for the web page's browser test (tests/test_serve_page.py), installed once.
# IDRNET_CHROMIUM=/path/to/chromium uses another build instead.
set -euo pipefail
if [ -n "${IDRNET_CHROMIUM:-}" ] || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/install_browser.sh: no apt-get here: install Chromium and set IDRNET_CHROMIUM=/path/to/chromium" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "installing Debian's chromium for the browser test (once)..."
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
