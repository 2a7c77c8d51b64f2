/*
 * The one /proc reader (procfs.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfs.h"

int rm_native_proc_open(void) {
  return open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void proc_name(char *buf, size_t size, uint32_t pid, const char *name) {
  snprintf(buf, size, "%lu/%s", (unsigned long)pid, name);
}

int rm_native_proc_read(int procfd, uint32_t pid, const char *name,
                        rm_native_buf *b) {
  char path[64];
  int fd, err = 0;
  proc_name(path, sizeof path, pid, name);
  b->len = 0;
  b->failed = 0;
  fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  for (;;) {
    ssize_t n;
    /* room for a page and the terminating NUL */
    if (rm_native_gb_reserve(b, 4097) != 0) {
      err = ENOMEM;
      break;
    }
    n = read(fd, b->p + b->len, b->cap - b->len - 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    b->len += (size_t)n;
    /* the kernel writes these files in one piece: less than was asked for
     * is all there is (one read, not two, for a small file) */
    if (b->len < b->cap - 1) break;
  }
  close(fd);
  if (err) {
    b->len = 0;
    return err;
  }
  b->p[b->len] = '\0';
  return 0;
}

int rm_native_proc_lines(int procfd, uint32_t pid, const char *name,
                         rm_native_buf *b, rm_native_line_fn fn, void *ctx,
                         int *stopped) {
  char path[64];
  size_t have = 0;
  int fd, err = 0;
  proc_name(path, sizeof path, pid, name);
  *stopped = 0;
  b->len = 0;
  b->failed = 0;
  fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  for (;;) {
    char *line, *nl;
    ssize_t n;
    /* a buffer of a few pages, or more for a line longer than that */
    if (b->cap - have < 4097) {
      b->len = have;
      if (rm_native_gb_reserve(b, 16384) != 0) {
        err = ENOMEM;
        break;
      }
    }
    n = read(fd, b->p + have, b->cap - have - 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) {
      b->p[have] = '\0';
      if (have && fn(ctx, b->p)) *stopped = 1;
      break;
    }
    have += (size_t)n;
    b->p[have] = '\0';
    for (line = b->p;
         (nl = (char *)memchr(line, '\n', (size_t)(b->p + have - line)));
         line = nl + 1) {
      if (fn(ctx, line)) {
        *stopped = 1;
        break;
      }
    }
    if (*stopped) break;
    have = (size_t)(b->p + have - line);
    memmove(b->p, line, have);
  }
  close(fd);
  b->len = 0;
  return err;
}

int rm_native_proc_link(int procfd, uint32_t pid, const char *name,
                        char *buf, size_t size, size_t *len) {
  char path[64];
  ssize_t n;
  proc_name(path, sizeof path, pid, name);
  if (size < 2) return ENAMETOOLONG;
  n = readlinkat(procfd, path, buf, size - 1);
  if (n < 0) return errno;
  if ((size_t)n >= size - 1) return ENAMETOOLONG; /* may be cut */
  buf[n] = '\0';
  *len = rm_native_strip_deleted(buf, (size_t)n);
  return 0;
}

int rm_native_parse_stat(const char *buf, rm_native_stat *out) {
  /* pid (comm) state ppid pgrp session tty_nr tpgid flags ... field 20
   * num_threads, field 22 starttime ... fields 50 and 51 env_start and
   * env_end; comm may hold spaces and ')' */
  const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
  const char *p;
  int field;
  size_t n;
  if (!open || !close || close < open) return -1;
  n = (size_t)(close - open - 1);
  if (n >= sizeof out->comm) n = sizeof out->comm - 1;
  memcpy(out->comm, open + 1, n);
  out->comm[n] = '\0';
  p = close + 1;
  out->state = 0;
  out->session = out->tty = out->threads = out->nice = 0;
  out->flags = 0;
  out->start_time = out->env_start = out->env_end = 0;
  for (field = 3; field <= 51; field++) {
    char *end;
    unsigned long long v;
    while (*p == ' ') p++;
    if (!*p) {
      if (field > 22) break; /* an older kernel: no environment fields */
      return -1;
    }
    if (field == 3) {
      out->state = *p;
      while (*p && *p != ' ') p++;
      continue;
    }
    errno = 0;
    v = strtoull(p, &end, 10);
    if (end == p) {
      /* negative numbers (tpgid -1) */
      long long sv = strtoll(p, &end, 10);
      if (end == p && field > 22) break; /* what follows is not needed */
      if (end == p) return -1;
      v = (unsigned long long)sv;
    }
    p = end;
    switch (field) {
    case 6: out->session = (long long)v; break;
    case 7: out->tty = (long long)v; break;
    case 9: out->flags = (unsigned)v; break;
    case 19: out->nice = (long long)v; break;
    case 20: out->threads = (long long)v; break;
    case 22: out->start_time = (uint64_t)v; break;
    case 50: out->env_start = (uint64_t)v; break;
    case 51: out->env_end = (uint64_t)v; break;
    default: break;
    }
  }
  return 0;
}

int rm_native_proc_stat(int procfd, uint32_t pid, rm_native_buf *scratch,
                        rm_native_stat *st) {
  int err = rm_native_proc_read(procfd, pid, "stat", scratch);
  if (err) return err;
  return rm_native_parse_stat(scratch->p, st) == 0 ? 0 : EINVAL;
}

int rm_native_proc_start_time(uint32_t pid, uint64_t *start) {
  rm_native_buf scratch = {0};
  rm_native_stat st;
  int procfd = rm_native_proc_open(), err;
  if (procfd < 0) return errno;
  err = rm_native_proc_stat(procfd, pid, &scratch, &st);
  close(procfd);
  free(scratch.p);
  if (!err) *start = st.start_time;
  return err;
}

int rm_native_proc_owner(int procfd, uint32_t pid, uid_t *uid) {
  char path[32];
  struct stat st;
  snprintf(path, sizeof path, "%lu", (unsigned long)pid);
  if (fstatat(procfd, path, &st, 0) != 0) return errno;
  *uid = st.st_uid;
  return 0;
}
