#!/bin/bash
# A real systemd for the specs: a system manager running as PID 1 of its own
# PID, mount, cgroup, UTS, IPC and network namespaces, which sees only the
# unit files of one test directory. Needs root.
#
#   systemd.sh start DIR [BIND...]
#       boots it and prints its pid (as this side sees it) once its default
#       target is reached. Units come from DIR/units only; DIR and every BIND
#       directory are shared with it, everything else of /tmp, /var/tmp and
#       /run is its own (empty tmpfs); /sys and /proc/sys are read-only.
#   systemd.sh run DIR [--hide-libsystemd] CMD...
#       runs CMD inside (its pids, its /proc, its /run, its cgroups), in a
#       cgroup of the test's own tree. --hide-libsystemd puts an empty file
#       over libsystemd.so.0 for CMD alone (a private mount namespace), so
#       that loading it fails as on a system without it.
#   systemd.sh stop DIR
#       kills everything it started (cgroup.kill on the test's own cgroup),
#       waits until the cgroup is empty and removes it. DIR stays.
#
# Safety: SYSTEMD_UNIT_PATH is DIR/units alone, with empty stand-ins for the
# targets a boot needs, so no unit of the distribution (tmpfiles, udev,
# journald, ...) is ever started; the manager writes its messages to
# DIR/console. Nothing outside DIR and the test's cgroup is changed.
set -eu

usage() { echo "usage: $0 start|run|stop DIR ..." >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
case $dir in /*) ;; *) echo "DIR must be an absolute path" >&2; exit 2 ;; esac

v2=/sys/fs/cgroup/unified
[ -e /sys/fs/cgroup/cgroup.controllers ] && v2=/sys/fs/cgroup
cg=$v2/restartmanager-spec-$(basename "$dir")

standin_targets() { # $1: a units directory
  for t in default basic sysinit sockets timers paths local-fs remote-fs \
      network shutdown exit umount final; do
    [ -e "$1/$t.target" ] ||
      printf '[Unit]\nDescription=%s (spec stand-in)\nDefaultDependencies=no\n' \
        "$t" > "$1/$t.target"
  done
}

case $cmd in
start)
  [ ! -e "$cg" ] || { echo "$cg exists: a test systemd of that name runs" >&2; exit 1; }
  mkdir -p "$dir/units"
  standin_targets "$dir/units"
  # the signal that the manager is up: it reaches default.target and runs this
  cat > "$dir/units/spec-ready.service" <<EOF
[Unit]
Description=tells the spec harness the manager is up
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo up > "$dir/ready"'
EOF
  mkdir -p "$dir/units/default.target.wants"
  ln -sf ../spec-ready.service "$dir/units/default.target.wants/spec-ready.service"
  rm -f "$dir/ready"
  mkfifo "$dir/ready"
  # what runs as PID 1 of the new namespaces before systemd replaces it
  cat > "$dir/boot.sh" <<'EOF'
set -eu
dir=$1
shift
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --rbind /sys /sys
mount -o remount,bind,ro /sys
umount -R /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup    # this cgroup namespace's tree only
mount -t tmpfs -o mode=755 tmpfs /run
i=0
for b in "$dir" "$@"; do    # kept aside while /tmp and /var/tmp are replaced
  mkdir -p "/run/.spec-keep/$i"
  mount --bind "$b" "/run/.spec-keep/$i"
  i=$((i + 1))
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
i=0
for b in "$dir" "$@"; do
  mkdir -p "$b"
  mount --move "/run/.spec-keep/$i" "$b"
  i=$((i + 1))
done
rm -rf /run/.spec-keep
touch "$dir/console"
mount --bind "$dir/console" /dev/console
export container=restartmanager-spec SYSTEMD_UNIT_PATH="$dir/units"
# a manager that knows it runs in a container leaves the machine's hostname,
# kernel modules and the like alone: never boot one that would not
[ "$(systemd-detect-virt --container)" != none ] || {
  echo "systemd would not see a container here" >&2; exit 1; }
exec /lib/systemd/systemd --system --unit=default.target --show-status=no \
  --log-target=console --log-level=info
EOF
  mkdir "$cg"
  setsid sh -c 'echo $$ > "$1/cgroup.procs" && shift &&
      exec unshare --pid --fork --mount-proc --mount --propagation private \
        --cgroup --uts --ipc --net bash "$@"' \
    sh "$cg" "$dir/boot.sh" "$dir" "$@" </dev/null >"$dir/boot.log" 2>&1 &
  launcher=$!
  # the ready unit writes into the fifo; read-write open so that it never
  # blocks, and give up after 60 s (a machine under heavy load) or when the
  # launcher died
  exec 3<>"$dir/ready"
  up= waited=0 why="no word from it in 60 s"
  while [ $waited -lt 60 ]; do
    if read -r -t 1 up <&3; then break; fi
    waited=$((waited + 1))
    kill -0 "$launcher" 2>/dev/null || { why="its launcher exited"; break; }
  done
  exec 3<&-
  if [ "$up" != up ]; then
    {
      echo "the test systemd did not come up ($why)"
      echo "--- boot.log"; cat "$dir/boot.log"
      echo "--- console"; cat "$dir/console"
    } >&2 2>/dev/null
    echo 1 > "$cg/cgroup.kill" 2>/dev/null || true
    exit 1
  fi
  pid=$(head -n 1 "$cg/init.scope/cgroup.procs")
  echo "$pid" > "$dir/systemd.pid"
  echo "$pid" ;;
run)
  pid=$(cat "$dir/systemd.pid")
  hide=
  if [ "${1:-}" = --hide-libsystemd ]; then hide=1; shift; fi
  # the command lives in the test's cgroup tree, so that stop kills it too
  mkdir -p "$cg/spec-run"
  echo $$ > "$cg/spec-run/cgroup.procs"
  if [ -n "$hide" ]; then
    exec nsenter -t "$pid" -m -p -u -i -n -C -- unshare --mount --propagation private \
      sh -c 'for f in $(ldconfig -p | sed -n "s/^[[:space:]]*libsystemd\.so\.0 .*=> //p"); do
               mount --bind /dev/null "$f" || exit 1
             done
             exec "$@"' sh "$@"
  fi
  exec nsenter -t "$pid" -m -p -u -i -n -C -- "$@" ;;
stop)
  [ -d "$cg" ] || exit 0
  if [ -e "$cg/cgroup.kill" ]; then
    echo 1 > "$cg/cgroup.kill"
  else
    # kernels before 5.14: PID 1 of the namespace takes all of it along
    kill -KILL "$(cat "$dir/systemd.pid")" 2>/dev/null || true
  fi
  # until the kernel says it is empty; 60 s at most (a machine under heavy
  # load), then the cgroup is left and stop fails, saying so
  waited=0
  while grep -q '^populated 1' "$cg/cgroup.events"; do
    if [ $waited -ge 6000 ]; then
      echo "$cg still holds processes after 60 s" >&2
      exit 1
    fi
    sleep 0.01
    waited=$((waited + 1))
  done
  find "$cg" -depth -type d -exec rmdir {} \;
  rm -f "$dir/systemd.pid" ;;
*) usage ;;
esac
