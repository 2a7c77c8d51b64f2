#!/bin/bash
# A private systemd system manager for the specs (root only): PID 1 of its
# own PID, mount, cgroup, UTS, IPC and network namespaces. It sees only the
# units of DIR/units (empty stand-in targets; never the distribution's,
# whose boot services would touch the machine); /tmp, /var/tmp and /run are
# its own; /sys and /proc/sys are read-only; DIR and the BIND directories
# are visible inside at their own paths. It lives in a cgroup of its own.
#   system_manager.sh start DIR [BIND...]  prints its pid (host view)
#   system_manager.sh run DIR CMD...       runs CMD inside (its pids, its
#                                          /run, its systemctl)
#   system_manager.sh stop DIR             kills it and all it started
set -eu
cmd=$1 dir=$2; shift 2
v2=/sys/fs/cgroup/unified; [ -e /sys/fs/cgroup/cgroup.controllers ] && v2=/sys/fs/cgroup
cg=$v2/rmspec-pid1-$(basename "$dir")
case $cmd in
start)
  mkdir -p "$dir/units" "$cg"
  for t in default basic sysinit shutdown exit sockets paths timers local-fs; do
    [ -e "$dir/units/$t.target" ] ||
      printf '[Unit]\nDescription=%s (spec stand-in)\nDefaultDependencies=no\n' $t > "$dir/units/$t.target"
  done
  cat > "$dir/boot.sh" <<'BOOT'
set -eu
dir=$1; shift
mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys
mount --rbind /sys /sys; mount -o remount,bind,ro /sys
umount -R /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs /run
i=0; for b in "$dir" "$@"; do mkdir -p /run/keep/$i; mount --bind "$b" /run/keep/$i; i=$((i+1)); done
mount -t tmpfs -o mode=1777 tmpfs /tmp; mount -t tmpfs -o mode=1777 tmpfs /var/tmp
i=0; for b in "$dir" "$@"; do mkdir -p "$b"; mount --move /run/keep/$i "$b"; i=$((i+1)); done
rm -rf /run/keep
touch "$dir/console"; mount --bind "$dir/console" /dev/console
export container=rmspec SYSTEMD_UNIT_PATH=$dir/units
[ "$(systemd-detect-virt --container)" != none ] || exit 1
exec /lib/systemd/systemd --system --unit=default.target --show-status=no
BOOT
  setsid sh -c 'echo $$ > "$1/cgroup.procs"; shift
    exec unshare --pid --fork --mount-proc --mount --propagation private --cgroup --uts --ipc --net bash "$@"' \
    sh "$cg" "$dir/boot.sh" "$dir" "$@" </dev/null >"$dir/boot.log" 2>&1 &
  # up once it says so (running, or degraded); give up after 60 s (a
  # machine under heavy load)
  pid= state= deadline=$(($(date +%s) + 60))
  while [ "$(date +%s)" -le "$deadline" ]; do
    pid=$(head -1 "$cg/init.scope/cgroup.procs" 2>/dev/null) || true
    if [ -n "${pid:-}" ]; then
      state=$(nsenter -t "$pid" -m -p systemctl show -p SystemState --value 2>/dev/null) || true
      case $state in running|degraded) break ;; esac
    fi
    sleep 0.05
  done
  case $state in
    running|degraded) ;;
    *) echo "the test systemd did not come up in 60 s (${state:-no state})" >&2
       cat "$dir/boot.log" >&2; exit 1 ;;
  esac
  echo "$pid" > "$dir/systemd.pid"; echo "$pid" ;;
run)
  pid=$(cat "$dir/systemd.pid"); exec nsenter -t "$pid" -m -p -u -i -n -C -- "$@" ;;
stop)
  if [ -e "$dir/systemd.pid" ]; then kill -KILL "$(cat "$dir/systemd.pid")" 2>/dev/null || true; fi
  if [ -d "$cg" ]; then
    if [ -e "$cg/cgroup.kill" ]; then echo 1 > "$cg/cgroup.kill"; fi
    while grep -q 'populated 1' "$cg/cgroup.events"; do sleep 0.01; done
    find "$cg" -depth -type d -exec rmdir {} \; ;
  fi
  rm -rf "$dir" ;;
esac
