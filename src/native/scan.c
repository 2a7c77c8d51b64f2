/*
 * The scan (scan.h).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "scan.h"
#include "records.h"
#include "services.h"
#include "util.h"

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

typedef struct targets {
  idset files;  /* (dev, ino) of every registered file, then and now */
  idset inodes; /* the same inodes with device 0: maps' devices may differ */
  rm_unique_process *procs;
  uint64_t *proc_inos; /* each process's pidfs inode, 0 when not known */
  size_t nprocs, cprocs;
  char **svcs;
  size_t nsvcs, csvcs;
  int has_dir;
} targets;

static void add_file(targets *t, uint64_t dev, uint64_t ino) {
  idset_add(&t->files, dev, ino);
  idset_add(&t->inodes, 0, ino);
}

static void collect_cb(void *ctx, int kind, const rm_native_entry *e) {
  targets *t = (targets *)ctx;
  if (kind == 'F') {
    struct stat st;
    /* A file is looked for under the identity it had when registered (its
     * users may hold it after the path was replaced) and under the one the
     * path has now (a process may have opened the new file since). */
    if (e->kind == 'd') t->has_dir = 1;
    if (e->kind == 'f') add_file(t, e->dev, e->ino);
    /* A path that did not exist when registered is not followed through
     * a symlink that appeared there since: whoever can write its directory
     * (another user) would choose what the installer stops. */
    if (e->kind != 'd' &&
        (e->kind == 'n' ? lstat(e->text, &st) : stat(e->text, &st)) == 0 &&
        !S_ISLNK(st.st_mode)) {
      if (S_ISDIR(st.st_mode)) {
        if (e->kind == 'n') t->has_dir = 1;
      } else {
        add_file(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
      }
    }
  } else if (kind == 'P') {
    if (t->nprocs < t->cprocs) {
      t->proc_inos[t->nprocs] = e->ino;
      t->procs[t->nprocs++] = e->proc;
    }
  } else if (kind == 'S') {
    char canon[RM_SVC_NAME_SIZE];
    /* by its canonical name, made once ("user:alice:foo" looks alice up);
     * a name that is none matches nothing */
    if (t->nsvcs < t->csvcs &&
        rm_native_service_name(e->text, canon, sizeof canon) == 0) {
      size_t n = strlen(canon);
      char *copy = (char *)malloc(n + 1);
      if (copy) {
        memcpy(copy, canon, n + 1);
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
  free(t->svcs);
  free(t->procs);
  free(t->proc_inos);
}

/* The targets named by the records in buf. */
static unsigned targets_load(const char *buf, size_t len, targets *t) {
  size_t n = 0;
  const char *p;
  memset(t, 0, sizeof *t);
  /* every entry ends with a NUL: their count bounds every kind's (and a
   * file may add two identities) */
  for (p = buf; p && (p = (const char *)memchr(p, '\0',
                                               (size_t)(buf + len - p)));
       p++)
    n++;
  if (idset_init(&t->files, 2 * n) != 0 ||
      idset_init(&t->inodes, 2 * n) != 0)
    goto oom;
  t->cprocs = t->csvcs = n;
  t->procs = (rm_unique_process *)calloc(n + 1, sizeof *t->procs);
  t->svcs = (char **)calloc(n + 1, sizeof *t->svcs);
  t->proc_inos = (uint64_t *)calloc(n + 1, sizeof *t->proc_inos);
  if (!t->procs || !t->svcs || !t->proc_inos) goto oom;
  (void)rm_native_records_each(buf, len, collect_cb, t);
  return RM_OK;
oom:
  targets_free(t);
  return RM_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------
 * The scan
 * ------------------------------------------------------------------- */

typedef struct worker {
  const targets *t;
  int procfd;
  const uint32_t *pids;
  size_t npids;
  rm_native_hit *hits;
  size_t nhits, chits;
  rm_pid_list uninspected; /* pids, in the order met */
  size_t cuninspected;
  rm_native_buf buf; /* what was last read from /proc */
  unsigned rc;
} worker;

static int push_hit(worker *w, uint32_t pid, const rm_native_stat *st) {
  if (w->nhits == w->chits) {
    size_t n = w->chits ? w->chits * 2 : 64;
    rm_native_hit *h =
        (rm_native_hit *)realloc(w->hits, n * sizeof *h);
    if (!h) return -1;
    w->hits = h;
    w->chits = n;
  }
  w->hits[w->nhits].pid = pid;
  w->hits[w->nhits].st = *st;
  w->nhits++;
  return 0;
}

/* statx of name relative to dirfd, without waiting on a dead network file
 * system. 0 on success. */
static int stat_id(int dirfd, const char *name, uint64_t *dev, uint64_t *ino) {
  struct statx sx;
  if (statx(dirfd, name, AT_STATX_DONT_SYNC, STATX_INO, &sx) != 0) return -1;
  *dev = (uint64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor);
  *ino = (uint64_t)sx.stx_ino;
  return 0;
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* 1 when a descriptor in the fd directory "dir" (relative to procfd) is a
 * registered file, 0 when none is, -1 when it cannot be read (errno). The
 * directory is read in small batches: /proc builds an entry for every
 * descriptor it lists, and the scan stops at the first match. */
static int scan_fds(const worker *w, const char *dir) {
  int fd = openat(w->procfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  union {
    char bytes[1024];
    uint64_t align;
  } buf;
  int found = 0;
  if (fd < 0) return -1;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.bytes, sizeof buf.bytes);
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
      uint64_t dev, ino;
      off += e->d_reclen;
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      if (stat_id(fd, e->d_name, &dev, &ino) != 0) continue; /* closed since */
      if (idset_has(&w->t->files, dev, ino)) {
        found = 1;
        break;
      }
    }
    if (found) break;
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

/* 1 when a mapping of pid is a registered file, 0 if none, -1 unreadable. */
static int scan_maps(worker *w, uint32_t pid) {
  char *line, *next;
  int err = rm_native_proc_read(w->procfd, pid, "maps", &w->buf);
  if (err) {
    errno = err;
    return -1;
  }
  for (line = w->buf.p; *line; line = next) {
    const char *range_end;
    uint64_t dev, ino;
    next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    if (rm_native_parse_maps_line(line, &range_end, &dev, &ino) != 0 || ino == 0)
      continue;
    if (!idset_has(&w->t->inodes, 0, ino)) continue;
    if (idset_has(&w->t->files, dev, ino)) return 1;
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
        if (stat_id(w->procfd, mf, &d2, &i2) == 0 &&
            idset_has(&w->t->files, d2, i2))
          return 1;
      }
    }
  }
  return 0;
}

/* Threads created without a shared file table have descriptors of their
 * own: 1 when one of them holds a registered file, -1 (errno set) when the
 * descriptors or memory ran out. */
static int scan_threads(const worker *w, uint32_t pid) {
  char dir[64];
  int fd, found = 0, err = 0;
  DIR *d;
  struct dirent *e;
  snprintf(dir, sizeof dir, "%lu/task", (unsigned long)pid);
  fd = openat(w->procfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
    switch (scan_fds(w, fddir)) {
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

static int registered_process(const targets *t, uint32_t pid,
                              uint64_t start) {
  size_t i;
  for (i = 0; i < t->nprocs; i++)
    if (t->procs[i].pid == pid && t->procs[i].start_time == start &&
        (!t->proc_inos[i] ||
         rm_native_pidfs_ino(pid, start) == t->proc_inos[i]))
      return 1;
  return 0;
}

static int service_registered(const targets *t, const char *unit) {
  size_t i;
  for (i = 0; i < t->nsvcs; i++)
    if (rm_native_service_matches(t->svcs[i], unit)) return 1;
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

/* Whether process pid uses a registered file: descriptors, maps, the
 * executable, then threads with descriptors of their own. 1 yes, 0 no
 * (*denied set when they could not be read), -1 when descriptors or memory
 * ran out (w->rc set). */
static int uses_registered_file(worker *w, uint32_t pid,
                                const rm_native_stat *st, int *denied) {
  char dir[64];
  uint64_t dev, ino;
  int r;
  snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
  r = scan_fds(w, dir);
  if (r == 1) return 1;
  if (r < 0 && errno == EACCES) *denied = 1;
  else if (r < 0 && out_of_resources(w, errno)) return -1;
  r = scan_maps(w, pid);
  if (r == 1) return 1;
  if (r < 0 && errno == EACCES) *denied = 1;
  else if (r < 0 && out_of_resources(w, errno)) return -1;
  snprintf(dir, sizeof dir, "%lu/exe", (unsigned long)pid);
  if (stat_id(w->procfd, dir, &dev, &ino) == 0 &&
      idset_has(&w->t->files, dev, ino))
    return 1;
  if (*denied || st->threads <= 1) return 0;
  r = scan_threads(w, pid);
  if (r == 1) return 1;
  if (r < 0 && out_of_resources(w, errno)) return -1;
  return 0;
}

/* Counts pid among the processes that could not be inspected, unless it
 * has exited in the meantime. */
static void push_uninspected(worker *w, uint32_t pid) {
  rm_pid_list *u = &w->uninspected;
  if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return;
  if (u->n == w->cuninspected) {
    size_t n = w->cuninspected ? w->cuninspected * 2 : 16;
    uint32_t *p = (uint32_t *)realloc(u->pids, n * sizeof *p);
    if (!p) {
      w->rc = RM_E_OUTOFMEMORY;
      return;
    }
    u->pids = p;
    w->cuninspected = n;
  }
  u->pids[u->n++] = pid;
}

/* Looks at one process: checks in the order of their cost (stat, the
 * registered processes and services, then its files), each failure sorted
 * into "gone", "not ours to read" and "out of resources". */
static void scan_one(worker *w, uint32_t pid) {
  rm_native_stat st;
  int r, denied = 0, found = 0;
  r = rm_native_proc_stat(w->procfd, pid, &w->buf, &st);
  if (r != 0) {
    (void)out_of_resources(w, r); /* else it is gone */
    return;
  }
  if (st.flags & PF_KTHREAD) return;
  if (w->t->nprocs && registered_process(w->t, pid, st.start_time)) found = 1;
  if (!found && w->t->nsvcs) {
    char unit[256];
    errno = 0;
    if (rm_native_service_unit(w->procfd, pid, unit, sizeof unit) == 0) {
      if (service_registered(w->t, unit)) found = 1;
    } else if (out_of_resources(w, errno)) {
      return;
    }
  }
  if (!found && w->t->files.count) {
    r = uses_registered_file(w, pid, &st, &denied);
    if (r < 0) return;
    found = r;
  }
  if (found) {
    if (push_hit(w, pid, &st) != 0) w->rc = RM_E_OUTOFMEMORY;
  } else if (denied) {
    push_uninspected(w, pid);
  }
}

/* A failed look into a process: 0 when the process is gone (it uses
 * nothing), else the errno to report. */
static int failure(int err) { return (err == ENOENT || err == ESRCH) ? 0 : err; }

int rm_native_process_uses(int procfd, uint32_t pid, uint64_t dev,
                           uint64_t ino) {
  targets t;
  worker w;
  char dir[64];
  uint64_t d, i;
  int found = 0, err = 0, r;
  memset(&t, 0, sizeof t);
  memset(&w, 0, sizeof w);
  if (idset_init(&t.files, 1) != 0 || idset_init(&t.inodes, 1) != 0) {
    targets_free(&t);
    errno = ENOMEM;
    return -1;
  }
  add_file(&t, dev, ino);
  w.t = &t;
  w.procfd = procfd;
  snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
  if ((r = scan_fds(&w, dir)) < 0) err = failure(errno);
  found = r == 1;
  if (!found && (r = scan_maps(&w, pid)) < 0 && !err) err = failure(errno);
  found = found || r == 1;
  if (!found && !err && (r = scan_threads(&w, pid)) < 0) err = failure(errno);
  found = found || r == 1;
  snprintf(dir, sizeof dir, "%lu/exe", (unsigned long)pid);
  if (!found && stat_id(procfd, dir, &d, &i) == 0 && d == dev && i == ino)
    found = 1;
  free(w.buf.p);
  targets_free(&t);
  if (found) return 1;
  errno = err;
  return err ? -1 : 0;
}

static void *scan_range(void *arg) {
  worker *w = (worker *)arg;
  size_t i;
  for (i = 0; i < w->npids && w->rc == RM_OK; i++) scan_one(w, w->pids[i]);
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

static int cmp_pid(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_hit(const void *a, const void *b) {
  uint32_t x = ((const rm_native_hit *)a)->pid,
           y = ((const rm_native_hit *)b)->pid;
  return x < y ? -1 : x > y;
}

/* a and b (na and nb items of size bytes; either may be NULL when empty)
 * in one malloc'd array, sorted by cmp: 0, or -1 when memory ran out. */
static int merge_sorted(const void *a, size_t na, const void *b, size_t nb,
                        size_t size, int (*cmp)(const void *, const void *),
                        void **out) {
  char *all = (char *)malloc((na + nb) * size);
  if (!all) return -1;
  if (na) memcpy(all, a, na * size);
  if (nb) memcpy(all + na * size, b, nb * size);
  qsort(all, na + nb, size, cmp);
  *out = all;
  return 0;
}

/* Runs the workers over pids (two threads for a long list) and gathers
 * their hits and the processes they could not inspect, sorted by pid. */
static unsigned run_workers(const targets *t, int procfd, const uint32_t *pids,
                            size_t npids, rm_native_hit **hits,
                            size_t *nhits, rm_pid_list *uninspected) {
  worker w[2];
  size_t i, nw;
  unsigned rc = RM_OK;
  void *merged;
  memset(w, 0, sizeof w); /* the second worker stays empty when unused */
  nw = (npids >= 64 && sysconf(_SC_NPROCESSORS_ONLN) > 1) ? 2 : 1;
  for (i = 0; i < nw; i++) {
    size_t lo = npids * i / nw, hi = npids * (i + 1) / nw;
    w[i].t = t;
    w[i].procfd = procfd;
    w[i].pids = pids + lo;
    w[i].npids = hi - lo;
  }
  if (nw == 2) {
    pthread_t th;
    if (pthread_create(&th, NULL, scan_range, &w[1]) != 0) {
      scan_range(&w[1]); /* no thread to be had: do it here */
      scan_range(&w[0]);
    } else {
      scan_range(&w[0]);
      pthread_join(th, NULL);
    }
  } else {
    scan_range(&w[0]);
  }
  for (i = 0; i < nw; i++)
    if (w[i].rc != RM_OK) rc = w[i].rc;
  if (rc == RM_OK && w[0].uninspected.n + w[1].uninspected.n) {
    if (merge_sorted(w[0].uninspected.pids, w[0].uninspected.n,
                     w[1].uninspected.pids, w[1].uninspected.n,
                     sizeof(uint32_t), cmp_pid, &merged) != 0) {
      rc = RM_E_OUTOFMEMORY;
    } else {
      uninspected->pids = (uint32_t *)merged;
      uninspected->n = w[0].uninspected.n + w[1].uninspected.n;
    }
  }
  if (rc == RM_OK && w[0].nhits + w[1].nhits) {
    if (merge_sorted(w[0].hits, w[0].nhits, w[1].hits, w[1].nhits,
                     sizeof(rm_native_hit), cmp_hit, &merged) != 0) {
      rc = RM_E_OUTOFMEMORY;
    } else {
      *hits = (rm_native_hit *)merged;
      *nhits = w[0].nhits + w[1].nhits;
    }
  }
  for (i = 0; i < 2; i++) {
    free(w[i].hits);
    free(w[i].uninspected.pids);
    free(w[i].buf.p);
  }
  return rc;
}

unsigned rm_native_scan(int procfd, const char *buf, size_t len,
                        rm_native_hit **hits, size_t *nhits,
                        rm_pid_list *uninspected) {
  targets t;
  uint32_t *pids = NULL;
  size_t npids = 0;
  unsigned rc = targets_load(buf, len, &t);
  *hits = NULL;
  *nhits = 0;
  uninspected->pids = NULL;
  uninspected->n = 0;
  if (rc != RM_OK) return rc;
  if (t.has_dir) {
    targets_free(&t);
    return RM_E_ACCESS_DENIED;
  }
  /* nothing registered: nothing to look for */
  if (t.files.count || t.nprocs || t.nsvcs)
    rc = list_pids(procfd, &pids, &npids);
  if (rc == RM_OK && npids)
    rc = run_workers(&t, procfd, pids, npids, hits, nhits, uninspected);
  if (rc != RM_OK) {
    free(uninspected->pids);
    uninspected->pids = NULL;
    uninspected->n = 0;
  }
  free(pids);
  targets_free(&t);
  return rc;
}
