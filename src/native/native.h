/*
 * Internals of the native (Linux) backend, shared by rm_native_store.c (sessions
 * and the per-user store), rm_native_scan.c (who uses what) and
 * rm_native_control.c (shutdown, restart, filters, restart registration).
 */
#ifndef RESTARTMANAGER_NATIVE_H
#define RESTARTMANAGER_NATIVE_H

#include <sys/types.h>

#include "backend.h"
#include "procfs.h"
#include "util.h"

struct rm_session {
  int primary;
  size_t uninspected; /* processes the last scan could not look into */
  int storefd; /* the per-user store directory */
  int dirfd;   /* this session's directory in it */
  int lockfd;  /* primary: the lock file, held for the session's lifetime */
  char key[RM_KEY_LEN + 1];
  struct rm_native_control *control; /* primary only; NULL until needed */
  struct rm_session *next_primary; /* this process's primaries (cancel) */
};

/* The process's list of live primary sessions, so that another thread (or
 * Lua state) can cancel a session's running task by its key. */
unsigned rm_native_primary_add(rm_session *s);
void rm_native_primary_remove(rm_session *s);

/* Opens (creating it 0700 if needed) the calling user's store directory and
 * checks that it is a real directory, owned by the caller, with no access for
 * group or others. Returns the directory's descriptor or -1 with *rc set. */
int rm_native_store_open(unsigned *rc);

/* 1 when key is a well-formed session key: exactly RM_KEY_LEN lowercase
 * hexadecimal characters, then the NUL. Reads no further than the first NUL
 * or the character after the key. */
int rm_native_valid_key(const char *key);

/* The store directory's path for the calling user, into buf. 0 on success. */
int rm_native_store_path(char *buf, size_t size);

/* RM_OK while the session's primary is alive and the session exists,
 * RM_E_INVALID_HANDLE once it has ended or its primary died. */
unsigned rm_native_session_check(rm_session *s);

/* One registered resource, as read back from the store. */
typedef struct rm_native_entry {
  int kind;     /* files: 'f' file, 'd' directory, 'n' did not exist */
  uint64_t dev; /* files: identity when registered (0 when 'n') */
  uint64_t ino;
  rm_unique_process proc; /* processes */
  const char *text;       /* files: absolute path; services: the name */
} rm_native_entry;

/* type is 'F' (file), 'P' (process) or 'S' (service). */
typedef void (*rm_native_entry_fn)(void *ctx, int type, const rm_native_entry *e);

/* Reads the session's registrations into a malloc'd buffer (*buf NULL and
 * *len 0 when there are none). */
unsigned rm_native_records_load(rm_session *s, char **buf, size_t *len);

/* Calls fn for every entry of every whole record in buf; a torn or
 * corrupted record is skipped, never misread. Returns how many records were
 * skipped. */
size_t rm_native_records_each(const char *buf, size_t len, rm_native_entry_fn fn,
                           void *ctx);

/* Parses one record payload; exposed for the fuzz targets. 0 when every
 * entry was well formed. */
int rm_native_parse_payload(const char *p, size_t len, rm_native_entry_fn fn,
                         void *ctx);

int rm_native_parse_maps_line(const char *line, const char **range_end,
                           uint64_t *dev, uint64_t *ino);

/* Who uses the registered resources: a malloc'd array of apps (by pid). */
unsigned rm_native_scan(rm_session *s, rm_app **apps, size_t *napps,
                     uint32_t *reasons, size_t *uninspected);

/* 1 when process pid uses the file (dev, ino): descriptors, maps or
 * executable. */
int rm_native_process_uses(uint32_t pid, uint64_t dev, uint64_t ino);

/* 1 when pid (with that start time) registered for restart and may be
 * restarted by a restart manager (rm_native_control.c). */
int rm_native_restartable(uint32_t pid, uint64_t start_time);

/* Sets the masked bits of apps' status from the session's filters. */
void rm_native_control_mask(struct rm_native_control *c, rm_app *apps, size_t n);

/* Releases control-side state (rm_native_control.c). */
void rm_native_control_free(struct rm_native_control *c);

#endif
