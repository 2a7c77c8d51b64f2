#!/bin/bash
# A private systemd user manager for the specs (root only; no systemd as
# PID 1 needed). It sees only the units of DIR/units (empty stand-in
# targets), runs in a private mount namespace where /run/systemd exists,
# and lives in a cgroup of its own, which `stop` kills and removes.
#   user_manager.sh start DIR   prints the manager's pid; then
#                               XDG_RUNTIME_DIR=DIR/run reaches it
#   user_manager.sh stop DIR    kills it and all it started, removes DIR
set -eu
cmd=$1 dir=$2
v2=/sys/fs/cgroup/unified; [ -e /sys/fs/cgroup/cgroup.controllers ] && v2=/sys/fs/cgroup
cg=$v2/rmspec-$(basename "$dir")
v1=/sys/fs/cgroup/systemd/rmspec-$(basename "$dir")   # hybrid layout only
case $cmd in
start)
  mkdir -p "$dir/run" "$dir/home" "$dir/units"; chmod 700 "$dir/run"
  for t in default basic sysinit shutdown exit sockets paths timers; do
    [ -e "$dir/units/$t.target" ] ||
      printf '[Unit]\nDescription=%s (spec stand-in)\nDefaultDependencies=no\n' $t > "$dir/units/$t.target"
  done
  mkdir -p "$cg"; if [ -d /sys/fs/cgroup/systemd ]; then mkdir -p "$v1"; fi
  XDG_RUNTIME_DIR=$dir/run HOME=$dir/home SYSTEMD_UNIT_PATH=$dir/units \
  setsid unshare --mount --propagation private sh -c '
    echo $$ > "$1/cgroup.procs"; if [ -d "$2" ]; then echo $$ > "$2/cgroup.procs"; fi
    mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system
    touch "$3/console"; mount --bind "$3/console" /dev/console
    exec systemd --user' sh "$cg" "$v1" "$dir" </dev/null >"$dir/manager.log" 2>&1 &
  pid=$!; echo $pid > "$dir/manager.pid"
  # up once it says so (running, or degraded); give up after 60 s (a
  # machine under heavy load) or when it died
  state= deadline=$(($(date +%s) + 60))
  while [ "$(date +%s)" -le "$deadline" ]; do
    state=$(XDG_RUNTIME_DIR=$dir/run systemctl --user show -p SystemState --value 2>/dev/null) || true
    case $state in running|degraded) break ;; esac
    kill -0 $pid 2>/dev/null || { cat "$dir/manager.log" >&2; exit 1; }
    sleep 0.05
  done
  case $state in
    running|degraded) ;;
    *) echo "the test user manager did not come up in 60 s (${state:-no state})" >&2
       cat "$dir/manager.log" >&2; exit 1 ;;
  esac
  echo $pid ;;
stop)
  if [ -e "$cg/cgroup.kill" ]; then
    echo 1 > "$cg/cgroup.kill"
    while grep -q 'populated 1' "$cg/cgroup.events"; do sleep 0.01; done
  fi
  if [ -d "$cg" ]; then find "$cg" -depth -type d -exec rmdir {} \; ; fi
  if [ -d "$v1" ]; then find "$v1" -depth -type d -exec rmdir {} \; ; fi
  rm -rf "$dir" ;;
esac
