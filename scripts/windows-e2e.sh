#!/usr/bin/env bash
# The connector as a Windows program, end to end under Wine (Debian's Wine 8 as Windows 10) against
# local mode: build the exe and the MSI, install silently (enrol + service start), back up C:\SO_ARC,
# restore and compare, stop, upgrade, uninstall. CI runs it from .ci/run; developers run it as is:
#   bash scripts/windows-e2e.sh            (SO_BACKUP_TEST_PORT_BASE picks the ports: base+900…+999)
# The Wine prefix is made once and cached in /var/cache/so-backup/wine (SO_BACKUP_WINE_CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
command -v wixl >/dev/null || need+=(wixl)
command -v msiinfo >/dev/null || need+=(msitools)
command -v osslsigncode >/dev/null || need+=(osslsigncode)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "windows-e2e: missing Debian packages ${need[*]}: install them as root (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "windows-e2e: installing ${need[*]}"
  # Another apt (another checkout's tests) may hold the lock for a while: wait for it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "== windows-e2e: npm run build:connector (so-connector.exe and the MSI)"
npm run --silent build:connector
echo "== windows-e2e: under Wine $(/usr/lib/wine/wine64 --version)"
exec npx tsx scripts/windows/windows-e2e.ts
