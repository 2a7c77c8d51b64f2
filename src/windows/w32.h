/*
 * The win32 engine's internals (the engine itself: w32_engine.c), for where
 * rstrtmgr.dll is only stubs. Layers, each calling only those below it:
 *
 *   w32_engine.c  sessions, filters, shutdown, restart, cancel (engine.h)
 *   w32_scan.c    who uses what: handles, mapped views, images, registered
 *                 processes and services; describing an application
 *   w32_store.c   the per-user store: sessions, their records, restart
 *                 registrations
 *   wutil.c       conversions
 *
 * Files are matched by identity, volume serial number + file index (what
 * GetFileInformationByHandle reads), as the native backend matches device +
 * inode: a file reached through two paths (under Wine, C:\ and Z:\ views of
 * one Unix file) is one file.
 */
#ifndef RESTARTMANAGER_WIN_W32_H
#define RESTARTMANAGER_WIN_W32_H

#include "../backend.h"
#include "wutil.h"

typedef struct rm_win_fileid {
  uint32_t volume;
  uint64_t index;
} rm_win_fileid;

/* ---- w32_store.c ---------------------------------------------------- */

/* The identity of the file at path (UTF-16); 0 when it has none (missing).
 * The file is opened for its attributes only, with every share mode, so a
 * file another process holds exclusively is still read. */
int rm_win_file_identity(const WCHAR *path, rm_win_fileid *id);

/* A new session: a fresh key, its directory in the store, and its liveness
 * token (a Local\ named event the primary holds: *token). */
unsigned rm_win_store_create(char key[RM_KEY_LEN + 1], HANDLE *token);
/* RM_OK while the session's primary holds its token, else
 * RM_E_SESSION_CREDENTIAL_CONFLICT (for a join) or RM_E_INVALID_HANDLE. */
unsigned rm_win_store_alive(const char *key, unsigned dead_code);
/* Removes the session's directory. */
void rm_win_store_remove(const char *key);
/* Appends one whole record (text, UTF-8) to the session's records under a
 * lock on the file. */
unsigned rm_win_store_append(const char *key, const char *text, size_t len);
/* The session's records into a malloc'd, NUL-terminated buffer. */
unsigned rm_win_store_load(const char *key, char **buf, size_t *len);

/* Restart registrations, one file per process (pid + creation time):
 * RM_WIN_REG_MAGIC, flags, the executable, the working directory, the
 * command line, then the environment's strings, each NUL-terminated,
 * UTF-8. An empty working directory and no environment: the restarted
 * process gets the installer's. */
#define RM_WIN_REG_MAGIC "rm-restart-1"
unsigned rm_win_reg_write(const rm_unique_process *p, const char *data,
                          size_t len);
unsigned rm_win_reg_remove(const rm_unique_process *p);
/* The engine's registration of p, else the one p made itself with
 * RegisterApplicationRestart (GetApplicationRestartSettings: Windows; Wine
 * keeps none), in the same layout. RM_E_FILE_NOT_FOUND when p has none. */
unsigned rm_win_reg_read(const rm_unique_process *p, char **data,
                         size_t *len);

/* ---- w32_scan.c ----------------------------------------------------- */

typedef struct rm_win_targets {
  rm_win_fileid *ids; /* files, by identity */
  size_t nids;
  WCHAR **dirs; /* registered directories, by their final path */
  size_t ndirs;
  rm_unique_process *procs;
  size_t nprocs;
  char **svcs; /* service names, UTF-8 */
  size_t nsvcs;
} rm_win_targets;

/* Reads the session's records into t (registered identities and the
 * identities the paths have now; for a path that is a directory now, its
 * final path, so that what is used beneath it is found too). */
unsigned rm_win_targets_load(const char *key, rm_win_targets *t);
void rm_win_targets_free(rm_win_targets *t);

/* Who uses t: a malloc'd array of described applications (*apps, *n) and
 * the reboot reasons. */
unsigned rm_win_scan(const rm_win_targets *t, rm_app **apps, size_t *n,
                     uint32_t *reasons);

/* The pids of the processes that use one of ids (handles, mapped views,
 * images), a malloc'd array. */
unsigned rm_win_users(const rm_win_fileid *ids, size_t nids, uint32_t **pids,
                      size_t *n);

/* The top-level windows of pid, a malloc'd array. */
unsigned rm_win_windows_of(uint32_t pid, HWND **wins, size_t *n);

/* Whether the image of process h is a console program. */
int rm_win_is_console(HANDLE h);

#endif
