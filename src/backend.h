/*
 * The internal interface between the Lua binding (restartmanager.c) and the
 * two backends: src/windows/backend.c (Windows: rstrtmgr.dll's Restart
 * Manager or the win32 engine, see src/windows/engine.h) and
 * src/native/backend.c (Linux, over the layers of src/native/native.h).
 *
 * Every function returns a Win32 error code (0 on success) on both
 * platforms. No function here calls into Lua or raises: the binding owns all
 * Lua-visible memory and passes buffers in; a backend's own allocations are
 * released before it returns, except the session object, which rm_backend_end frees.
 *
 * Strings crossing this interface are UTF-8 and NUL-terminated.
 */
#ifndef RESTARTMANAGER_BACKEND_H
#define RESTARTMANAGER_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). Every internal header wraps its
 * declarations the same way; spec/package/rockspec_spec.lua checks that the
 * rock's core.so exports nothing else. */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* The same for a global function declared in a .c file rather than here. */
#if defined(__GNUC__) && !defined(_WIN32)
#define RM_INTERNAL __attribute__((visibility("hidden")))
#else
#define RM_INTERNAL
#endif

/* Win32 error codes, the same numbers on every platform. */
#define RM_OK                      0u
#define RM_E_INVALID_FUNCTION      1u
#define RM_E_FILE_NOT_FOUND        2u
#define RM_E_TOO_MANY_OPEN_FILES   4u
#define RM_E_ACCESS_DENIED         5u
#define RM_E_INVALID_HANDLE        6u
#define RM_E_OUTOFMEMORY           14u
#define RM_E_WRITE_FAULT           29u
#define RM_E_NOT_SUPPORTED         50u
#define RM_E_INVALID_PARAMETER     87u
#define RM_E_SEM_TIMEOUT           121u
#define RM_E_BAD_ARGUMENTS         160u
#define RM_E_BUSY                  170u
#define RM_E_MORE_DATA             234u
#define RM_E_FAIL_NOACTION_REBOOT  350u
#define RM_E_FAIL_SHUTDOWN         351u
#define RM_E_FAIL_RESTART          352u
#define RM_E_MAX_SESSIONS_REACHED  353u
#define RM_E_REQUEST_OUT_OF_SEQUENCE 776u
#define RM_E_SESSION_CREDENTIAL_CONFLICT 1219u
#define RM_E_CANCELLED             1223u

/* Key length in characters, without the terminating NUL. */
#define RM_KEY_LEN 32

/* RM_APP_TYPE */
#define RM_APP_UNKNOWN      0
#define RM_APP_MAIN_WINDOW  1
#define RM_APP_OTHER_WINDOW 2
#define RM_APP_SERVICE      3
#define RM_APP_EXPLORER     4
#define RM_APP_CONSOLE      5
#define RM_APP_CRITICAL     1000

/* RM_APP_STATUS bits */
#define RM_STATUS_UNKNOWN          0x00u
#define RM_STATUS_RUNNING          0x01u
#define RM_STATUS_STOPPED          0x02u
#define RM_STATUS_STOPPED_OTHER    0x04u
#define RM_STATUS_RESTARTED        0x08u
#define RM_STATUS_ERROR_ON_STOP    0x10u
#define RM_STATUS_ERROR_ON_RESTART 0x20u
#define RM_STATUS_SHUTDOWN_MASKED  0x40u
#define RM_STATUS_RESTART_MASKED   0x80u

/* RM_REBOOT_REASON bits */
#define RM_REBOOT_NONE              0x00u
#define RM_REBOOT_PERMISSION_DENIED 0x01u
#define RM_REBOOT_SESSION_MISMATCH  0x02u
#define RM_REBOOT_CRITICAL_PROCESS  0x04u
#define RM_REBOOT_CRITICAL_SERVICE  0x08u
#define RM_REBOOT_DETECTED_SELF     0x10u

/* RM_SHUTDOWN_TYPE */
#define RM_SHUTDOWN_FORCE            0x01u
#define RM_SHUTDOWN_ONLY_REGISTERED  0x10u

/* RM_FILTER_ACTION and RM_FILTER_TRIGGER */
#define RM_FILTER_ACTION_INVALID 0
#define RM_FILTER_NO_RESTART     1
#define RM_FILTER_NO_SHUTDOWN    2
#define RM_FILTER_TRIGGER_INVALID 0
#define RM_FILTER_TRIGGER_FILE    1
#define RM_FILTER_TRIGGER_PROCESS 2
#define RM_FILTER_TRIGGER_SERVICE 3

/* RegisterApplicationRestart flags */
#define RM_RESTART_NO_CRASH  1u
#define RM_RESTART_NO_HANG   2u
#define RM_RESTART_NO_PATCH  4u
#define RM_RESTART_NO_REBOOT 8u

/* Sizes of the inline name arrays, in bytes of UTF-8 (Windows: 256 and 64
 * UTF-16 units, each at most 3 UTF-8 bytes). */
#define RM_APP_NAME_SIZE 768
#define RM_SVC_NAME_SIZE 192

/* A process named so that pid reuse is never mistaken for it. start_time is
 * the platform's creation time: a FILETIME on Windows, field 22 of
 * /proc/PID/stat (clock ticks after boot) on Linux. */
typedef struct rm_unique_process {
  uint32_t pid;
  uint64_t start_time;
} rm_unique_process;

/* How the native backend stops and starts a service (rm_app.control). */
#define RM_CONTROL_NONE 0          /* not a service (and always on Windows) */
#define RM_CONTROL_SYSTEMD 1       /* through its systemd manager */
#define RM_CONTROL_NO_LIBSYSTEMD 2 /* with signals: libsystemd.so.0 did not load */
#define RM_CONTROL_NO_SYSTEMD 3    /* with signals: no systemd runs */
#define RM_CONTROL_NO_MANAGER 4    /* with signals: its manager was not reachable */

typedef struct rm_app {
  rm_unique_process process;
  char name[RM_APP_NAME_SIZE];
  char service[RM_SVC_NAME_SIZE];
  int type;            /* RM_APP_* */
  uint32_t status;     /* RM_STATUS_* bits */
  int32_t session_id;  /* -1 when unknown */
  int restartable;
  int control;         /* RM_CONTROL_*; native backend only */
} rm_app;

/* A filter as the backend reports it. target points into memory owned by the
 * backend's list (see rm_backend_get_filter_list). */
typedef struct rm_filter {
  int trigger;               /* RM_FILTER_TRIGGER_* */
  int action;                /* RM_FILTER_* */
  const char *name;          /* file path or service name */
  rm_unique_process process; /* for RM_FILTER_TRIGGER_PROCESS */
} rm_filter;

/* Progress callback: called with percentages that never fall (the native
 * backend repeats the last one about once a second while it waits for
 * applications to stop, so that a caller can show the time passing and
 * cancel on time). A non-zero return asks
 * the backend to stop the running operation as soon as it can (it then
 * returns RM_E_CANCELLED). */
typedef int (*rm_progress_fn)(void *ctx, unsigned percent);

typedef struct rm_session rm_session;

/* "windows" or "linux" */
extern const char rm_backend_name[];
/* Non-zero when every string must be valid UTF-8 (Windows converts them to
 * UTF-16); the binding refuses others with an argument error. */
extern const int rm_backend_needs_utf8;

/* rm_backend_start flags. RM_START_PRIVATE: a session nobody can join
 * (the native backend then keeps its registrations in memory and never
 * touches the session store; the Restart Manager has no such session and
 * the Windows backend ignores the flag). */
#define RM_START_PRIVATE 1u

unsigned rm_backend_start(rm_session **out, char key[RM_KEY_LEN + 1],
                          unsigned flags);
unsigned rm_backend_join(rm_session **out, const char *key);
/* Ends the session and frees it; s is invalid afterwards whatever the
 * result. */
unsigned rm_backend_end(rm_session *s);
/* 1 when s was started by this process, 0 when it joined. */
int rm_backend_is_primary(const rm_session *s);

unsigned rm_backend_register(rm_session *s, size_t nfiles, const char *const *files,
                      size_t nprocs, const rm_unique_process *procs,
                      size_t nsvcs, const char *const *svcs);

/* Processes by pid: n pids in pid order, pids malloc'd (NULL when n is 0),
 * freed by the receiver. */
typedef struct rm_pid_list {
  uint32_t *pids;
  size_t n;
} rm_pid_list;

/* On entry *count is the capacity of apps (which may be NULL when it is 0).
 * On RM_E_MORE_DATA *needed is set, *count is 0 and nothing is written.
 * *uninspected: the processes that could not be looked into (the native
 * backend: another user's, for a caller that is not root, and any hidden
 * even from root; the Restart Manager reports nothing of the kind, so the
 * Windows backend sets none); set on success only. */
unsigned rm_backend_get_list(rm_session *s, unsigned *needed, unsigned *count,
                      rm_app *apps, uint32_t *reasons,
                      rm_pid_list *uninspected);

#ifndef _WIN32
/* Native backend: the registered files whose path did not exist at the
 * session's last list (it looks every path up when it lists), as places
 * from 0 in the order registered; how many. Valid until the next call on
 * the session. The Restart Manager knows nothing of the kind. */
size_t rm_native_missing(const rm_session *s, const size_t **places);

/* Native backend: what an explicit recovery started again. */
typedef struct rm_recovered {
  char *service;   /* a service started again through systemd, else NULL */
  char *exe;       /* an application: its registered executable */
  rm_unique_process process; /* the application as it was (pid 0: a service) */
  uint32_t uid;    /* the user it runs as */
  uint32_t new_pid; /* the restarted application (0: not known) */
  int started;     /* 1 started again, 0 the start failed */
} rm_recovered;

/* Native backend: sweeps the calling user's store, as every start and join
 * does: what the shutdowns of primaries that died before their restart
 * stopped (the stale sessions' records) is started again. *out gets a
 * malloc'd array of *n entries (free it with rm_native_recovered_free).
 * The Restart Manager keeps no such record. */
unsigned rm_native_recover(rm_recovered **out, size_t *n);
void rm_native_recovered_free(rm_recovered *r, size_t n);
#endif

/* Conductor only. timeout_ms bounds the wait for each polite stop (the
 * native backend's deadline; the Windows backend has its own). */
unsigned rm_backend_shutdown(rm_session *s, uint32_t flags, unsigned timeout_ms,
                      rm_progress_fn fn, void *ctx);
unsigned rm_backend_restart(rm_session *s, rm_progress_fn fn, void *ctx);
unsigned rm_backend_cancel(rm_session *s);
/* Cancels the running task of this process's primary session with that key,
 * from any thread: for another Lua state, which cannot hold the session. */
unsigned rm_backend_cancel_key(const char *key);

/* Conductor only. f->name or f->process names the target, by f->trigger. */
unsigned rm_backend_add_filter(rm_session *s, const rm_filter *f);
unsigned rm_backend_remove_filter(rm_session *s, const rm_filter *f);
/* Lays the filter list out in buf: an array of *count rm_filter followed by
 * their strings. When size is too small returns RM_E_MORE_DATA with *needed
 * set (buf may be NULL when size is 0). */
unsigned rm_backend_get_filter_list(rm_session *s, void *buf, size_t size,
                             size_t *needed, unsigned *count);

unsigned rm_backend_process(uint32_t pid, rm_unique_process *out);

/* The calling process's restart registration: argv are the arguments after
 * the executable's name. */
unsigned rm_backend_register_restart(size_t argc, const char *const *argv,
                              uint32_t flags);
unsigned rm_backend_unregister_restart(void);

/* Writes a readable description of code (without its name) into buf. */
void rm_backend_error_text(unsigned code, char *buf, size_t size);

/* The engine that answers: "native" on Linux; on Windows "rstrtmgr" (the
 * Restart Manager) or "win32" (the user-mode engine, where rstrtmgr.dll is
 * only stubs). */
const char *rm_backend_engine(void);

/* Wine's version string when running under Wine, else NULL. */
const char *rm_backend_wine_version(void);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
