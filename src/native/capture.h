/*
 * Native backend, bottom layer: what a restart of a process that never
 * registered needs, read from /proc before it is stopped (capture.c), and
 * the start of such a restart outside the installer (relaunch.c).
 *
 * Plain C with plain arguments: no session, no Lua. Every function returns
 * a Win32 error code (backend.h) and, on failure, a readable reason in the
 * caller's buffer.
 */
#ifndef RESTARTMANAGER_NATIVE_CAPTURE_H
#define RESTARTMANAGER_NATIVE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include <sys/resource.h>

#include "../backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

#define RM_NATIVE_MSG_SIZE 256

/* Everything known about a process that a restart from outside needs. The
 * strings and arrays are malloc'd; rm_native_capture_free releases them. */
typedef struct rm_native_capture {
  rm_unique_process process;
  uint32_t ppid;
  char *exe;       /* the executable's path, without " (deleted)" */
  int exe_deleted; /* the kernel said " (deleted)": replaced or removed */
  char *cwd;       /* the working directory */
  size_t argc;
  char **argv;     /* argc strings, then NULL (/proc/PID/cmdline) */
  size_t envc;
  char **envp;     /* envc "NAME=value" strings, then NULL */
  uint32_t uid, euid, gid, egid;
  size_t ngroups;
  uint32_t *groups;
  char unit[256];   /* the systemd unit it runs in ("" when none) */
  int user_unit;    /* that unit belongs to a user's manager (not the
                     * system's, PID 1) */
  char app_id[256]; /* the desktop application id ("" when none) */
  int setid;        /* set-user-ID or set-group-ID executable, or ids
                     * that differ from the real ones */
  int other_pidns;  /* another PID namespace than the caller's */
  int other_mntns;  /* another mount namespace than the caller's */
  long long tty_nr; /* field tty_nr of /proc/PID/stat (0: no terminal) */
  int interactive;  /* its standard input, output or error is that
                     * terminal: someone may be typing into it */
  char *argbuf, *envbuf; /* what argv and envp point into */
} rm_native_capture;

/* Captures process p (the pid with that start time; start_time 0 takes
 * whatever process has the pid now and fills it in). RM_E_FILE_NOT_FOUND
 * when it is gone or the pid names another process, RM_E_ACCESS_DENIED when
 * /proc does not let the caller read it. */
unsigned rm_native_capture_take(const rm_unique_process *p,
                                rm_native_capture *out,
                                char msg[RM_NATIVE_MSG_SIZE]);

/* Frees what a capture holds; safe twice and on a zeroed capture. */
void rm_native_capture_free(rm_native_capture *c);

/* The desktop application id in a systemd unit name that follows the
 * desktop-entry naming (app[-LAUNCHER]-ID-RANDOM.scope,
 * app[-LAUNCHER]-ID[@RANDOM].service; "\x2d" in ID stands for '-'), into
 * buf. 0 on success, -1 when the unit carries none. */
int rm_native_unit_app_id(const char *unit, char *buf, size_t size);

/* The unit part of one /proc/PID/cgroup path: the last .service or .scope
 * component, and whether a user@UID.service lies above it. 0 on success,
 * -1 when the path names no such unit (or only a login session's scope or
 * the user manager itself). */
int rm_native_cgroup_unit(const char *path, char *unit, size_t size,
                          int *user_unit);

/* The directory of cgroup v2 path (as /proc/PID/cgroup gives it, for the
 * caller's cgroup namespace) in the caller's mounts, into buf. 0 or -1. */
int rm_native_cgroup_dir(const char *path, char *buf, size_t size);

/* How a restart was started. */
#define RM_NATIVE_VIA_USER_MANAGER 1 /* a transient unit of the user's own
                                      * systemd manager */
#define RM_NATIVE_VIA_CGROUP 2       /* detached, in a cgroup beside the
                                      * installer's */
#define RM_NATIVE_VIA_DETACHED 3     /* detached (own session); the cgroup
                                      * could not be left */

/* What to start, as whom and where. */
typedef struct rm_native_relaunch {
  const char *exe;
  char *const *argv; /* argv[0] first; NULL-terminated */
  char *const *envp; /* NULL-terminated */
  const char *cwd;
  uint32_t uid, gid;
  size_t ngroups;
  const uint32_t *groups;
  const char *name;  /* for the unit's name and description (may be NULL) */
  int no_manager;    /* never through the user's systemd manager */
  /* what the program had besides, each when set (else the caller's):
   * umask, nice value, resource limits (launch.h's RM_NATIVE_NLIMITS of
   * them, in its order; detached starts only) */
  int has_umask;
  unsigned umask;
  int has_nice;
  int nice;
  const struct rlimit *limits;
} rm_native_relaunch;

/* Starts l detached from the caller, with nothing of the caller's (no
 * descriptor besides stdio on /dev/null, no signal mask, its own session),
 * as l's user, group and groups (never with the caller's privileges), and
 * where it outlives the caller: in the user's systemd manager when one
 * answers at $XDG_RUNTIME_DIR/systemd/private of l's environment, else in
 * a cgroup beside the caller's when the caller may create one. *pid gets
 * the started process (0 when the manager started it and did not say), *via
 * one of RM_NATIVE_VIA_*. */
unsigned rm_native_relaunch_start(const rm_native_relaunch *l, uint32_t *pid,
                                int *via, char msg[RM_NATIVE_MSG_SIZE]);

/* Starts systemd unit through systemctl, waiting for its start job: in the
 * manager of l's user (as that user, with l's environment, which must name
 * its XDG_RUNTIME_DIR) when user is set, else in the system manager (as
 * the caller). *pid gets its main process (0 when it has none). */
unsigned rm_native_start_unit(const rm_native_relaunch *l, const char *unit,
                              int user, uint32_t *pid,
                              char msg[RM_NATIVE_MSG_SIZE]);

/* A live process, other than except, of user uid whose executable is exe
 * and whose command line is argv (NULL-terminated; NULL: any): its pid
 * into *pid (0 when none). For "is it running again". */
unsigned rm_native_find_running(const char *exe, char *const *argv,
                                uint32_t uid, const rm_unique_process *except,
                                uint32_t *pid);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
