#!/usr/bin/env bash
# Installs the system libraries WeasyPrint needs (Pango, and HarfBuzz's subset library, without
# which invoices render about four times slower). Uses apt-get when running as root on Debian
# or Ubuntu; anywhere else it prints what to install and carries on.
set -euo pipefail

DEBIAN_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
else
  echo "install-system-packages: not a Debian system. Install Pango >= 1.44 and HarfBuzz" \
       "(with libharfbuzz-subset) with your package manager, e.g. 'brew install pango harfbuzz'." >&2
  exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-system-packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-system-packages: missing ${missing[*]}." >&2
  echo "  Run: sudo apt-get install ${missing[*]}" >&2
  echo "  (invoices still render without libharfbuzz-subset0, only slower)" >&2
fi
