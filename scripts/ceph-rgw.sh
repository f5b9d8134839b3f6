#!/usr/bin/env bash
# Starts or stops a single-node Ceph cluster (one mon, one bluestore OSD in a sparse file) and
# its RADOS Gateway on 127.0.0.1, inside the chroot built by scripts/ceph-chroot.sh.
# All cluster state lives in DATA (bind-mounted into the chroot, mode 0700), so it persists between
# runs. Ceph's authentication (cephx) is on; the keys are made with the cluster (DATA/keyring, 0600),
# and a cluster an earlier version made without them gets them at its next start.
#
#   scripts/ceph-rgw.sh start DATA RGW_PORT MON_PORT
#     the bucket owner's S3 key (RGW user so-backup-local) is then in DATA/owner-key.json (0600,
#     {"accessKeyId", "secretAccessKey"}); made by RGW, never passed on a command line.
#     with SO_BACKUP_RGW_TLS_DIR naming a folder with server.crt, server.key and ca.crt, RGW runs
#     as local mode needs it: HTTPS only on RGW_PORT, as the bucket policy's aws:SecureTransport
#     demands (RGW sets that key on TLS requests but leaves it unset on plain HTTP, so a policy
#     cannot deny plain HTTP there), and STS on (AssumeRole; the user may manage roles). Without
#     it, plain HTTP and no STS: with STS on, RGW answers a wrong secret key with AccessDenied
#     rather than SignatureDoesNotMatch.
#   scripts/ceph-rgw.sh stop  DATA
#   scripts/ceph-rgw.sh status DATA
#   scripts/ceph-rgw.sh requests DATA    RGW's own count of requests served (for benchmarks)
#   scripts/ceph-rgw.sh lc-process DATA  run lifecycle processing now (with SO_BACKUP_RGW_LC_DEBUG_INTERVAL, a "day" is that many seconds)
set -euo pipefail
cmd=${1:?usage: ceph-rgw.sh start|stop|status|requests|lc-process DATA ...}
data=$(realpath -m "${2:?DATA folder required}")
root="${SO_BACKUP_CEPH_ROOT:-/var/cache/so-backup/ceph-root}"
# One mount point per data folder, so several clusters (local mode, tests) can run side by side.
tag=$(printf '%s' "$data" | sha256sum | cut -c1-12)
inner="/srv/so-backup-$tag"
mnt="$root$inner"

in_root() { chroot "$root" "$@"; }
pids() { cat "$data"/run/*.pid 2>/dev/null || true; }
alive() { local p; for p in $(pids); do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }

mount_all() {
  local m
  for m in proc sys dev; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
  mkdir -p "$mnt"
  mountpoint -q "$mnt" || mount --bind "$data" "$mnt"
}
unmount_data() { mountpoint -q "$mnt" && umount -l "$mnt" || true; rmdir "$mnt" 2>/dev/null || true; }

stop() {
  local p
  for p in $(pids); do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do alive || break; sleep 0.2; done
  for p in $(pids); do kill -9 "$p" 2>/dev/null || true; done
  # Only return once every daemon has exited, so that its ports are free for the next start.
  for _ in $(seq 1 50); do alive || break; sleep 0.2; done
  if alive; then echo "ceph: daemons of $data did not exit: $(pids)" >&2; return 1; fi
  rm -f "$data"/run/*.pid
  unmount_data
}

# What listens on a TCP port of 127.0.0.1 (empty when nothing does). Asks the kernel (ss), never
# connects: a probe connection is itself a socket that could hold a port.
listener() { ss -Hltnp "sport = :$1" 2>/dev/null | head -n1; }

wait_for() { # description, seconds, pidfile, command...: gives up early when the daemon died
  local what=$1 secs=$2 pidfile=$3; shift 3
  for _ in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "$pidfile" ] && [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "ceph: $what exited; see $data/log" >&2; tail -n 5 "$data"/log/*.log >&2 || true; return 1
    fi
    sleep 0.2
  done
  echo "ceph: timed out waiting for $what; logs in $data/log" >&2
  return 1
}

# Where RGW answers: https:// with our CA when started with a TLS folder, else http://.
rgw_tls() {
  if [ -n "${SO_BACKUP_RGW_TLS_DIR:-}" ]; then rgw_url="https://127.0.0.1:$rgw_port/"; curl_tls=(--cacert "$SO_BACKUP_RGW_TLS_DIR/ca.crt");
  else rgw_url="http://127.0.0.1:$rgw_port/"; curl_tls=(); fi
}
rgw_answers() { curl -fs -o /dev/null "${curl_tls[@]}" "$rgw_url"; }

# The bucket owner (RGW user so-backup-local): its S3 key is made by RGW itself, one per cluster, and
# kept in DATA/owner-key.json (0600) for the programs that need it; it never appears on a command
# line (ps shows every process's). A cluster an earlier version made with the key it was given on
# the command line (a constant in the repository) has that key removed and a new one made.
owner_key() {
  local file="$data/owner-key.json" admin=(timeout 30 radosgw-admin -c "$conf") info old
  if ! in_root "${admin[@]}" user info --uid so-backup-local >/dev/null 2>&1; then
    in_root "${admin[@]}" user create --uid so-backup-local --display-name "so-backup local mode" >/dev/null
    rm -f "$file"
  fi
  info=$(in_root "${admin[@]}" user info --uid so-backup-local)
  if [ -s "$file" ] && [ "$(jq -r .accessKeyId "$file")" = "$(jq -r '.keys[0].access_key // ""' <<<"$info")" ] \
    && [ "$(jq '.keys | length' <<<"$info")" = 1 ]; then chmod 600 "$file"; return 0; fi
  echo "ceph: making a new S3 key for the bucket owner of $data" >&2
  for old in $(jq -r '.keys[].access_key' <<<"$info"); do
    in_root "${admin[@]}" key rm --uid so-backup-local --key-type s3 --access-key "$old" >/dev/null
  done
  info=$(in_root "${admin[@]}" key create --uid so-backup-local --key-type s3 --gen-access-key --gen-secret)
  (umask 077 && jq '{accessKeyId: .keys[0].access_key, secretAccessKey: .keys[0].secret_key}' <<<"$info" >"$file.new")
  [ "$(jq -r '.accessKeyId | length' "$file.new")" -ge 16 ] || { echo "ceph: RGW made no S3 key for the bucket owner" >&2; return 1; }
  mv "$file.new" "$file"
}

start_once() {
  local rgw_port=${3:?RGW port} mon_port=${4:?mon port}
  if [ $# -gt 4 ]; then
    echo "ceph: keys are no longer given on the command line (ps shows them): the bucket owner's key is made by RGW and kept in DATA/owner-key.json" >&2
    exit 2
  fi
  # Name the step that failed (set -e would otherwise end this attempt without a word), also
  # inside the functions it calls (errtrace: an ERR trap is not inherited by functions without it).
  set -o errtrace
  trap 'echo "ceph: starting failed at line $LINENO ($BASH_COMMAND, exit $?); logs in $data/log" >&2; tail -n 5 "$data"/log/*.log >&2 2>/dev/null || true' ERR
  [ -x "$root/usr/bin/radosgw" ] || { echo "ceph: no chroot at $root; run scripts/ceph-chroot.sh" >&2; exit 2; }
  mkdir -p "$data"/{run,log,mon,osd,rgw}
  # The cluster's keys, its objects (every tenant's) and logs: its owner's only, also a folder an earlier version made 0755.
  chmod 700 "$data"
  rgw_tls
  if alive && rgw_answers; then echo "ceph: already running"; exit 0; fi
  stop
  # Every port this cluster binds must be free: the monitor's, the RGW's and the daemons' range.
  local port_min=$((mon_port + 1)) port_max=$((mon_port + 40)) p holder
  for p in "$mon_port" "$rgw_port" $(seq "$port_min" "$port_max"); do
    holder=$(listener "$p")
    if [ -n "$holder" ]; then
      echo "ceph: port $p on 127.0.0.1 is taken (${holder##* }); stop what holds it, or choose another --port-base" >&2
      exit 3
    fi
  done
  mount_all
  local frontends="beast endpoint=127.0.0.1:$rgw_port" sts=""
  if [ -n "${SO_BACKUP_RGW_TLS_DIR:-}" ]; then
    mkdir -p "$data/tls"
    cp "$SO_BACKUP_RGW_TLS_DIR"/{server.crt,server.key,ca.crt} "$data/tls/"
    frontends="beast ssl_endpoint=127.0.0.1:$rgw_port ssl_certificate=$inner/tls/server.crt ssl_private_key=$inner/tls/server.key"
    # The STS key signs every session token: readable by its owner only (as is ceph.conf, which holds it, and the TLS key).
    # RGW uses the key's 16 characters as the AES-128 key itself (rgw_sts.cc; Ceph's docs: exactly 16
    # characters, alphanumeric): 16 random letters and digits (95 bits) rather than 16 hex digits (64).
    [ -f "$data/sts.key" ] || (umask 077 && head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | cut -c1-16 >"$data/sts.key")
    chmod 600 "$data/sts.key" "$data/tls/server.key"
    sts="rgw sts key = $(cat "$data/sts.key")
rgw s3 auth use sts = true"
  fi
  # Ceph's own authentication (cephx) is on: without it anyone on the machine could talk to the
  # monitor and the OSD directly (`rados -m 127.0.0.1:MON ...`) and read every pool — every tenant's
  # objects, RGW's users and keys — past RGW. The keys are made with the cluster (keyring, 0600).
  local fsid; fsid=$( [ -f "$data/fsid" ] && cat "$data/fsid" || (in_root uuidgen | tee "$data/fsid") )
  write_conf() { # auth mode: cephx, or none only to upgrade a cluster made without keys (see below)
  (umask 077 && : >"$data/ceph.conf") && chmod 600 "$data/ceph.conf"
  cat >"$data/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
cluster network = 127.0.0.0/8
ms bind port min = $port_min
ms bind port max = $port_max
ms bind ipv6 = false
ms bind msgr2 = false
auth cluster required = $1
auth service required = $1
auth client required = $1
keyring = $inner/keyring
ms mon client mode = crc secure
ms client mode = crc secure
ms mon service mode = crc secure
ms service mode = crc secure
ms cluster mode = crc secure
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
run dir = $inner/run
log file = $inner/log/\$name.log
admin socket = $inner/run/\$name.asok
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 21474836480
osd memory target = 939524096
bluestore cache autotune = false
bluestore cache size = 134217728
[mon.a]
mon data = $inner/mon
# Ceph's monitor refuses to start when its disk has under 5 % free, however many GiB that is
# (15 GiB free on a 250 GiB disk stopped it): local mode's cluster holds test-sized data, so only
# under 1 % free is refused (and under 2 % warned about in its log).
mon data avail crit = 1
mon data avail warn = 2
[osd.0]
osd data = $inner/osd
# At start an OSD normally sends "osd crush set-device-class" and "create-or-move" to the monitor
# right after authenticating. Ceph 20's OSD rebuilds its monitor map from mon_host_override without
# the fsid, so a command sent before the monitor's map arrives carries the all-zero fsid and the
# monitor refuses it ("wrong fsid"): the OSD exits. Placement is done once, at creation, instead.
osd crush update on start = false
osd class update on start = false
[client.rgw]
rgw frontends = $frontends
$sts
rgw data = $inner/rgw
rgw lc debug interval = ${SO_BACKUP_RGW_LC_DEBUG_INTERVAL:--1}
rgw dns name = 127.0.0.1
CONF
  }
  local conf="$inner/ceph.conf"
  # Every key the cluster needs, with its capabilities: the monitor's, the admin's (ceph and
  # radosgw-admin here), the OSD's and RGW's. The monitor takes them into its auth database at mkfs.
  if [ ! -s "$data/keyring" ]; then
    (umask 077 && : >"$data/keyring.new")
    in_root ceph-authtool "$inner/keyring.new" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    in_root ceph-authtool "$inner/keyring.new" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
    in_root ceph-authtool "$inner/keyring.new" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
    in_root ceph-authtool "$inner/keyring.new" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
    mv "$data/keyring.new" "$data/keyring"
  fi
  chmod 600 "$data/keyring"
  if [ ! -f "$data/mon/.made" ]; then
    write_conf cephx
    in_root monmaptool --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$inner/monmap" >/dev/null
    in_root ceph-mon -c "$conf" --mkfs -i a --monmap "$inner/monmap" --keyring "$inner/keyring"
    touch "$data/mon/.made" "$data/mon/.cephx"
  elif [ ! -f "$data/mon/.cephx" ]; then
    # A cluster an earlier version made without cephx: its monitor knows no keys. Started once more
    # without authentication, it takes them in (the monitor's own key is read from the keyring),
    # then everything starts with cephx. Its data is kept.
    echo "ceph: turning on cephx for the cluster in $data (made without it)" >&2
    write_conf none
    # The monitor reads its own key from its data folder (mkfs puts it there for a new cluster).
    (umask 077 && awk '/^\[/{keep = ($0 == "[mon.]")} keep' "$data/keyring" >"$data/mon/keyring")
    in_root ceph-mon -c "$conf" -i a --pid-file "$inner/run/mon.pid"
    wait_for "the monitor" 30 "$data/run/mon.pid" in_root timeout 5 ceph -c "$conf" mon stat
    (umask 077 && awk '/^\[/{keep = ($0 != "[mon.]")} keep' "$data/keyring" >"$data/keyring.import")
    in_root timeout 30 ceph -c "$conf" auth import -i "$inner/keyring.import" >>"$data/log/cephx-upgrade.log" 2>&1
    rm -f "$data/keyring.import"
    local mon_pid; mon_pid=$(cat "$data/run/mon.pid")
    kill "$mon_pid"
    for _ in $(seq 1 100); do kill -0 "$mon_pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$data/run/mon.pid"
    touch "$data/mon/.cephx"
  fi
  write_conf cephx
  in_root ceph-mon -c "$conf" -i a --pid-file "$inner/run/mon.pid"
  wait_for "the monitor" 30 "$data/run/mon.pid" in_root timeout 5 ceph -c "$conf" mon stat
  if [ ! -f "$data/osd/.made" ]; then
    # Creation may have been cut short by an earlier start (the OSD never ran, so it holds no data).
    # The monitor keeps osd.0 under the uuid it was first given: reuse that uuid, so that every step
    # below is idempotent and a second start completes what the first began.
    if [ ! -s "$data/osd-uuid" ]; then
      # (A cluster begun before the uuid was kept: the monitor knows it.)
      in_root timeout 10 ceph -c "$conf" osd dump -f json 2>/dev/null | grep -o '"osd":0,"uuid":"[0-9a-f-]*"' | cut -d'"' -f6 >"$data/osd-uuid" || true
      [ -s "$data/osd-uuid" ] || in_root uuidgen >"$data/osd-uuid"
    fi
    local uuid; uuid=$(cat "$data/osd-uuid")
    find "$data/osd" -mindepth 1 -delete
    # "osd new" with the same uuid and id is idempotent: retry it while the monitor settles.
    wait_for "the monitor to register the OSD" 60 "$data/run/mon.pid" in_root timeout 10 ceph -c "$conf" osd new "$uuid" 0
    in_root ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >>"$data/log/osd-create.log" 2>&1 \
      || { echo "ceph: OSD mkfs failed:" >&2; tail -n 20 "$data/log/osd-create.log" >&2; exit 1; }
    # Both are idempotent: retried while a loaded monitor is slow to answer; what it said is in log/osd-create.log.
    wait_for "the monitor to place the OSD in the CRUSH map" 60 "$data/run/mon.pid" sh -c "chroot '$root' timeout 30 ceph -c '$conf' osd crush add osd.0 1.0 root=default host=local >>'$data/log/osd-create.log' 2>&1"
    wait_for "the monitor to set the OSD's device class" 60 "$data/run/mon.pid" sh -c "chroot '$root' timeout 30 ceph -c '$conf' osd crush set-device-class hdd osd.0 >>'$data/log/osd-create.log' 2>&1"
    touch "$data/osd/.made"
  fi
  in_root ceph-osd -c "$conf" -i 0 --pid-file "$inner/run/osd.pid" 2>>"$data/log/osd-stderr.log"
  wait_for "the OSD" 60 "$data/run/osd.pid" sh -c "chroot '$root' timeout 5 ceph -c '$conf' osd stat | grep -q '1 up'"
  # What AWS refuses for the stack's bucket and RGW would store (ACLs under BucketOwnerEnforced, tags
  # from a session without s3:PutObjectTagging, unreadable form uploads): scripts/rgw-prerequest.lua,
  # put before RGW starts so that it applies from the first request.
  cp "$(dirname "$(realpath "$0")")/rgw-prerequest.lua" "$data/rgw-prerequest.lua"
  in_root timeout 30 radosgw-admin -c "$conf" script put --infile="$inner/rgw-prerequest.lua" --context=prerequest >/dev/null 2>>"$data/log/rgw-script.log"
  timeout 60 chroot "$root" radosgw -c "$conf" -n client.rgw --pid-file "$inner/run/rgw.pid"
  wait_for "the RADOS Gateway on port $rgw_port" 90 "$data/run/rgw.pid" rgw_answers
  owner_key
  [ -z "$sts" ] || in_root timeout 30 radosgw-admin -c "$conf" caps add --uid so-backup-local --caps "roles=*" >/dev/null
  touch "$data/.initialized"
  echo "ceph: RADOS Gateway ready on $rgw_url"
}

start() {
  # A separate process, so that `set -e` still applies inside (it does not in an `if` condition).
  local code=0
  bash "$0" start-once "${@:2}" || code=$?
  [ "$code" = 0 ] && return 0
  stop || true
  [ "$code" = 3 ] && exit 3
  echo "ceph: the cluster in $data did not start (start-once exit $code); see the lines above and $data/log" >&2; tail -n 3 "$data"/log/*.log >&2 2>/dev/null || true
  exit 1
}

case "$cmd" in
  start) start "$@" ;;
  start-once) start_once "$@" ;;
  stop) stop && echo "ceph: stopped" ;;
  lc-process) in_root timeout 60 radosgw-admin -c "$inner/ceph.conf" lc process ;;
  requests) in_root ceph --admin-daemon "$inner/run/client.rgw.asok" perf dump rgw | tr -d ' \n' | grep -o '"req":[0-9]*' | head -1 | cut -d: -f2 ;;
  status) if alive; then echo running; else echo stopped; exit 1; fi ;;
  *) echo "usage: ceph-rgw.sh start|stop|status|requests|lc-process DATA ..." >&2; exit 2 ;;
esac
