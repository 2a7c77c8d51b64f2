/*
 * The scan: which processes use a set of resources (RmGetList's search).
 *
 * Files are matched by device and inode, never by name, against every
 * process's executable, open descriptors (one statx per descriptor through
 * a descriptor of its /proc/PID/fd directory, read in a small first batch)
 * and memory maps (parsed as /proc/PID/maps is read, until a match). A
 * registered file is looked for under the identity it had when registered
 * and under the one its path has now (a file replaced at that path since).
 * A registered directory is matched by path: a process uses it when its
 * executable, a descriptor or a mapping lies beneath it (a descriptor's
 * link is read only when its file is on a device the directory's tree
 * spans), or its working or root directory is there. Processes match by
 * pid and start time, services by their systemd unit. The threads (one a
 * core, at most four) take the processes a few at a time from one list.
 * Only a process found gets a pidfd, and what made it a hit is read again
 * after that open (scan.c: scan_one).
 *
 * Takes plain arguments: the registration records' bytes (records.h), a
 * descriptor of /proc (procfs.h).
 */
#ifndef RESTARTMANAGER_NATIVE_SCAN_H
#define RESTARTMANAGER_NATIVE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "procfs.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* A process the scan found, with what its stat said then, and a pidfd
 * on it, opened once it was found and before what made it a hit and its
 * stat were read again (-1 when the scan had no descriptors to spare, or
 * where there is no pidfd_open): the caller's to close. */
typedef struct rm_native_hit {
  uint32_t pid;
  rm_native_stat st;
  int pidfd;
  size_t slot; /* the scan's own */
} rm_native_hit;

/* What the scan's threads do with each hit as they find it, while its
 * /proc entries are fresh: each() fills size bytes for it (the hit's
 * payload), with a state of the thread's own that begin() makes at the
 * thread's first hit (NULL when it cannot: the scan then fails with 14)
 * and end() frees. Without keep_pins, each hit's pidfd is closed once
 * each() is done with it (and the hit has none). */
typedef struct rm_native_hit_fn {
  size_t size;
  int keep_pins;
  void *ctx;
  void *(*begin)(void *ctx);
  void (*each)(void *state, const rm_native_hit *h, void *payload);
  void (*end)(void *state);
} rm_native_hit_fn;

/* The processes that use what the records in buf[0..len) name (with
 * payload set: the payloads of rm_native_records_add), into a
 * malloc'd array sorted by pid, and with fn (or NULL) their payloads into
 * *payloads (a malloc'd array, in the same order; NULL when there is no
 * hit); *uninspected the processes that could not
 * be looked into (another user's, for a caller that is not root), sorted
 * by pid, its array the caller's to free; *missing the places (from 0, in
 * the order registered) of the files whose path does not exist now, *nmissing
 * of them (a malloc'd array, NULL when none). 4 or 14 when descriptors or
 * memory ran out (never a process passed off as clean). */
unsigned rm_native_scan(int procfd, const char *buf, size_t len, int payload,
                        const rm_native_hit_fn *fn, rm_native_hit **hits,
                        void **payloads, size_t *nhits,
                        rm_pid_list *uninspected, size_t **missing,
                        size_t *nmissing);

/* Whether process pid uses the file (dev, ino): descriptors, maps or
 * executable. 1 yes, 0 no, -1 when it could not be read (errno set). */
int rm_native_process_uses(int procfd, uint32_t pid, uint64_t dev,
                           uint64_t ino);

/* Parses one /proc/PID/maps line (exposed for the fuzz target): 0, with
 * *range_end the end of its address range and the mapped file's
 * identity. */
int rm_native_parse_maps_line(const char *line, const char **range_end,
                              uint64_t *dev, uint64_t *ino);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
