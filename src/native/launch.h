/*
 * Starting a program with nothing of the caller inherited but what is asked
 * for: the one way the native backend starts processes, used by core.spawn
 * (process.c) and by the restart of shut-down applications (control.c).
 *
 * The child gets argv and envp as given, its standard streams (the
 * caller's, or /dev/null when detached), default signal dispositions, an
 * empty signal mask and no other descriptor. Whether exec failed is
 * reported back through a close-on-exec pipe, so a program that cannot be
 * started is an error of the call, not an exit status.
 */
#ifndef RESTARTMANAGER_NATIVE_LAUNCH_H
#define RESTARTMANAGER_NATIVE_LAUNCH_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* RLIMIT_CPU (0) to RLIMIT_RTTIME (15): the limits /proc/PID/limits shows */
#define RM_NATIVE_NLIMITS 16

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

typedef struct rm_native_launch {
  const char *file;        /* the program */
  const char *search_path; /* non-NULL: a file without '/' is looked up in
                              this PATH-style list (an empty entry is the
                              working directory) */
  char *const *argv;       /* NULL-terminated */
  char *const *envp;       /* NULL-terminated */
  const char *cwd;         /* NULL: the caller's */
  int detach;              /* in a new session, standard streams on
                              /dev/null, and not a child of the caller */
  int set_ids;             /* run as uid/gid (and groups, for root) */
  uid_t uid;
  gid_t gid;
  size_t ngroups;
  const gid_t *groups;
  /* what the started program inherits besides, each when its has_ flag is
   * set (else the caller's): umask, nice value, resource limits (those
   * the caller may not set are left as they are) */
  int has_umask;
  mode_t umask;
  int has_nice;
  int nice;
  int has_limits;
  struct rlimit limits[RM_NATIVE_NLIMITS];
  const char *cgroup_procs; /* non-NULL: the program first moves itself
                               into this cgroup (the path of its
                               cgroup.procs), to outlive the caller's
                               cgroup; best effort */
} rm_native_launch;

/* Starts l. 0 with *pid the child (0 when detached: it is nobody's child
 * to wait for), or an errno value (the exec's when the program could not
 * be run). */
int rm_native_launch_start(const rm_native_launch *l, pid_t *pid);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
