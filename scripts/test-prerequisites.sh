#!/usr/bin/env bash
# Runs before `npm test`: the Debian packages the integration tests use (debootstrap for the
# Ceph chroot, awscli as an independent S3 client; wixl, msitools, osslsigncode and openssl for the
# Windows build's test and local mode's TLS certificates, wine64 for scripts/windows-e2e.sh) and the
# Ceph RADOS Gateway chroot itself.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)   # local mode names what holds a taken port
[ -x /usr/bin/aws ] || need+=(awscli)
command -v wixl >/dev/null || need+=(wixl)
command -v msiinfo >/dev/null || need+=(msitools)
command -v osslsigncode >/dev/null || need+=(osslsigncode)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/lib/wine/wine64 ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test prerequisites: installing ${need[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test prerequisites: missing ${need[*]} (install them as root); the tests that need them will be skipped" >&2
  fi
fi
if [ "$(id -u)" = 0 ] || [ -f "${SO_BACKUP_CEPH_ROOT:-/var/cache/so-backup/ceph-root}/.so-backup-ready" ]; then
  bash scripts/ceph-chroot.sh
fi
