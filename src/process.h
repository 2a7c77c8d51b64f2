/*
 * The process interface: the processes the Lua layer starts and looks at,
 * on both platforms (src/native/process.c on POSIX, src/windows/process.c on
 * Win32), bound once as core.spawn, core.wait, core.executable and
 * core.running. Plain C, no Lua; every function returns a Win32 error code
 * (backend.h) and, on failure, a readable reason in the caller's buffer.
 */
#ifndef RESTARTMANAGER_PROCESS_H
#define RESTARTMANAGER_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* A started child: its pid and, on Windows, the process handle kept until
 * rm_process_release (the exit status lives in the handle). */
typedef struct rm_child {
  uint32_t pid;
  void *handle; /* HANDLE on Windows, NULL on POSIX */
} rm_child;

/* One change to the inherited environment: value NULL removes name. */
typedef struct rm_env_change {
  const char *name;
  const char *value;
} rm_env_change;

/* Size of the reason buffers the functions below fill. */
#define RM_PROCESS_MSG_SIZE 256

/* Starts argv[0] (looked up in PATH when it names no directory) with argv
 * (argc >= 1, UTF-8), the caller's environment changed by changes, the
 * standard streams inherited and nothing else (no other descriptor or
 * handle). RM_E_FILE_NOT_FOUND when the program is not found,
 * RM_E_ACCESS_DENIED when it may not be run; msg then reads "cannot start
 * 'PROGRAM': reason". */
unsigned rm_process_spawn(size_t argc, const char *const *argv,
                          size_t nchanges, const rm_env_change *changes,
                          rm_child *out, char msg[RM_PROCESS_MSG_SIZE]);

/* How a child ended. */
#define RM_CHILD_RUNNING 0
#define RM_CHILD_EXITED 1   /* *value: the exit status */
#define RM_CHILD_SIGNALED 2 /* *value: the signal (POSIX only) */

/* Waits for c to end (or, with nohang, looks once: *state
 * RM_CHILD_RUNNING while it runs). RM_E_INVALID_HANDLE when c is not a
 * child of the caller left to wait for; msg then reads "cannot wait for
 * PID: reason". */
unsigned rm_process_wait(rm_child *c, int nohang, int *state, int *value,
                         char msg[RM_PROCESS_MSG_SIZE]);

/* Frees what c holds (the Windows handle); safe twice. */
void rm_process_release(rm_child *c);

/* The full path of pid's executable, UTF-8, into buf; *len its length. A
 * program removed or replaced since the process started is named by the
 * path it had. RM_E_MORE_DATA with *len the size needed (with the NUL) when
 * size is too small; RM_E_FILE_NOT_FOUND for no such process,
 * RM_E_ACCESS_DENIED for one the caller may not look into. */
unsigned rm_process_executable(uint32_t pid, char *buf, size_t size,
                               size_t *len, char msg[RM_PROCESS_MSG_SIZE]);

/* Whether p still runs: the same pid with the same start time, not a
 * zombie (POSIX), not a process that exited but is still open by someone
 * (Windows: its handle is signalled). A process that is gone is RM_OK with
 * *running 0; an error only says that it could not be told (out of
 * descriptors or memory). */
unsigned rm_process_running(const rm_unique_process *p, int *running);

/* The full path argv0 names: itself made absolute when it has a '/', else
 * the first executable regular file of that name in PATH. */
unsigned rm_process_find(const char *argv0, char *buf, size_t size,
                         char msg[RM_PROCESS_MSG_SIZE]);

/* Changes the calling process's working directory, or one variable of its
 * environment (value NULL removes it): what a launcher sets up before
 * rm_process_exec. */
unsigned rm_process_chdir(const char *dir, char msg[RM_PROCESS_MSG_SIZE]);
unsigned rm_process_setenv(const char *name, const char *value,
                           char msg[RM_PROCESS_MSG_SIZE]);

/* Replaces the calling process's program by path (absolute, as
 * rm_process_find gives it) with argv (argc >= 1), keeping the pid, the
 * start time, the environment, the working directory and the descriptors
 * not marked close-on-exec: on success it does not return. POSIX only: on
 * Windows a process cannot replace its program, and this returns
 * RM_E_INVALID_PARAMETER with the reason. */
unsigned rm_process_exec(const char *path, size_t argc,
                         const char *const *argv,
                         char msg[RM_PROCESS_MSG_SIZE]);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
