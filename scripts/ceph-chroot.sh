#!/usr/bin/env bash
# Builds (once, then reuses) a Debian chroot that holds Ceph's RADOS Gateway, our local S3.
# Debian 12's radosgw (16.2) lacks S3 checksums and NewerNoncurrentVersions, so we take Ceph
# from Debian "forky" (falling back to sid). The chroot is cached outside the work tree.
# Usage: scripts/ceph-chroot.sh [ROOT]   (default: $SO_BACKUP_CEPH_ROOT or /var/cache/so-backup/ceph-root)
set -euo pipefail
root="${1:-${SO_BACKUP_CEPH_ROOT:-/var/cache/so-backup/ceph-root}}"

if [ -x "$root/usr/bin/radosgw" ] && [ -f "$root/.so-backup-ready" ]; then
  echo "ceph chroot: reusing $root"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ceph chroot: building it needs root (debootstrap, mounts); run as root or point SO_BACKUP_CEPH_ROOT at a ready chroot" >&2
  exit 2
fi

# The Debian mirror this machine already uses, so no host is named here.
mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
[ -n "$mirror" ] || { echo "ceph chroot: no Debian mirror found in /etc/apt sources" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mounted() { mountpoint -q "$1"; }
unmount_all() { for m in proc sys dev; do mounted "$root/$m" && umount -l "$root/$m" || true; done; }
trap unmount_all EXIT

build() {
  local suite=$1
  rm -rf "$root"; mkdir -p "$root"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" /usr/share/debootstrap/scripts/sid
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod +x "$root/usr/sbin/policy-rc.d"
  for m in proc sys dev; do mount --bind "/$m" "$root/$m"; done
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    radosgw ceph-mon ceph-osd curl uuid-runtime procps
  unmount_all
}

for suite in forky sid; do
  echo "ceph chroot: building from Debian $suite into $root"
  if build "$suite"; then
    touch "$root/.so-backup-ready"
    chroot "$root" radosgw --version || true
    exit 0
  fi
  echo "ceph chroot: $suite failed, trying the next suite" >&2
done
echo "ceph chroot: could not build a Ceph chroot" >&2
exit 1
