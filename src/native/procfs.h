/*
 * The one /proc reader of the native backend. Every file and link under
 * /proc/PID is named the same way: a descriptor of /proc (from
 * rm_native_proc_open) and the path "PID/NAME" below it. Functions return 0
 * or an errno value (ENOENT or ESRCH: the process is gone; EACCES: another
 * user's; EMFILE, ENFILE, ENOMEM: out of resources, never taken for a gone
 * process).
 */
#ifndef RESTARTMANAGER_NATIVE_PROCFS_H
#define RESTARTMANAGER_NATIVE_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* A descriptor of /proc (close it with close), or -1 with errno set. */
int rm_native_proc_open(void);

/* Reads the whole of PID/NAME into b, replacing what b held (its memory is
 * reused): b->len bytes, then a NUL. For the files the kernel writes in one
 * piece (stat, status, sessionid, cgroup, environ): a read that returns
 * less than it asked for ends it (maps is read with rm_native_proc_lines). */
int rm_native_proc_read(int procfd, uint32_t pid, const char *name,
                        rm_native_buf *b);

/* Reads PID/NAME a few pages at a time and calls fn with each line (which
 * ends at its newline, or at a NUL for a last line without one) as it
 * comes, until fn returns non-zero (*stopped then set): a file of any size
 * costs b a few pages, and nothing is read past the line that was looked
 * for. b is the caller's buffer, reused from call to call. */
typedef int (*rm_native_line_fn)(void *ctx, const char *line);
int rm_native_proc_lines(int procfd, uint32_t pid, const char *name,
                         rm_native_buf *b, rm_native_line_fn fn, void *ctx,
                         int *stopped);

/* The target of the link PID/NAME (exe, cwd, fd/N) into buf, with the
 * kernel's " (deleted)" suffix removed (rm_native_strip_deleted); *len its
 * length. ENAMETOOLONG when it does not fit in size. */
int rm_native_proc_link(int procfd, uint32_t pid, const char *name,
                        char *buf, size_t size, size_t *len);

/* What the backend needs from /proc/PID/stat. */
typedef struct rm_native_stat {
  char comm[64];
  char state; /* 'Z' zombie, 'X' dead */
  long long session, tty, threads;
  long long nice; /* field 19: -20 to 19 */
  unsigned flags;
  uint64_t start_time; /* field 22: clock ticks after boot */
  /* fields 50 and 51: where the environment lies in the process's memory
   * (0 when /proc hides them, or the kernel has none) */
  uint64_t env_start, env_end;
} rm_native_stat;

/* Parses a /proc/PID/stat line: 0, or -1 when it is malformed. */
int rm_native_parse_stat(const char *buf, rm_native_stat *out);

/* Reads and parses PID/stat (EINVAL when it does not parse). scratch is
 * the caller's buffer, reused from call to call (free(scratch->p) once
 * done). */
int rm_native_proc_stat(int procfd, uint32_t pid, rm_native_buf *scratch,
                        rm_native_stat *st);

/* The start time of a live process (rm_unique_process.start_time), opening
 * /proc itself: for callers that look at one process. */
int rm_native_proc_start_time(uint32_t pid, uint64_t *start);

/* The owner of process pid (the owner of /proc/PID). */
int rm_native_proc_owner(int procfd, uint32_t pid, uid_t *uid);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
