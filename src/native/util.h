/*
 * The native backend's bottom layer: small helpers every other native file
 * may use and which use nothing of the backend themselves.
 *
 *   - the one map from errno values to Win32 codes;
 *   - the growable byte buffer;
 *   - the one " (deleted)" stripper for paths read from /proc;
 *   - a lock with a timeout;
 *   - threads started on another CPU than their creator's.
 */
#ifndef RESTARTMANAGER_NATIVE_UTIL_H
#define RESTARTMANAGER_NATIVE_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* The code for a failed call that needed a descriptor or memory: 4 (too
 * many open files) for EMFILE and ENFILE, 14 for ENOMEM, else otherwise.
 * Running out of descriptors is never taken for a missing file or a dead
 * session, so callers that give a missing file its own meaning use this
 * form (otherwise 0 asks "was it a lack of resources?"). */
unsigned rm_native_errno_code(int err, unsigned otherwise);

/* The Win32 code for err wherever errno has one obvious meaning (starting
 * or waiting for a process, reading /proc/PID/exe): the resources above,
 * then ENOENT, ENOTDIR, ESRCH -> 2; EACCES, EPERM, ENOEXEC -> 5; ECHILD ->
 * 6; EAGAIN -> 14; E2BIG -> 160; anything else -> 87. */
unsigned rm_native_errno_win32(int err);

/* A growable byte buffer; after a failed allocation it ignores further
 * additions and has failed set. Start it zeroed ({0}); free(p) ends it. */
typedef struct rm_native_buf {
  char *p;
  size_t len, cap;
  int failed;
} rm_native_buf;

void rm_native_gb_add(rm_native_buf *b, const char *s, size_t n);
/* Adds s with its terminating NUL. */
void rm_native_gb_str(rm_native_buf *b, const char *s);
/* Makes room for n more bytes at p + len (len unchanged); 0, or -1 (and
 * failed set) when memory ran out. */
int rm_native_gb_reserve(rm_native_buf *b, size_t n);

/* The pidfs inode number of the process pid if it has start time start:
 * on Linux 6.9 and later a pidfd's inode identifies one process for the
 * whole life of the system (unlike a pid, or a pid and a start time in
 * clock ticks, which a process started within the same tick at the same
 * pid shares). 0 where there is no pidfs, or the process is gone or is
 * another. */
uint64_t rm_native_pidfs_ino(uint32_t pid, uint64_t start);
/* The pidfs inode number of the process a pidfd names, 0 where there is
 * no pidfs. */
uint64_t rm_native_pidfd_ino(int pidfd);

/* A pidfd on pid (close-on-exec), or -1 with errno set (ESRCH: gone;
 * ENOSYS, EPERM: no pidfd_open here). */
int rm_native_pidfd_open(uint32_t pid);
/* 1 when the process a pidfd names has exited (its pid may then name
 * another process), 0 while it runs. */
int rm_native_pidfd_exited(int pidfd);

/* 1 when fd is a regular file (not a FIFO, device, socket or directory). */
int rm_native_regular(int fd);

/* Decodes the octal escapes (\040) of a /proc/PID/mountinfo field in
 * place. */
void rm_native_mount_unescape(char *s);

/* Starts fn(arg) on a new thread, as pthread_create (0 or an error
 * number), first placed on the index-th (1, 2, ...) CPU this process may
 * use other than the caller's, then free to move to any of them. A new
 * thread otherwise starts on its creator's CPU, which is busy with the
 * creator's share of the work, and waits for the load balancer to move it
 * to an idle one: up to a scheduler tick (4 ms measured on a 2-core
 * virtual machine), while the work it came for waits. */
int rm_native_thread_start(pthread_t *th, void *(*fn)(void *), void *arg,
                           unsigned index);

/* An exclusive flock on fd, waiting at most timeout_ms: RM_OK,
 * RM_E_SEM_TIMEOUT, or RM_E_WRITE_FAULT when the file cannot be locked. */
unsigned rm_native_lock_within(int fd, long timeout_ms);

/* The kernel appends " (deleted)" to a /proc link (exe, fd/N, cwd, maps)
 * whose file was removed or replaced. Removes it from path (of length len,
 * NUL-terminated) in place; returns the new length. */
size_t rm_native_strip_deleted(char *path, size_t len);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
