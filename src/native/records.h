/*
 * Registration records: what a session registered, appended to the
 * session directory's "records" file by every participant.
 *
 * A record is a NUL and a header line "RMR2 <length> <hash>\n", then
 * <length> bytes of payload and a newline, <hash> being the payload's
 * 64-bit FNV-1a in 16 hex digits. Writers append whole records under an
 * exclusive lock on the file, and cut a record they could not finish (a
 * full disk) back off; a writer killed mid-write leaves a torn record,
 * which readers skip before resynchronising on the next header.
 *
 * The NUL makes that resynchronisation safe: a NUL followed by "RMR2 "
 * occurs nowhere inside a record (each NUL in a payload ends an entry and
 * is followed by the next entry's F, P or S, or by the final newline), so
 * a path that carries the text of a record is never taken for one, even
 * inside a torn record. The final newline makes a record whole only once
 * its last byte is written: without it, the next record's NUL could stand
 * in for the payload's last one.
 *
 * The payload is a sequence of NUL-terminated entries:
 *   F<kind>:<dev>:<ino>:<absolute path>   kind f (file), d (dir), n (none),
 *                                         u (not looked up)
 *   P<pid>:<start time>
 *   S<service name>
 *
 * Knows the file format, not sessions: functions take the session
 * directory's descriptor.
 */

#ifndef RESTARTMANAGER_NATIVE_RECORDS_H
#define RESTARTMANAGER_NATIVE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "util.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Appends one record naming files (each identified now; a relative path is
 * made absolute against the working directory), processes and services to
 * the session directory dirfd. Nothing is written on failure:
 * RM_E_BAD_ARGUMENTS for an empty name, or for a relative path when the
 * working directory no longer exists; RM_E_INVALID_HANDLE when the session
 * is gone. */
unsigned rm_native_records_append(int dirfd, size_t nfiles,
                                  const char *const *files, size_t nprocs,
                                  const rm_unique_process *procs,
                                  size_t nsvcs, const char *const *svcs);

/* The same record's payload (its entries, checked as the reader checks
 * them) appended to the buffer out instead: a private session's
 * registrations, kept in memory, where there is no writer to tear a
 * record and no header or hash is needed (read them back with
 * rm_native_payload_each). All or nothing. Its files are not looked
 * up now but recorded as paths ('u'), which the scan identifies when it
 * lists: only the session's own process registers into it and lists it,
 * and a registration listed at once (who_uses, plan) costs one look-up a
 * path instead of two. */
unsigned rm_native_records_add(rm_native_buf *out, size_t nfiles,
                               const char *const *files, size_t nprocs,
                               const rm_unique_process *procs, size_t nsvcs,
                               const char *const *svcs);

/* What a path names now. */
typedef struct rm_native_file_id {
  char kind; /* 'f' file, 'd' directory, 'n' does not exist */
  char missing; /* 'n' because it does not exist (not for want of access) */
  unsigned long long dev, ino;
} rm_native_file_id;

/* Identifies every path: the regular files among many paths of one
 * directory (64 or more one after the other, the directory holding at most
 * three entries for each) from one listing of it, where the file system's
 * entries carry the files' inodes (ext2/3/4, tmpfs, xfs, btrfs) and
 * nothing is mounted on an entry of it; every other path by a stat, from
 * its directory opened once for the files of one directory, on two
 * threads for long lists. */
void rm_native_identify(const char *const *paths, rm_native_file_id *ids,
                        size_t n);

/* One registered resource, as read back. */
typedef struct rm_native_entry {
  int kind;     /* files: 'f' file, 'd' directory, 'n' did not exist, 'u'
                   not looked up (a private session's) */
  uint64_t dev; /* files: identity when registered (0 when 'n' or 'u') */
  uint64_t ino;
  rm_unique_process proc; /* processes */
  const char *text;       /* files: absolute path; services: the name */
} rm_native_entry;

/* type is 'F' (file), 'P' (process) or 'S' (service). */
typedef void (*rm_native_entry_fn)(void *ctx, int type,
                                   const rm_native_entry *e);

/* Reads the records of the session directory dirfd into a malloc'd buffer
 * (*buf NULL and *len 0 when there are none). */
unsigned rm_native_records_load(int dirfd, char **buf, size_t *len);

/* Calls fn for every entry of every whole record in buf; a torn or
 * corrupted record is skipped, never misread. Returns how many records were
 * skipped. */
size_t rm_native_records_each(const char *buf, size_t len,
                              rm_native_entry_fn fn, void *ctx);

/* Calls fn for every entry of payloads that rm_native_records_add made
 * (trusted: checked when they were added). */
void rm_native_payload_each(const char *p, size_t len, rm_native_entry_fn fn,
                            void *ctx);

/* Parses one record payload (exposed for the fuzz targets): 0 when every
 * entry was well formed; fn is called only then. */
int rm_native_parse_payload(const char *p, size_t len, rm_native_entry_fn fn,
                            void *ctx);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
