#!/usr/bin/env bash
# Runs before `npm test`: the Debian packages the integration tests use (debootstrap for the
# Ceph chroot, awscli as an independent S3 client) and the Ceph RADOS Gateway chroot itself.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)   # local mode names what holds a taken port
[ -x /usr/bin/aws ] || need+=(awscli)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test prerequisites: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test prerequisites: missing ${need[*]} (install them as root); the tests that need them will be skipped" >&2
  fi
fi
if [ "$(id -u)" = 0 ] || [ -f "${SO_BACKUP_CEPH_ROOT:-/var/cache/so-backup/ceph-root}/.so-backup-ready" ]; then
  bash scripts/ceph-chroot.sh
fi
