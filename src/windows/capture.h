/*
 * Windows: what a restart of a process that never registered needs, read
 * from the live process before it is stopped (capture.c), and the start of
 * such a restart outside the installer. The counterpart of
 * src/native/capture.h, for both engines of the Windows build (the capture
 * reads the process itself, not the Restart Manager).
 *
 * Plain C with plain arguments: no session, no Lua. Every function returns
 * a Win32 error code (backend.h) and, on failure, a readable reason in the
 * caller's buffer.
 */
#ifndef RESTARTMANAGER_WIN_CAPTURE_H
#define RESTARTMANAGER_WIN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

#define RM_WIN_CAPTURE_MSG_SIZE 256

/* Everything known about a process that a restart from outside needs. The
 * strings and arrays are malloc'd, UTF-8; rm_win_capture_free releases
 * them. */
typedef struct rm_win_capture {
  rm_unique_process process;
  uint32_t ppid;   /* the pid of the process that created it (Windows does
                    * not reparent: that pid may name another process by
                    * now) */
  char *exe;       /* QueryFullProcessImageNameW */
  char *cwd;       /* its current directory, without a trailing separator
                    * (except at a drive's root) */
  char *line;      /* its command line, as one string */
  size_t argc;
  char **argv;     /* the command line split as CommandLineToArgvW splits
                    * it, then NULL */
  size_t envc;
  char **envp;     /* its environment's strings ("NAME=value"; the hidden
                    * "=C:=C:\dir" ones included), in order, then NULL */
  int console;     /* its image is a console program */
  char *user;      /* the SID of its user, as text */
  int elevated;    /* its token is elevated */
  int other_user;  /* its user is not the caller's */
  int would_elevate; /* the caller is elevated and it was not: started by
                      * the caller, it would get the caller's rights */
} rm_win_capture;

/* Captures process p (the pid with that creation time; start_time 0 takes
 * whatever process has the pid now and fills it in). RM_E_FILE_NOT_FOUND
 * when it is gone or the pid names another process, RM_E_ACCESS_DENIED when
 * the caller may not read it, RM_E_NOT_SUPPORTED when its memory has a
 * layout this build cannot read (another bitness than the caller's). */
unsigned rm_win_capture_take(const rm_unique_process *p, rm_win_capture *out,
                             char msg[RM_WIN_CAPTURE_MSG_SIZE]);

/* Frees what a capture holds; safe twice and on a zeroed capture. */
void rm_win_capture_free(rm_win_capture *c);

/* The caller's own user (SID as text, malloc'd) and elevation. */
unsigned rm_win_caller_user(char **user, int *elevated);

/* A live process, other than the caller, of the caller's user whose
 * executable is exe (compared without regard to case) and whose command
 * line is line: its pid into *pid (0 when none). For "is it running
 * again". */
unsigned rm_win_find_running(const char *exe, const char *line,
                             uint32_t *pid);

/* What to start. */
typedef struct rm_win_relaunch {
  const char *exe;
  const char *line;        /* the whole command line, as is */
  const char *cwd;
  const char *const *envp; /* envc "NAME=value" strings */
  size_t envc;
  int console;             /* a console of its own */
} rm_win_relaunch;

/* Starts l with CreateProcessW, inheriting no handle, outside the caller's
 * job when the caller runs in one and may leave it. *pid gets the new
 * process; note gets why it stayed in the caller's job ("" when it did
 * not). */
unsigned rm_win_relaunch_start(const rm_win_relaunch *l, uint32_t *pid,
                               char note[RM_WIN_CAPTURE_MSG_SIZE],
                               char msg[RM_WIN_CAPTURE_MSG_SIZE]);

#endif
