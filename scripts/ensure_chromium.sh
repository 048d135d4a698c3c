#!/usr/bin/env bash
# Make sure a headless Chromium is present for the HTML report's browser test
# (tests/test_audit_report_browser.py). Installs Debian's `chromium` when running as root;
# otherwise says what is missing and lets that test skip.
set -u
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the HTML report's browser test…"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; } \
    || { echo "could not install chromium; the browser test will skip" >&2; exit 0; }
else
  echo "chromium not found; the HTML report's browser test will skip" >&2
fi
exit 0
