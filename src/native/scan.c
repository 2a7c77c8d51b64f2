/*
 * Native backend: who uses the registered resources (RmGetList).
 *
 * Files are matched by device and inode, never by name, against every
 * process's executable, open descriptors (one statx per descriptor through
 * a descriptor of its /proc/PID/fd directory) and memory maps (parsed as
 * /proc/PID/maps is read: executables and shared libraries, and files
 * mapped after their descriptor was closed). Directories are matched by
 * path: a process uses a registered directory when its executable, a
 * descriptor or a mapping lies beneath it (a descriptor's link is read only
 * when its file's device is one the directory's tree spans), or its working
 * or root directory is there. The threads (one a core, at most four) take
 * the processes a few at a time from one list and describe what they find.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "native.h"

#ifndef AT_STATX_DONT_SYNC
#define AT_STATX_DONT_SYNC 0x4000
#endif
#define KCMP_FILES 2
#define PF_KTHREAD 0x00200000u

/* ---------------------------------------------------------------------
 * A set of (device, inode) pairs, open addressing
 * ------------------------------------------------------------------- */

typedef struct idset {
  uint64_t *dev, *ino; /* ino 0 marks a free slot (no file has inode 0) */
  size_t mask, count;
} idset;

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9E3779B97F4A7C15ull ^ b;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 29;
  return h;
}

static int idset_init(idset *s, size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  s->dev = (uint64_t *)calloc(cap, sizeof *s->dev);
  s->ino = (uint64_t *)calloc(cap, sizeof *s->ino);
  s->mask = cap - 1;
  s->count = 0;
  return s->dev && s->ino ? 0 : -1;
}

static void idset_free(idset *s) {
  free(s->dev);
  free(s->ino);
}

/* Adds (dev, ino); the set was sized for every insertion up front. */
static void idset_add(idset *s, uint64_t dev, uint64_t ino) {
  size_t i = (size_t)mix(dev, ino) & s->mask;
  if (ino == 0) return;
  while (s->ino[i]) {
    if (s->ino[i] == ino && s->dev[i] == dev) return;
    i = (i + 1) & s->mask;
  }
  s->dev[i] = dev;
  s->ino[i] = ino;
  s->count++;
}

static int idset_has(const idset *s, uint64_t dev, uint64_t ino) {
  size_t i = (size_t)mix(dev, ino) & s->mask;
  while (s->ino[i]) {
    if (s->ino[i] == ino && s->dev[i] == dev) return 1;
    i = (i + 1) & s->mask;
  }
  return 0;
}

/* ---------------------------------------------------------------------
 * What the session registered
 * ------------------------------------------------------------------- */

/* A registered directory: its canonical path, without a trailing slash
 * (the root is "/"). */
typedef struct dirpath {
  char *path;
  size_t len;
} dirpath;

#define MAX_DIR_DEVS 32

typedef struct targets {
  idset files;  /* (dev, ino) of every registered file, then and now */
  idset inodes; /* the same inodes with device 0: maps' devices may differ */
  rm_unique_process *procs;
  size_t nprocs, cprocs;
  char **svcs;
  size_t nsvcs, csvcs;
  dirpath *dirs; /* registered directories */
  size_t ndirs, cdirs;
  /* the devices files beneath the directories may live on: the
   * directories' own and those of the mounts beneath them (any device when
   * there are more than MAX_DIR_DEVS) */
  uint64_t devs[MAX_DIR_DEVS];
  size_t ndevs;
  int anydev;
} targets;

static void add_file(targets *t, uint64_t dev, uint64_t ino) {
  idset_add(&t->files, dev, ino);
  idset_add(&t->inodes, 0, ino);
}

static void add_dev(targets *t, uint64_t dev) {
  size_t i;
  for (i = 0; i < t->ndevs; i++)
    if (t->devs[i] == dev) return;
  if (t->ndevs < MAX_DIR_DEVS) t->devs[t->ndevs++] = dev;
  else t->anydev = 1;
}

/* A directory, by its canonical path now: what lies beneath it is matched
 * by path (descriptors, maps, working and root directories, executables).
 * A directory that no longer exists has nothing beneath it. */
static void add_dir(targets *t, const char *path) {
  struct stat st;
  char *real;
  size_t n;
  if (t->ndirs == t->cdirs) return;
  real = realpath(path, NULL);
  if (!real) return;
  if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    free(real);
    return;
  }
  n = strlen(real);
  while (n > 1 && real[n - 1] == '/') real[--n] = '\0';
  t->dirs[t->ndirs].path = real;
  t->dirs[t->ndirs].len = n;
  t->ndirs++;
  add_dev(t, (uint64_t)st.st_dev);
}

/* 1 when path (n bytes, as the kernel shows it) is a registered directory
 * or lies beneath one. */
static int beneath(const targets *t, const char *path, size_t n) {
  size_t i;
  for (i = 0; i < t->ndirs; i++) {
    const dirpath *d = &t->dirs[i];
    if (n < d->len || memcmp(path, d->path, d->len) != 0) continue;
    if (n == d->len || path[d->len] == '/' || d->len == 1) return 1;
  }
  return 0;
}

/* Decodes the octal escapes (\040) of a mountinfo field in place. */
static void unescape(char *s) {
  char *r = s, *w = s;
  while (*r) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
        r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* The devices of the mounts beneath the registered directories, from
 * /proc/self/mountinfo ("id parent major:minor root mountpoint ..."). */
static void add_mount_devs(targets *t) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char line[8192];
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    unsigned maj, min;
    char *mp, *sp;
    if (sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2) continue;
    mp = line;
    /* the fifth field */
    {
      int k;
      for (k = 0; k < 4 && mp; k++) {
        mp = strchr(mp, ' ');
        if (mp) mp++;
      }
    }
    if (!mp) continue;
    sp = strchr(mp, ' ');
    if (sp) *sp = '\0';
    unescape(mp);
    if (beneath(t, mp, strlen(mp))) add_dev(t, (uint64_t)makedev(maj, min));
  }
  fclose(f);
}

/* 1 when a file on device dev may lie beneath a registered directory. */
static int dir_dev(const targets *t, uint64_t dev) {
  size_t i;
  if (t->anydev) return 1;
  for (i = 0; i < t->ndevs; i++)
    if (t->devs[i] == dev) return 1;
  return 0;
}

static void collect_cb(void *ctx, int kind, const rm_native_entry *e) {
  targets *t = (targets *)ctx;
  if (kind == 'F') {
    struct stat st;
    /* A file is identified once, when it is registered: its users are
     * found by that identity, even after the path was replaced. Only a path
     * that did not exist then is looked up again now. */
    if (e->kind == 'd') add_dir(t, e->text);
    if (e->kind == 'f') add_file(t, e->dev, e->ino);
    if (e->kind == 'n' && stat(e->text, &st) == 0) {
      if (S_ISDIR(st.st_mode)) add_dir(t, e->text);
      else add_file(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
    }
  } else if (kind == 'P') {
    if (t->nprocs < t->cprocs) t->procs[t->nprocs++] = e->proc;
  } else if (kind == 'S') {
    if (t->nsvcs < t->csvcs) {
      size_t n = strlen(e->text);
      char *copy = (char *)malloc(n + 1);
      if (copy) {
        memcpy(copy, e->text, n + 1);
        t->svcs[t->nsvcs++] = copy;
      }
    }
  }
}

static void targets_free(targets *t) {
  size_t i;
  idset_free(&t->files);
  idset_free(&t->inodes);
  for (i = 0; i < t->nsvcs; i++) free(t->svcs[i]);
  for (i = 0; i < t->ndirs; i++) free(t->dirs[i].path);
  free(t->svcs);
  free(t->procs);
  free(t->dirs);
}

/* Room for n entries of every kind. */
static int targets_init(targets *t, size_t n) {
  memset(t, 0, sizeof *t);
  if (idset_init(&t->files, n) != 0 || idset_init(&t->inodes, n) != 0)
    return -1;
  t->cprocs = t->csvcs = t->cdirs = n;
  t->procs = (rm_unique_process *)calloc(n + 1, sizeof *t->procs);
  t->svcs = (char **)calloc(n + 1, sizeof *t->svcs);
  t->dirs = (dirpath *)calloc(n + 1, sizeof *t->dirs);
  return t->procs && t->svcs && t->dirs ? 0 : -1;
}

static unsigned targets_load(rm_session *s, targets *t) {
  char *buf;
  size_t len, n = 0;
  const char *p;
  unsigned rc;
  if (s->private_) {
    /* a private session's registrations never left this process */
    if (targets_init(t, rm_native_regs_count(&s->regs)) != 0) goto oom;
    rm_native_regs_each(&s->regs, collect_cb, t);
  } else {
    memset(t, 0, sizeof *t);
    rc = rm_native_records_load(s, &buf, &len);
    if (rc != RM_OK) return rc;
    /* every entry ends with a NUL: their count bounds every kind's */
    for (p = buf; p && (p = (const char *)memchr(p, '\0',
                                                 (size_t)(buf + len - p)));
         p++)
      n++;
    if (targets_init(t, n) != 0) {
      free(buf);
      goto oom;
    }
    (void)rm_native_records_each(buf, len, collect_cb, t);
    free(buf);
  }
  if (t->ndirs) add_mount_devs(t);
  return RM_OK;
oom:
  targets_free(t);
  return RM_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------
 * /proc
 * ------------------------------------------------------------------- */

/* Reads a whole small file relative to dirfd into buf (NUL-terminated).
 * Returns its length or -1 with errno set. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  ssize_t n, total = 0;
  if (fd < 0) return -1;
  while ((size_t)total < size - 1) {
    n = read(fd, buf + total, size - 1 - (size_t)total);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    if (n == 0) break;
    total += n;
  }
  close(fd);
  buf[total] = '\0';
  return total;
}

int rm_native_parse_stat(const char *buf, rm_native_stat *out) {
  /* pid (comm) state ppid pgrp session tty_nr tpgid flags ... field 20
   * num_threads, field 22 starttime; comm may hold spaces and ')' */
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
  out->session = out->tty = out->threads = 0;
  out->flags = 0;
  out->start_time = 0;
  for (field = 3; field <= 22; field++) {
    char *end;
    unsigned long long v;
    while (*p == ' ') p++;
    if (!*p) return -1;
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
      if (end == p) return -1;
      v = (unsigned long long)sv;
    }
    p = end;
    switch (field) {
    case 6: out->session = (long long)v; break;
    case 7: out->tty = (long long)v; break;
    case 9: out->flags = (unsigned)v; break;
    case 20: out->threads = (long long)v; break;
    case 22: out->start_time = (uint64_t)v; break;
    default: break;
    }
  }
  return 0;
}

unsigned rm_native_read_stat(int procfd, uint32_t pid, rm_native_stat *st) {
  char name[32], buf[1024];
  snprintf(name, sizeof name, "%lu/stat", (unsigned long)pid);
  if (read_at(procfd, name, buf, sizeof buf) < 0 ||
      rm_native_parse_stat(buf, st) != 0)
    return RM_E_INVALID_PARAMETER;
  return RM_OK;
}

unsigned rm_backend_process(uint32_t pid, rm_unique_process *out) {
  rm_native_stat st;
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  unsigned rc;
  if (procfd < 0) return RM_E_ACCESS_DENIED;
  rc = rm_native_read_stat(procfd, pid, &st);
  close(procfd);
  if (rc != RM_OK) return rc;
  out->pid = pid;
  out->start_time = st.start_time;
  return RM_OK;
}

/* ---------------------------------------------------------------------
 * The scan
 * ------------------------------------------------------------------- */

/* How many processes a thread takes from the list at a time. */
#define CHUNK 4

typedef struct worker {
  const targets *t;
  int procfd;
  const uint32_t *pids;
  size_t npids;
  size_t *next; /* the next process to take, shared by the threads */
  rm_app *apps; /* the hits, described */
  size_t napps, capps;
  uint32_t reasons;
  size_t uninspected;
  int systemd;
  uint32_t self;
  char *buf; /* maps, read piece by piece */
  size_t bufsize;
  rm_native_reg_cache *regs; /* the restart registrations' stores seen */
  unsigned rc;
} worker;

/* statx of name relative to dirfd, without waiting on a dead network file
 * system. 0 on success. */
static int stat_id(int dirfd, const char *name, uint64_t *dev, uint64_t *ino) {
  struct statx sx;
  if (statx(dirfd, name, AT_STATX_DONT_SYNC, STATX_INO, &sx) != 0) return -1;
  *dev = (uint64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor);
  *ino = (uint64_t)sx.stx_ino;
  return 0;
}

/* 1 when the magic link name (relative to dirfd) points beneath a
 * registered directory, 0 when not, -1 (errno) when it cannot be read. */
static int link_beneath(const targets *t, int dirfd, const char *name) {
  char path[PATH_MAX];
  ssize_t n = readlinkat(dirfd, name, path, sizeof path);
  if (n < 0) return -1;
  if (n == 0 || (size_t)n >= sizeof path || path[0] != '/') return 0;
  return beneath(t, path, (size_t)n);
}

/* 1 when the descriptor name of the fd directory dirfd is a registered
 * file or lies beneath a registered directory. */
static int fd_matches(const targets *t, int dirfd, const char *name) {
  uint64_t dev, ino;
  if (t->files.count) {
    if (stat_id(dirfd, name, &dev, &ino) != 0) return 0; /* closed since */
    if (idset_has(&t->files, dev, ino)) return 1;
    if (!t->ndirs || !dir_dev(t, dev)) return 0;
  } else if (!t->ndirs) {
    return 0;
  }
  return link_beneath(t, dirfd, name) == 1;
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* 1 when a descriptor in the fd directory "dir" (relative to procfd) is a
 * registered file or beneath a registered directory, 0 when none is, -1
 * when it cannot be read (errno). /proc builds an entry for every
 * descriptor it lists and the scan stops at the first match: the first
 * batch is small (the standard streams and the first few descriptors),
 * the next ones larger. */
static int scan_fds(const targets *t, int procfd, const char *dir) {
  int fd = openat(procfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  union {
    char bytes[4096];
    uint64_t align;
  } buf;
  size_t batch = 256;
  int found = 0;
  if (fd < 0) return -1;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.bytes, batch);
    long off;
    if (n <= 0) {
      if (n < 0 && !found) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
      }
      break;
    }
    for (off = 0; off < n;) {
      struct linux_dirent64 *e = (struct linux_dirent64 *)(buf.bytes + off);
      off += e->d_reclen;
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      if (fd_matches(t, fd, e->d_name)) {
        found = 1;
        break;
      }
    }
    if (found) break;
    batch = sizeof buf.bytes;
  }
  close(fd);
  return found;
}

int rm_native_parse_maps_line(const char *line, const char **range_end,
                           uint64_t *dev, uint64_t *ino) {
  /* start-end perms offset major:minor inode [path] */
  const char *p = line;
  char *end;
  unsigned long maj, min;
  unsigned long long in;
  int i;
  /* line points into the whole maps text: never read past its newline */
  while (*p && *p != ' ' && *p != '\n') p++;
  *range_end = p;
  for (i = 0; i < 2; i++) { /* perms, offset */
    while (*p == ' ') p++;
    while (*p && *p != ' ' && *p != '\n') p++;
  }
  while (*p == ' ') p++;
  if (!isxdigit((unsigned char)*p)) return -1;
  maj = strtoul(p, &end, 16);
  if (*end != ':') return -1;
  p = end + 1;
  if (!isxdigit((unsigned char)*p)) return -1;
  min = strtoul(p, &end, 16);
  if (end == p) return -1;
  p = end;
  while (*p == ' ') p++;
  if (!isdigit((unsigned char)*p)) return -1;
  in = strtoull(p, &end, 10);
  if (end == p) return -1;
  *dev = (uint64_t)makedev(maj, min);
  *ino = (uint64_t)in;
  return 0;
}

/* One line of pid's maps, ending at its newline or NUL: 1 when it maps a
 * registered file or one beneath a registered directory. */
static int map_matches(const targets *t, int procfd, uint32_t pid,
                       const char *line) {
  const char *range_end;
  uint64_t dev, ino;
  if (rm_native_parse_maps_line(line, &range_end, &dev, &ino) != 0 || ino == 0)
    return 0;
  if (t->ndirs) {
    /* the path: after the inode and its padding */
    const char *p = range_end, *e;
    int k;
    for (k = 0; k < 4; k++) { /* perms, offset, device, inode */
      while (*p == ' ') p++;
      while (*p && *p != ' ' && *p != '\n') p++;
    }
    while (*p == ' ') p++;
    for (e = p; *e && *e != '\n'; e++) {}
    if (*p == '/' && beneath(t, p, (size_t)(e - p))) return 1;
  }
  if (!t->files.count || !idset_has(&t->inodes, 0, ino)) return 0;
  if (idset_has(&t->files, dev, ino)) return 1;
  /* The inode is known but maps' device differs (overlayfs, btrfs
   * subvolumes report another one): ask the mapping itself. */
  {
    char mf[128];
    size_t n = (size_t)(range_end - line);
    uint64_t d2, i2;
    int len = snprintf(mf, sizeof mf, "%lu/map_files/", (unsigned long)pid);
    if (len > 0 && (size_t)len + n < sizeof mf) {
      memcpy(mf + len, line, n);
      mf[(size_t)len + n] = '\0';
      if (stat_id(procfd, mf, &d2, &i2) == 0 && idset_has(&t->files, d2, i2))
        return 1;
    }
  }
  return 0;
}

/* 1 when a mapping of pid is a registered file (or beneath a registered
 * directory), 0 if none, -1 unreadable (errno). The maps are parsed as
 * they are read, a buffer at a time, and reading stops at the first
 * match: a process that maps thousands of files costs no more memory than
 * one that maps a few. */
static int scan_maps(const targets *t, int procfd, uint32_t pid, char **bufp,
                     size_t *sizep) {
  char name[64];
  size_t have = 0;
  int fd, found = 0;
  snprintf(name, sizeof name, "%lu/maps", (unsigned long)pid);
  fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (!*bufp) {
    *bufp = (char *)malloc(16384);
    if (!*bufp) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    *sizep = 16384;
  }
  for (;;) {
    char *buf = *bufp, *line, *nl;
    ssize_t n;
    if (*sizep - have < 2) {
      /* a line longer than the buffer */
      char *nb = (char *)realloc(*bufp, *sizep * 2);
      if (!nb) {
        close(fd);
        errno = ENOMEM;
        return -1;
      }
      *bufp = buf = nb;
      *sizep *= 2;
    }
    n = read(fd, buf + have, *sizep - 1 - have);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      close(fd);
      errno = e;
      return -1;
    }
    if (n == 0) {
      buf[have] = '\0';
      if (have) found = map_matches(t, procfd, pid, buf);
      break;
    }
    have += (size_t)n;
    buf[have] = '\0';
    for (line = buf; (nl = (char *)memchr(line, '\n',
                                          (size_t)(buf + have - line)));
         line = nl + 1) {
      if (map_matches(t, procfd, pid, line)) {
        found = 1;
        break;
      }
    }
    if (found) break;
    have = (size_t)(buf + have - line);
    memmove(buf, line, have);
  }
  close(fd);
  return found;
}

/* Threads created without a shared file table have descriptors of their
 * own: 1 when one of them holds a registered file, -1 (errno set) when the
 * descriptors or memory ran out. */
static int scan_threads(const targets *t, int procfd, uint32_t pid) {
  char dir[64];
  int fd, found = 0, err = 0;
  DIR *d;
  struct dirent *e;
  snprintf(dir, sizeof dir, "%lu/task", (unsigned long)pid);
  fd = openat(procfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return rm_native_errno_code(errno, 0) ? -1 : 0;
  d = fdopendir(fd);
  if (!d) {
    err = errno;
    close(fd);
    errno = err;
    return rm_native_errno_code(err, 0) ? -1 : 0;
  }
  while (!found && (e = readdir(d)) != NULL) {
    char *end;
    unsigned long tid = strtoul(e->d_name, &end, 10);
    long same;
    char fddir[96];
    if (*end || end == e->d_name || tid == pid) continue;
    same = syscall(SYS_kcmp, (pid_t)pid, (pid_t)tid, KCMP_FILES, 0, 0);
    if (same == 0) continue; /* shares the process's table */
    snprintf(fddir, sizeof fddir, "%lu/task/%lu/fd", (unsigned long)pid, tid);
    switch (scan_fds(t, procfd, fddir)) {
    case 1: found = 1; break;
    case -1:
      if (rm_native_errno_code(errno, 0)) {
        err = errno;
        found = -1;
      }
      break;
    default: break;
    }
  }
  closedir(d);
  if (found < 0) errno = err;
  return found;
}

/* How many threads pid has, from the link count of its task directory
 * (two more than its entries); 0 when it is gone. */
static long thread_count(int procfd, uint32_t pid) {
  char dir[64];
  struct stat st;
  snprintf(dir, sizeof dir, "%lu/task", (unsigned long)pid);
  if (fstatat(procfd, dir, &st, 0) != 0 || st.st_nlink < 3) return 0;
  return (long)st.st_nlink - 2;
}

/* 1 when pid's executable is a registered file or beneath a registered
 * directory, 0 when not, -1 (errno) when it cannot be looked at: ENOENT
 * for a kernel thread or a process that exited. */
static int exe_matches(const targets *t, int procfd, uint32_t pid) {
  char name[64];
  uint64_t dev, ino;
  snprintf(name, sizeof name, "%lu/exe", (unsigned long)pid);
  if (t->files.count) {
    if (stat_id(procfd, name, &dev, &ino) != 0) return -1;
    if (idset_has(&t->files, dev, ino)) return 1;
    if (!t->ndirs || !dir_dev(t, dev)) return 0;
  }
  return t->ndirs ? link_beneath(t, procfd, name) : 0;
}

/* 1 when pid's working or root directory is beneath a registered
 * directory. */
static int dirs_match(const targets *t, int procfd, uint32_t pid) {
  char name[64];
  snprintf(name, sizeof name, "%lu/cwd", (unsigned long)pid);
  if (link_beneath(t, procfd, name) == 1) return 1;
  snprintf(name, sizeof name, "%lu/root", (unsigned long)pid);
  return link_beneath(t, procfd, name) == 1;
}

static int registered_process(const targets *t, uint32_t pid,
                              uint64_t start) {
  size_t i;
  for (i = 0; i < t->nprocs; i++)
    if (t->procs[i].pid == pid && t->procs[i].start_time == start) return 1;
  return 0;
}

/* The systemd unit of pid (the last component of its cgroup path when it
 * ends in ".service"), into buf; 0 when there is one. */
int rm_native_service_unit(int procfd, uint32_t pid, char *buf, size_t size) {
  char name[64], cg[4096], *line, *last;
  snprintf(name, sizeof name, "%lu/cgroup", (unsigned long)pid);
  if (read_at(procfd, name, cg, sizeof cg) < 0) return -1;
  for (line = cg; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    char *nl = strchr(line, '\n');
    size_t len;
    if (nl) *nl = '\0';
    last = strrchr(line, '/');
    if (last && (len = strlen(last + 1)) > 8 &&
        strcmp(last + 1 + len - 8, ".service") == 0 && len < size) {
      memcpy(buf, last + 1, len + 1);
      return 0;
    }
    if (!nl) break;
    *nl = '\n';
  }
  return -1;
}

static int service_registered(const targets *t, const char *unit) {
  size_t i, ulen = strlen(unit);
  for (i = 0; i < t->nsvcs; i++) {
    const char *s = t->svcs[i];
    size_t n = strlen(s);
    if (strcmp(s, unit) == 0) return 1;
    /* "cron" names "cron.service" */
    if (n + 8 == ulen && strncmp(unit, s, n) == 0) return 1;
  }
  return 0;
}

/* A call on pid failed with err: when the descriptors or memory ran out,
 * the scan fails (4 or 14) rather than pass the process off as clean.
 * Returns non-zero then. */
static int out_of_resources(worker *w, int err) {
  unsigned code = rm_native_errno_code(err, RM_OK);
  if (code != RM_OK) w->rc = code;
  return code != RM_OK;
}

/* Copies src into buf, cut to fit. */
static void copy_str(char *buf, size_t size, const char *src) {
  size_t n = strlen(src);
  if (n >= size) n = size - 1;
  memcpy(buf, src, n);
  buf[n] = '\0';
}

/* The executable's base name, else the command name from stat. */
static void app_name(int procfd, uint32_t pid, const rm_native_stat *st,
                     char *buf, size_t size) {
  char link[64], path[4096];
  ssize_t n;
  snprintf(link, sizeof link, "%lu/exe", (unsigned long)pid);
  n = readlinkat(procfd, link, path, sizeof path - 1);
  if (n > 0) {
    const char *base;
    path[n] = '\0';
    if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0) path[n - 10] = 0;
    base = strrchr(path, '/');
    copy_str(buf, size, base ? base + 1 : path);
  } else {
    copy_str(buf, size, st->comm);
  }
}

static int32_t login_session(int procfd, uint32_t pid) {
  char name[64], buf[32];
  unsigned long v;
  snprintf(name, sizeof name, "%lu/sessionid", (unsigned long)pid);
  if (read_at(procfd, name, buf, sizeof buf) <= 0) return -1;
  v = strtoul(buf, NULL, 10);
  return v >= 0x7FFFFFFFul ? -1 : (int32_t)v;
}

static int systemd_running(void) {
  struct stat st;
  return stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Describes a hit into the worker's apps (on the worker's thread). */
static void describe(worker *w, uint32_t pid, const rm_native_stat *st) {
  rm_app *a;
  if (w->napps == w->capps) {
    size_t n = w->capps ? w->capps * 2 : 32;
    rm_app *na = (rm_app *)realloc(w->apps, n * sizeof *na);
    if (!na) {
      w->rc = RM_E_OUTOFMEMORY;
      return;
    }
    w->apps = na;
    w->capps = n;
  }
  a = &w->apps[w->napps++];
  memset(a, 0, sizeof *a);
  a->process.pid = pid;
  a->process.start_time = st->start_time;
  app_name(w->procfd, pid, st, a->name, sizeof a->name);
  a->status = RM_STATUS_RUNNING;
  if (pid == w->self) {
    a->type = RM_APP_CRITICAL;
    w->reasons |= RM_REBOOT_DETECTED_SELF;
  } else if (pid == 1) {
    a->type = RM_APP_CRITICAL;
    w->reasons |= RM_REBOOT_CRITICAL_PROCESS;
  } else if (kill((pid_t)pid, 0) != 0 && errno == EPERM) {
    a->type = RM_APP_CRITICAL;
    w->reasons |= RM_REBOOT_PERMISSION_DENIED;
  } else if (w->systemd &&
             rm_native_service_unit(w->procfd, pid, a->service,
                                    sizeof a->service) == 0) {
    a->type = RM_APP_SERVICE;
  } else if (st->tty != 0) {
    a->type = RM_APP_CONSOLE;
  } else {
    a->type = RM_APP_UNKNOWN;
  }
  if (a->type == RM_APP_CRITICAL) {
    a->session_id = -1;
    a->restartable = 0;
  } else {
    a->session_id = login_session(w->procfd, pid);
    if (!w->regs) w->regs = rm_native_reg_cache_new();
    a->restartable = rm_native_restartable_cached(w->regs, pid, st->start_time);
  }
}

static void scan_one(worker *w, uint32_t pid) {
  const targets *t = w->t;
  rm_native_stat st;
  char dir[64];
  int r, denied = 0, found = 0, have_stat = 0;
  if (t->nprocs || t->nsvcs) {
    errno = 0;
    if (rm_native_read_stat(w->procfd, pid, &st) != RM_OK) {
      (void)out_of_resources(w, errno); /* else it is gone */
      return;
    }
    if (st.flags & PF_KTHREAD) return;
    have_stat = 1;
    if (t->nprocs && registered_process(t, pid, st.start_time)) found = 1;
  }
  if (!found && t->nsvcs) {
    char unit[256];
    errno = 0;
    if (rm_native_service_unit(w->procfd, pid, unit, sizeof unit) == 0) {
      if (service_registered(t, unit)) found = 1;
    } else if (out_of_resources(w, errno)) {
      return;
    }
  }
  if (!found && (t->files.count || t->ndirs)) {
    /* the executable first: one call, and none is there for a kernel
     * thread or a process that exited (whose leader alone may have) */
    r = exe_matches(t, w->procfd, pid);
    if (r == 1) {
      found = 1;
    } else if (r < 0 && errno == ENOENT) {
      if (thread_count(w->procfd, pid) < 2) return;
    } else if (r < 0 && errno == EACCES) {
      denied = 1;
    } else if (r < 0 && out_of_resources(w, errno)) {
      return;
    }
    if (!found) {
      snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
      r = scan_fds(t, w->procfd, dir);
      if (r == 1) found = 1;
      else if (r < 0 && errno == EACCES) denied = 1;
      else if (r < 0 && out_of_resources(w, errno)) return;
    }
    if (!found) {
      r = scan_maps(t, w->procfd, pid, &w->buf, &w->bufsize);
      if (r == 1) found = 1;
      else if (r < 0 && errno == EACCES) denied = 1;
      else if (r < 0 && out_of_resources(w, errno)) return;
    }
    if (!found && t->ndirs && dirs_match(t, w->procfd, pid)) found = 1;
    if (!found && !denied && thread_count(w->procfd, pid) > 1) {
      r = scan_threads(t, w->procfd, pid);
      if (r == 1) found = 1;
      else if (r < 0 && out_of_resources(w, errno)) return;
    }
  }
  if (found) {
    if (!have_stat) {
      errno = 0;
      if (rm_native_read_stat(w->procfd, pid, &st) != RM_OK) {
        (void)out_of_resources(w, errno); /* else it is gone */
        return;
      }
      if (st.flags & PF_KTHREAD) return;
    }
    describe(w, pid, &st);
  } else if (denied) {
    /* exited in the meantime: not a process we failed to inspect */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) w->uninspected++;
  }
}

int rm_native_process_uses(uint32_t pid, uint64_t dev, uint64_t ino) {
  targets t;
  char dir[64], *buf = NULL;
  size_t bufsize = 0;
  int found = 0, procfd;
  if (targets_init(&t, 1) != 0) {
    targets_free(&t);
    return 0;
  }
  add_file(&t, dev, ino);
  procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd >= 0) {
    snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
    found = scan_fds(&t, procfd, dir) == 1 ||
            scan_maps(&t, procfd, pid, &buf, &bufsize) == 1 ||
            scan_threads(&t, procfd, pid) == 1 ||
            exe_matches(&t, procfd, pid) == 1;
    close(procfd);
  }
  free(buf);
  targets_free(&t);
  return found;
}

static void *scan_range(void *arg) {
  worker *w = (worker *)arg;
  for (;;) {
    size_t i = __atomic_fetch_add(w->next, CHUNK, __ATOMIC_RELAXED), end;
    if (i >= w->npids || w->rc != RM_OK) break;
    end = i + CHUNK < w->npids ? i + CHUNK : w->npids;
    for (; i < end && w->rc == RM_OK; i++) scan_one(w, w->pids[i]);
  }
  return NULL;
}

/* Every process id in /proc, into a malloc'd array. */
static unsigned list_pids(int procfd, uint32_t **out, size_t *n) {
  int fd = dup(procfd), err = errno;
  DIR *d;
  struct dirent *e;
  size_t cap = 1024, count = 0;
  uint32_t *pids = (uint32_t *)malloc(cap * sizeof *pids);
  if (!pids) {
    if (fd >= 0) close(fd);
    return RM_E_OUTOFMEMORY;
  }
  if (fd < 0 || !(d = fdopendir(fd))) {
    if (fd >= 0) {
      err = errno;
      close(fd);
    }
    free(pids);
    return rm_native_errno_code(err, RM_E_ACCESS_DENIED);
  }
  rewinddir(d);
  while ((e = readdir(d)) != NULL) {
    char *end;
    unsigned long v = strtoul(e->d_name, &end, 10);
    if (*end || end == e->d_name) continue;
    if (count == cap) {
      uint32_t *np = (uint32_t *)realloc(pids, cap * 2 * sizeof *pids);
      if (!np) {
        closedir(d);
        free(pids);
        return RM_E_OUTOFMEMORY;
      }
      pids = np;
      cap *= 2;
    }
    pids[count++] = (uint32_t)v;
  }
  closedir(d);
  *out = pids;
  *n = count;
  return RM_OK;
}

static int cmp_app(const void *a, const void *b) {
  uint32_t x = (*(const rm_app *const *)a)->process.pid;
  uint32_t y = (*(const rm_app *const *)b)->process.pid;
  return x < y ? -1 : x > y;
}

#define MAX_WORKERS 4

unsigned rm_native_scan(rm_session *s, rm_app **apps_out, size_t *napps,
                     uint32_t *reasons_out, size_t *uninspected) {
  targets t;
  uint32_t *pids = NULL;
  size_t npids = 0, i, nw = 1, total = 0, next = 0;
  worker w[MAX_WORKERS];
  pthread_t th[MAX_WORKERS];
  int started[MAX_WORKERS];
  rm_app *apps = NULL;
  int procfd, systemd;
  unsigned rc = targets_load(s, &t);
  *apps_out = NULL;
  *napps = 0;
  *reasons_out = 0;
  *uninspected = 0;
  if (rc != RM_OK) return rc;
  procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) {
    targets_free(&t);
    return rm_native_errno_code(errno, RM_E_ACCESS_DENIED);
  }
  memset(w, 0, sizeof w); /* freed on every way out */
  if (t.files.count == 0 && t.nprocs == 0 && t.nsvcs == 0 && t.ndirs == 0) {
    npids = 0; /* nothing registered: nothing to look for */
  } else if ((rc = list_pids(procfd, &pids, &npids)) != RM_OK) {
    goto done;
  }
  if (npids >= 64) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nw = cpus > MAX_WORKERS ? MAX_WORKERS : cpus > 1 ? (size_t)cpus : 1;
  }
  systemd = npids ? systemd_running() : 0;
  for (i = 0; i < nw; i++) {
    w[i].t = &t;
    w[i].procfd = procfd;
    w[i].pids = pids;
    w[i].npids = npids;
    w[i].next = &next;
    w[i].systemd = systemd;
    w[i].self = (uint32_t)getpid();
  }
  /* the threads take a few processes at a time from one list: none waits
   * while another has work left */
  for (i = 1; i < nw; i++)
    started[i] = pthread_create(&th[i], NULL, scan_range, &w[i]) == 0;
  scan_range(&w[0]); /* and whatever a thread that could not start left */
  for (i = 1; i < nw; i++)
    if (started[i]) pthread_join(th[i], NULL);
  for (i = 0; i < nw; i++) {
    if (w[i].rc != RM_OK) rc = w[i].rc;
    total += w[i].napps;
    *uninspected += w[i].uninspected;
    *reasons_out |= w[i].reasons;
  }
  if (rc != RM_OK) goto done;
  if (total) {
    /* by pid: the apps are large, so their addresses are sorted and the
     * apps copied once */
    const rm_app **order = (const rm_app **)malloc(total * sizeof *order);
    size_t at = 0, k;
    apps = (rm_app *)malloc(total * sizeof *apps);
    if (!apps || !order) {
      free(order);
      free(apps);
      apps = NULL;
      rc = RM_E_OUTOFMEMORY;
      goto done;
    }
    for (i = 0; i < nw; i++)
      for (k = 0; k < w[i].napps; k++) order[at++] = &w[i].apps[k];
    qsort(order, total, sizeof *order, cmp_app);
    for (k = 0; k < total; k++) apps[k] = *order[k];
    free(order);
  }
  *apps_out = apps;
  *napps = total;
done:
  if (rc != RM_OK) *reasons_out = 0;
  for (i = 0; i < MAX_WORKERS; i++) {
    free(w[i].apps);
    free(w[i].buf);
    rm_native_reg_cache_free(w[i].regs);
  }
  free(pids);
  close(procfd);
  targets_free(&t);
  return rc;
}

/* A list that did not fit the caller's capacity, kept for the call that
 * follows with more room (native.h). */
void rm_native_pending_free(rm_session *s) {
  free(s->pending.apps);
  memset(&s->pending, 0, sizeof s->pending);
}

unsigned rm_backend_get_list(rm_session *s, unsigned *needed, unsigned *count,
                      rm_app *apps, uint32_t *reasons) {
  rm_app *found;
  size_t n, un;
  unsigned rc;
  uint32_t r;
  unsigned cap = *count;
  *needed = 0;
  *count = 0;
  *reasons = 0;
  rc = rm_native_session_check(s);
  if (rc != RM_OK) {
    rm_native_pending_free(s);
    return rc;
  }
  if (s->pending.valid && s->pending.n <= cap && (apps || !s->pending.n)) {
    /* the immediately preceding call scanned, found more than its
     * capacity and nothing happened to the session since: its answer is
     * this one's, without a second scan */
    found = s->pending.apps;
    n = s->pending.n;
    r = s->pending.reasons;
    un = s->pending.uninspected;
    memset(&s->pending, 0, sizeof s->pending);
  } else {
    rm_native_pending_free(s);
    rc = rm_native_scan(s, &found, &n, &r, &un);
    if (rc != RM_OK) return rc;
    if (s->control) rm_native_control_mask(s->control, found, n);
  }
  s->uninspected = un;
  *needed = (unsigned)n;
  if (n > cap || (n && !apps)) {
    s->pending.apps = found;
    s->pending.n = n;
    s->pending.reasons = r;
    s->pending.uninspected = un;
    s->pending.valid = 1;
    return RM_E_MORE_DATA;
  }
  if (n) memcpy(apps, found, n * sizeof *apps);
  free(found);
  *count = (unsigned)n;
  *reasons = r;
  return RM_OK;
}
