/*
 * The scan (scan.h).
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
#include <sys/ioctl.h>
#include <sys/resource.h>
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

typedef struct idslot {
  uint64_t dev, ino; /* ino 0 marks a free slot (no file has inode 0) */
} idslot;

/* Placed by the inode alone, so that one set answers both "this device
 * and inode" and "this inode on any device" (maps may show another
 * device than stat). */
typedef struct idset {
  idslot *slots; /* a pair in one place: one cache line a probe */
  size_t mask, count;
} idset;

static size_t ino_slot(const idset *s, uint64_t ino) {
  uint64_t h = ino * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  return (size_t)h & s->mask;
}

/* Room for n pairs, the table at most two-thirds full. */
static int idset_init(idset *s, size_t n) {
  size_t cap = 16;
  while (cap < n + n / 2) cap <<= 1;
  s->slots = (idslot *)calloc(cap, sizeof *s->slots);
  s->mask = cap - 1;
  s->count = 0;
  return s->slots ? 0 : -1;
}

static void idset_free(idset *s) { free(s->slots); }

/* Adds (dev, ino); the set was sized for every insertion up front. */
static void idset_add(idset *s, uint64_t dev, uint64_t ino) {
  size_t i = ino_slot(s, ino);
  if (ino == 0) return;
  while (s->slots[i].ino) {
    if (s->slots[i].ino == ino && s->slots[i].dev == dev) return;
    i = (i + 1) & s->mask;
  }
  s->slots[i].dev = dev;
  s->slots[i].ino = ino;
  s->count++;
}

static int idset_has(const idset *s, uint64_t dev, uint64_t ino) {
  size_t i = ino_slot(s, ino);
  while (s->slots[i].ino) {
    if (s->slots[i].ino == ino && s->slots[i].dev == dev) return 1;
    i = (i + 1) & s->mask;
  }
  return 0;
}

/* 1 when the set holds ino on some device. */
static int idset_has_ino(const idset *s, uint64_t ino) {
  size_t i = ino_slot(s, ino);
  while (s->slots[i].ino) {
    if (s->slots[i].ino == ino) return 1;
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
  const char **paths; /* the files' paths, to identify now */
  char *kinds;        /* and what each was when registered */
  size_t *order;      /* and each one's place among the registered files */
  size_t npaths, cpaths, nfiles;
  size_t *missing; /* the places of the paths that do not exist now */
  size_t nmissing;
  struct {
    uint64_t dev, ino;
  } *then; /* the files' identities when registered */
  size_t nthen;
  uint64_t *proc_inos; /* each process's pidfs inode, 0 when not known */
} targets;

static void add_file(targets *t, uint64_t dev, uint64_t ino) {
  idset_add(&t->files, dev, ino);
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
    rm_native_mount_unescape(mp);
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
    /* A file is looked for under the identity it had when registered (its
     * users may hold it after the path was replaced) and under the one the
     * path has now (a process may have opened the new file since): the
     * paths are identified again all at once, after the records are read,
     * with those a private session recorded without a look-up ('u'). A
     * directory is matched by what lies beneath its path now. */
    size_t place = t->nfiles++;
    if (e->kind == 'd') {
      add_dir(t, e->text);
    } else if (e->kind == 'n') {
      /* A path that did not exist when registered is not followed through
       * a symlink that appeared there since: whoever can write its
       * directory (another user) would choose what the installer stops. */
      struct stat st;
      if (lstat(e->text, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
          t->missing[t->nmissing++] = place;
      } else if (S_ISDIR(st.st_mode)) {
        add_dir(t, e->text); /* a directory made there since */
      } else if (!S_ISLNK(st.st_mode) && t->nthen < t->cpaths) {
        t->then[t->nthen].dev = (uint64_t)st.st_dev;
        t->then[t->nthen++].ino = (uint64_t)st.st_ino;
      }
    } else {
      if (e->kind == 'f' && t->nthen < t->cpaths) {
        t->then[t->nthen].dev = e->dev;
        t->then[t->nthen++].ino = e->ino;
      }
      if (t->npaths < t->cpaths) {
        t->order[t->npaths] = place;
        t->kinds[t->npaths] = (char)e->kind;
        t->paths[t->npaths++] = e->text;
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
  for (i = 0; i < t->nsvcs; i++) free(t->svcs[i]);
  for (i = 0; i < t->ndirs; i++) free(t->dirs[i].path);
  free(t->svcs);
  free(t->procs);
  free(t->dirs);
  free(t->paths);
  free(t->kinds);
  free(t->order);
  free(t->missing);
  free(t->then);
  free(t->proc_inos);
}

/* Room for n entries of every kind; the sets of identities are made once
 * their number is known (targets_sets). */
static int targets_init(targets *t, size_t n) {
  memset(t, 0, sizeof *t);
  t->then = calloc(n + 1, sizeof *t->then);
  if (!t->then) return -1;
  t->cprocs = t->csvcs = t->cdirs = t->cpaths = n;
  t->procs = (rm_unique_process *)calloc(n + 1, sizeof *t->procs);
  t->svcs = (char **)calloc(n + 1, sizeof *t->svcs);
  t->dirs = (dirpath *)calloc(n + 1, sizeof *t->dirs);
  t->paths = (const char **)calloc(n + 1, sizeof *t->paths);
  t->kinds = (char *)calloc(n + 1, 1);
  t->order = (size_t *)calloc(n + 1, sizeof *t->order);
  t->missing = (size_t *)calloc(n + 1, sizeof *t->missing);
  t->proc_inos = (uint64_t *)calloc(n + 1, sizeof *t->proc_inos);
  return t->procs && t->svcs && t->dirs && t->paths && t->kinds &&
                 t->order && t->missing && t->proc_inos
             ? 0
             : -1;
}

static int cmp_place(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

/* The sets, for n identities. */
static int targets_sets(targets *t, size_t n) {
  return idset_init(&t->files, n);
}

/* The targets named by the records in buf (or, when payload is set, by the
 * payloads of a private session's memory). */
static unsigned targets_load(const char *buf, size_t len, int payload,
                             targets *t) {
  size_t n = 0, i;
  const char *p;
  rm_native_file_id *now;
  /* every entry ends with a NUL: their count bounds every kind's */
  for (p = buf; p && (p = (const char *)memchr(p, '\0',
                                               (size_t)(buf + len - p)));
       p++)
    n++;
  if (targets_init(t, n) != 0) goto oom;
  if (payload)
    rm_native_payload_each(buf, len, collect_cb, t);
  else
    (void)rm_native_records_each(buf, len, collect_cb, t);
  /* every file's identity then and now */
  if (targets_sets(t, t->nthen + t->npaths) != 0) goto oom;
  for (i = 0; i < t->nthen; i++) add_file(t, t->then[i].dev, t->then[i].ino);
  if (t->npaths) {
    now = (rm_native_file_id *)malloc(t->npaths * sizeof *now);
    if (!now) goto oom;
    rm_native_identify(t->paths, now, t->npaths);
    for (i = 0; i < t->npaths; i++) {
      if (now[i].missing) t->missing[t->nmissing++] = t->order[i];
      if (now[i].kind == 'f')
        add_file(t, (uint64_t)now[i].dev, (uint64_t)now[i].ino);
      else if (now[i].kind == 'd' && t->kinds[i] == 'u')
        add_dir(t, t->paths[i]); /* registered unlooked-up: a directory */
    }
    free(now);
  }
  if (t->nmissing > 1)
    qsort(t->missing, t->nmissing, sizeof *t->missing, cmp_place);
  if (t->ndirs) add_mount_devs(t);
  return RM_OK;
oom:
  targets_free(t);
  return RM_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------
 * The scan
 * ------------------------------------------------------------------- */

/* How many processes a thread takes from the list at a time. */
#define CHUNK 4
#define MAX_THREADS 4

typedef struct worker {
  const targets *t;
  int procfd;
  const uint32_t *pids;
  size_t npids;
  size_t *next; /* the next process to take, shared by the threads */
  rm_native_hit *hits;
  size_t nhits, chits;
  rm_pid_list uninspected; /* pids, in the order met */
  size_t cuninspected;
  rm_native_buf buf; /* what was last read from /proc */
  long *pins_left; /* how many more pidfds the scan may hold, shared */
  const rm_native_hit_fn *fn; /* or NULL */
  void *fstate;               /* fn's state in this thread, once begun */
  char *pay;                  /* the hits' payloads, fn->size bytes each */
  unsigned rc;
} worker;

/* Adds a hit holding pin (or -1), and hands it to w->fn: 0, or -1 when
 * memory ran out (pin then left to the caller). */
static int push_hit(worker *w, uint32_t pid, const rm_native_stat *st,
                    int pin) {
  rm_native_hit *h;
  if (w->nhits == w->chits) {
    size_t n = w->chits ? w->chits * 2 : 64;
    h = (rm_native_hit *)realloc(w->hits, n * sizeof *h);
    if (!h) return -1;
    w->hits = h;
    if (w->fn) {
      char *p = (char *)realloc(w->pay, n * w->fn->size);
      if (!p) return -1;
      w->pay = p;
    }
    w->chits = n;
  }
  if (w->fn && !w->fstate && !(w->fstate = w->fn->begin(w->fn->ctx)))
    return -1;
  h = &w->hits[w->nhits];
  h->pid = pid;
  h->st = *st;
  h->pidfd = pin;
  h->slot = 0;
  w->nhits++;
  if (w->fn) {
    w->fn->each(w->fstate, h, w->pay + (w->nhits - 1) * w->fn->size);
    if (!w->fn->keep_pins && pin >= 0) {
      close(pin);
      h->pidfd = -1;
      __atomic_add_fetch(w->pins_left, 1, __ATOMIC_RELAXED);
    }
  }
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

/* 1 when the magic link name (relative to dirfd) points beneath a
 * registered directory, 0 when not, -1 (errno) when it cannot be read. */
static int link_beneath(const targets *t, int dirfd, const char *name) {
  char path[PATH_MAX];
  ssize_t n = readlinkat(dirfd, name, path, sizeof path);
  if (n < 0) return -1;
  if (n == 0 || (size_t)n >= sizeof path || path[0] != '/') return 0;
  path[n] = '\0';
  n = (ssize_t)rm_native_strip_deleted(path, (size_t)n);
  return beneath(t, path, (size_t)n);
}

/* 1 when the descriptor name of the fd directory dirfd is a registered
 * file or lies beneath a registered directory: its link is read only when
 * its file is on a device the directories' trees span. */
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
 * batch is small (the standard streams and a few more), the next ones
 * larger. The descriptor numbered skip (unless -1) was looked at already.
 * hit: NULL, or where to put the matching descriptor's path relative to
 * procfd ("dir/N", hitsz bytes at most). */
static int scan_fds_from(const targets *t, int procfd, const char *dir,
                         int skip, char *hit, size_t hitsz) {
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
      if (skip >= 0 && skip <= 9 && !e->d_name[1] && e->d_name[0] - '0' == skip)
        continue;
      if (fd_matches(t, fd, e->d_name)) {
        found = 1;
        if (hit) snprintf(hit, hitsz, "%s/%s", dir, e->d_name);
        break;
      }
    }
    if (found) break;
    batch = sizeof buf.bytes;
  }
  close(fd);
  return found;
}

static int scan_fds(const targets *t, int procfd, const char *dir, char *hit,
                    size_t hitsz) {
  return scan_fds_from(t, procfd, dir, -1, hit, hitsz);
}

/* The descriptor looked up by number before anything else of a process:
 * the first file a program opens gets descriptor 3 (0 to 2 are the
 * standard streams it inherited). */
#define FIRST_FD 3

/* 1 when pid's descriptor FIRST_FD is a registered file or beneath a
 * registered directory, 0 when not, -1 (errno) when it cannot be looked
 * at: ENOENT when it is not open (or the process is gone). /proc then
 * builds the entry of that descriptor alone, and a holder of a registered
 * file there is found with one call. */
static int first_fd_matches(const targets *t, int procfd, uint32_t pid,
                            char *hit, size_t hitsz) {
  char name[64];
  uint64_t dev, ino;
  int r;
  snprintf(name, sizeof name, "%lu/fd/%d", (unsigned long)pid, FIRST_FD);
  if (t->files.count) {
    if (stat_id(procfd, name, &dev, &ino) != 0) return -1;
    if (idset_has(&t->files, dev, ino)) r = 1;
    else if (!t->ndirs || !dir_dev(t, dev)) r = 0;
    else r = link_beneath(t, procfd, name) == 1;
  } else {
    r = link_beneath(t, procfd, name);
    if (r < 0) return -1;
  }
  if (r == 1) snprintf(hit, hitsz, "%s", name);
  return r;
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

typedef struct map_ctx {
  const targets *t;
  int procfd;
  uint32_t pid;
} map_ctx;

/* One line of pid's maps (rm_native_line_fn): 1 when it maps a registered
 * file or one beneath a registered directory. */
static int map_matches(void *ctx, const char *line) {
  const map_ctx *m = (const map_ctx *)ctx;
  const targets *t = m->t;
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
  if (!t->files.count || !idset_has_ino(&t->files, ino)) return 0;
  if (idset_has(&t->files, dev, ino)) return 1;
  /* The inode is known but maps' device differs (overlayfs, btrfs
   * subvolumes report another one): ask the mapping itself. */
  {
    char mf[128];
    size_t n = (size_t)(range_end - line);
    uint64_t d2, i2;
    int len = snprintf(mf, sizeof mf, "%lu/map_files/", (unsigned long)m->pid);
    if (len > 0 && (size_t)len + n < sizeof mf) {
      memcpy(mf + len, line, n);
      mf[(size_t)len + n] = '\0';
      if (stat_id(m->procfd, mf, &d2, &i2) == 0 &&
          idset_has(&t->files, d2, i2))
        return 1;
    }
  }
  return 0;
}

/* Asking the maps file for one mapping at a time (PROCMAP_QUERY, Linux
 * 6.11): the mapping at or after an address, with its file's device and
 * inode, and without its path, which the kernel would otherwise write out
 * for every line of the text. The layout is the kernel's. */
struct maps_query {
  uint64_t size, query_flags, query_addr;
  uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset;
  uint64_t inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define MAPS_QUERY _IOWR('f', 17, struct maps_query)
#define MAPS_QUERY_COVERING_OR_NEXT 0x10u
#define MAPS_QUERY_FILE_BACKED 0x20u

/* Set once the kernel is known not to answer MAPS_QUERY. */
static int maps_query_missing;

/* 1 when a file mapping of pid is a registered file, 0 if none, -1 when
 * the maps cannot be opened (errno), -2 when the kernel does not answer
 * the query (the text is read then). */
static int query_maps(const targets *t, int procfd, uint32_t pid) {
  char name[64];
  uint64_t addr = 0;
  int fd, found = 0, first = 1;
  snprintf(name, sizeof name, "%lu/maps", (unsigned long)pid);
  fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (;;) {
    struct maps_query q;
    uint64_t dev;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_flags = MAPS_QUERY_COVERING_OR_NEXT | MAPS_QUERY_FILE_BACKED;
    q.query_addr = addr;
    if (ioctl(fd, MAPS_QUERY, &q) != 0) {
      /* ENOENT: no mapping after addr; ESRCH: no memory (gone, or a kernel
       * thread), as an empty text */
      if (errno != ENOENT && errno != ESRCH) {
        if (first && (errno == ENOTTY || errno == EINVAL)) {
          __atomic_store_n(&maps_query_missing, 1, __ATOMIC_RELAXED);
          found = -2;
        } else if (first) {
          found = -2; /* whatever the text says */
        }
      }
      break;
    }
    first = 0;
    if (q.vma_end <= addr) break; /* never loops */
    addr = q.vma_end;
    if (!q.inode || !idset_has_ino(&t->files, q.inode)) continue;
    dev = (uint64_t)makedev(q.dev_major, q.dev_minor);
    if (idset_has(&t->files, dev, q.inode)) {
      found = 1;
      break;
    }
    /* the inode is known but the device differs (overlayfs, btrfs
     * subvolumes): ask the mapping itself */
    {
      char mf[128];
      uint64_t d2, i2;
      snprintf(mf, sizeof mf, "%lu/map_files/%llx-%llx", (unsigned long)pid,
               (unsigned long long)q.vma_start, (unsigned long long)q.vma_end);
      if (stat_id(procfd, mf, &d2, &i2) == 0 && idset_has(&t->files, d2, i2)) {
        found = 1;
        break;
      }
    }
  }
  close(fd);
  return found;
}

/* 1 when a mapping of pid is a registered file (or beneath a registered
 * directory), 0 if none, -1 unreadable (errno). Without registered
 * directories the maps are queried one file mapping at a time; else, or
 * where the kernel cannot, the text is parsed as it is read. Either stops
 * at the first match. */
static int scan_maps(const targets *t, int procfd, uint32_t pid,
                     rm_native_buf *buf) {
  map_ctx m;
  int stopped, err;
  if (!t->ndirs &&
      !__atomic_load_n(&maps_query_missing, __ATOMIC_RELAXED)) {
    int r = query_maps(t, procfd, pid);
    if (r != -2) return r;
  }
  m.t = t;
  m.procfd = procfd;
  m.pid = pid;
  err = rm_native_proc_lines(procfd, pid, "maps", buf, map_matches, &m,
                             &stopped);
  if (err) {
    errno = err;
    return -1;
  }
  return stopped;
}

/* Threads created without a shared file table have descriptors of their
 * own: 1 when one of them holds a registered file, -1 (errno set) when the
 * descriptors or memory ran out. hit as for scan_fds. */
static int scan_threads(const targets *t, int procfd, uint32_t pid, char *hit,
                        size_t hitsz) {
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
    switch (scan_fds(t, procfd, fddir, hit, hitsz)) {
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
 * (two more than its entries): one call, where stat is three. 0 when it is
 * gone. */
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

/* 1 when the process at pid, started at start, is a registered one. Its
 * pidfs inode, where the registration has one, is asked of pin (a pidfd
 * opened on pid before start was read) or, without one (-1), of a pidfd
 * opened on pid and start for the question. With any set, pid and start
 * time suffice: what a scan without a pidfd yet calls a candidate. */
static int registered_process(const targets *t, uint32_t pid,
                              uint64_t start, int pin, int any) {
  size_t i;
  for (i = 0; i < t->nprocs; i++)
    if (t->procs[i].pid == pid && t->procs[i].start_time == start &&
        (any || !t->proc_inos[i] ||
         (pin >= 0 ? rm_native_pidfd_ino(pin)
                   : rm_native_pidfs_ino(pid, start)) == t->proc_inos[i]))
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

/* What made a process a hit, to be checked again once a pidfd is open on
 * it: 'p' a registered process, 's' a registered service, 'e' its
 * executable, 'f' the descriptor at path (relative to /proc), 'm' a
 * mapping, 'd' its working or root directory. */
typedef struct match {
  char kind;
  char path[128];
} match;

/* Looks at one process: checks in the order of their cost, each failure
 * sorted into "gone", "not ours to read" and "out of resources"; 1 when it
 * is a hit, with what matched in *m. Its stat is read only for registered
 * processes and services. Among the files, descriptor FIRST_FD comes
 * first (one call, where most holders hold what they hold), then the
 * executable (one call, and none is there for a kernel thread or a
 * process that exited, which ends the look), then the rest. pin: a pidfd
 * opened on pid before anything of it was read, or -1; with prelim set
 * (and no pidfd), a registered process matches by pid and start time
 * alone, its pidfs inode left to the check once the pidfd is open (see
 * scan_one). */
static int look_at(worker *w, uint32_t pid, int pin, int prelim, match *m) {
  const targets *t = w->t;
  rm_native_stat st;
  char dir[64];
  int r, denied = 0, found = 0, probed = 0;
  m->kind = 0;
  if (t->nprocs || t->nsvcs) {
    r = rm_native_proc_stat(w->procfd, pid, &w->buf, &st);
    if (r != 0) {
      (void)out_of_resources(w, r); /* else it is gone */
      return 0;
    }
    if (st.flags & PF_KTHREAD) return 0;
    if (t->nprocs && registered_process(t, pid, st.start_time, pin, prelim)) {
      found = 1;
      m->kind = 'p';
    }
  }
  if (!found && t->nsvcs) {
    char unit[256];
    errno = 0;
    if (rm_native_service_unit(w->procfd, pid, unit, sizeof unit) == 0) {
      if (service_registered(t, unit)) {
        found = 1;
        m->kind = 's';
      }
    } else if (out_of_resources(w, errno)) {
      return 0;
    }
  }
  if (!found && (t->files.count || t->ndirs)) {
    r = first_fd_matches(t, w->procfd, pid, m->path, sizeof m->path);
    if (r == 1) {
      found = 1;
      m->kind = 'f';
    }
    /* looked at: not open, or not a match (else the listing tells why) */
    probed = r == 0 || (r < 0 && errno == ENOENT);
  }
  if (!found && (t->files.count || t->ndirs)) {
    r = exe_matches(t, w->procfd, pid);
    if (r == 1) {
      found = 1;
      m->kind = 'e';
    } else if (r < 0 && errno == ENOENT) {
      /* a kernel thread, a process gone, or one whose first thread
       * exited while others run on */
      if (thread_count(w->procfd, pid) < 2) return 0;
    } else if (r < 0 && errno == EACCES) {
      denied = 1;
    } else if (r < 0 && out_of_resources(w, errno)) {
      return 0;
    }
    if (!found) {
      snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
      r = scan_fds_from(t, w->procfd, dir, probed ? FIRST_FD : -1, m->path,
                        sizeof m->path);
      if (r == 1) {
        found = 1;
        m->kind = 'f';
      } else if (r < 0 && errno == EACCES) {
        denied = 1;
      } else if (r < 0 && out_of_resources(w, errno)) {
        return 0;
      }
    }
    if (!found) {
      r = scan_maps(t, w->procfd, pid, &w->buf);
      if (r == 1) {
        found = 1;
        m->kind = 'm';
      } else if (r < 0 && errno == EACCES) {
        denied = 1;
      } else if (r < 0 && out_of_resources(w, errno)) {
        return 0;
      }
    }
    if (!found && t->ndirs && dirs_match(t, w->procfd, pid)) {
      found = 1;
      m->kind = 'd';
    }
    if (!found && !denied && thread_count(w->procfd, pid) > 1) {
      r = scan_threads(t, w->procfd, pid, m->path, sizeof m->path);
      if (r == 1) {
        found = 1;
        m->kind = 'f';
      } else if (r < 0 && out_of_resources(w, errno)) {
        return 0;
      }
    }
  }
  if (found) return 1;
  if (denied) {
    /* exited in the meantime: not a process we failed to inspect */
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
      rm_pid_list *u = &w->uninspected;
      if (u->n == w->cuninspected) {
        size_t n = w->cuninspected ? w->cuninspected * 2 : 16;
        uint32_t *p = (uint32_t *)realloc(u->pids, n * sizeof *p);
        if (!p) {
          w->rc = RM_E_OUTOFMEMORY;
          return 0;
        }
        u->pids = p;
        w->cuninspected = n;
      }
      u->pids[u->n++] = pid;
    }
  }
  return 0;
}

/* With a pidfd open on pid, and st read after it: 1 when what made the
 * process a hit (m) holds for it still, read again through /proc; 0 when
 * not, -1 when the descriptors or memory ran out (w->rc set). */
static int still_matches(worker *w, uint32_t pid, const match *m,
                         const rm_native_stat *st, int pin) {
  const targets *t = w->t;
  int r;
  switch (m->kind) {
  case 'p':
    return registered_process(t, pid, st->start_time, pin, 0);
  case 's': {
    char unit[256];
    errno = 0;
    if (rm_native_service_unit(w->procfd, pid, unit, sizeof unit) == 0)
      return service_registered(t, unit);
    return out_of_resources(w, errno) ? -1 : 0;
  }
  case 'e':
    r = exe_matches(t, w->procfd, pid);
    if (r < 0 && out_of_resources(w, errno)) return -1;
    return r == 1;
  case 'f':
    return fd_matches(t, w->procfd, m->path);
  case 'm':
    r = scan_maps(t, w->procfd, pid, &w->buf);
    if (r < 0 && out_of_resources(w, errno)) return -1;
    return r == 1;
  case 'd':
    return dirs_match(t, w->procfd, pid);
  default:
    return 0;
  }
}

/* A hit's stat into *st, read now: 0, or -1 when it is gone, a kernel
 * thread, or the descriptors or memory ran out (w->rc set). */
static int hit_stat(worker *w, uint32_t pid, rm_native_stat *st) {
  int r = rm_native_proc_stat(w->procfd, pid, &w->buf, st);
  if (r != 0) {
    (void)out_of_resources(w, r); /* else it is gone */
    return -1;
  }
  return (st->flags & PF_KTHREAD) ? -1 : 0;
}

/* Looks at one process. The look runs without a pidfd; a hit then gets
 * one while the scan may hold more (see pin_budget), and what made it a
 * hit is read again through /proc after the pidfd was opened, with the
 * stat that describes it: when that process still runs after these reads,
 * the pid was its all along, so the process the pidfd names is a holder,
 * and the hit keeps the pidfd for the shutdown to signal the very process
 * the scan found, even one whose pid and start time a newcomer shares.
 * When the second reading differs from the first, the process at the pid
 * is looked at again from the start, through the pidfd now held (a holder
 * that exited is not listed; a newcomer at its pid is one only if it
 * holds a registered resource itself). Without a pidfd (none left, or no
 * pidfd_open) the hit is identified by pid, start time and, where there
 * is pidfs, the pidfs inode (control.c). */
static void scan_one(worker *w, uint32_t pid) {
  match m;
  rm_native_stat st;
  int pin = -1, r;
  if (look_at(w, pid, -1, 1, &m) != 1) return;
  if (__atomic_sub_fetch(w->pins_left, 1, __ATOMIC_RELAXED) >= 0)
    pin = rm_native_pidfd_open(pid);
  if (pin < 0) {
    int err = errno;
    __atomic_add_fetch(w->pins_left, 1, __ATOMIC_RELAXED);
    if (err == ESRCH) return; /* gone */
    /* a registered process by pid and start time: its pidfs inode too */
    if (m.kind == 'p' && look_at(w, pid, -1, 0, &m) != 1) return;
    if (hit_stat(w, pid, &st) == 0 && push_hit(w, pid, &st, -1) != 0)
      w->rc = RM_E_OUTOFMEMORY;
    return;
  }
  r = hit_stat(w, pid, &st);
  if (r == 0) r = still_matches(w, pid, &m, &st, pin);
  if (r == 0 && w->rc == RM_OK && !rm_native_pidfd_exited(pin) &&
      look_at(w, pid, pin, 0, &m) == 1)
    r = hit_stat(w, pid, &st) == 0 ? 1 : -1;
  /* exited after all: what was read may be of a newcomer at its pid */
  if (r == 1 && w->rc == RM_OK && !rm_native_pidfd_exited(pin)) {
    if (push_hit(w, pid, &st, pin) == 0) return; /* the hit holds it */
    w->rc = RM_E_OUTOFMEMORY;
  }
  close(pin);
  __atomic_add_fetch(w->pins_left, 1, __ATOMIC_RELAXED);
}

/* A failed look into a process: 0 when the process is gone (it uses
 * nothing), else the errno to report. */
static int failure(int err) { return (err == ENOENT || err == ESRCH) ? 0 : err; }

int rm_native_process_uses(int procfd, uint32_t pid, uint64_t dev,
                           uint64_t ino) {
  targets t;
  rm_native_buf buf = {0};
  int found = 0, err = 0, r;
  char dir[64];
  if (targets_init(&t, 1) != 0 || targets_sets(&t, 1) != 0) {
    targets_free(&t);
    errno = ENOMEM;
    return -1;
  }
  add_file(&t, dev, ino);
  snprintf(dir, sizeof dir, "%lu/fd", (unsigned long)pid);
  if ((r = scan_fds(&t, procfd, dir, NULL, 0)) < 0) err = failure(errno);
  found = r == 1;
  if (!found && (r = scan_maps(&t, procfd, pid, &buf)) < 0 && !err)
    err = failure(errno);
  found = found || r == 1;
  if (!found && !err && (r = scan_threads(&t, procfd, pid, NULL, 0)) < 0)
    err = failure(errno);
  found = found || r == 1;
  if (!found && exe_matches(&t, procfd, pid) == 1) found = 1;
  free(buf.p);
  targets_free(&t);
  if (found) return 1;
  errno = err;
  return err ? -1 : 0;
}

/* A thread's work: a few processes at a time from the shared list, until
 * none is left (or a failure stops the scan). */
static void *scan_range(void *arg) {
  worker *w = (worker *)arg;
  for (;;) {
    size_t i = __atomic_fetch_add(w->next, CHUNK, __ATOMIC_RELAXED), end;
    if (i >= w->npids || w->rc != RM_OK) break;
    end = i + CHUNK < w->npids ? i + CHUNK : w->npids;
    for (; i < end && w->rc == RM_OK; i++) scan_one(w, w->pids[i]);
  }
  if (w->fstate) w->fn->end(w->fstate);
  w->fstate = NULL;
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
    return rm_native_errno_code(err, RM_E_INVALID_FUNCTION);
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

/* Grows the descriptor table, while this thread is the scan's only one, to
 * hold n more descriptors above fd. The workers keep a pidfd for each hit:
 * a table that grows while several threads share it waits each time for an
 * RCU grace period (milliseconds), which serialised the scan at thousands
 * of holders. Best effort: a table that cannot grow now grows later. */
static void reserve_descriptors(int fd, size_t n) {
  struct rlimit rl;
  rlim_t want = (rlim_t)fd + (rlim_t)n + 1;
  int hi;
  if (n == 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur != RLIM_INFINITY && want >= rl.rlim_cur)
    want = rl.rlim_cur - 1;
  if (want > INT_MAX) want = INT_MAX;
  if ((rlim_t)fd >= want) return;
  hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)want);
  if (hi >= 0) close(hi);
}

/* Runs the workers over pids (a thread a core, at most MAX_THREADS, for a
 * long list) and gathers their hits, sorted by pid. */
static unsigned run_workers(const targets *t, int procfd, const uint32_t *pids,
                            size_t npids, const rm_native_hit_fn *fn,
                            rm_native_hit **hits, void **payloads,
                            size_t *nhits, rm_pid_list *uninspected,
                            long *pins_left) {
  worker w[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  int started[MAX_THREADS];
  size_t i, nw = 1, total = 0, next = 0, nun = 0;
  unsigned rc = RM_OK;
  memset(w, 0, sizeof w);
  if (npids >= 64) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nw = cpus >= MAX_THREADS ? MAX_THREADS : cpus > 1 ? (size_t)cpus : 1;
  }
  for (i = 0; i < nw; i++) {
    w[i].t = t;
    w[i].pins_left = pins_left;
    w[i].procfd = procfd;
    w[i].pids = pids;
    w[i].npids = npids;
    w[i].next = &next;
    w[i].fn = fn;
  }
  if (nw > 1 && *pins_left > 0)
    reserve_descriptors(procfd, (size_t)*pins_left < npids ? (size_t)*pins_left
                                                            : npids);
  for (i = 1; i < nw; i++)
    started[i] =
        rm_native_thread_start(&th[i], scan_range, &w[i], (unsigned)i) == 0;
  scan_range(&w[0]); /* and what a thread that could not start left */
  for (i = 1; i < nw; i++)
    if (started[i]) pthread_join(th[i], NULL);
  for (i = 0; i < nw; i++) {
    if (w[i].rc != RM_OK) rc = w[i].rc;
    total += w[i].nhits;
    nun += w[i].uninspected.n;
  }
  if (rc == RM_OK && nun) {
    uint32_t *un = (uint32_t *)malloc(nun * sizeof *un);
    if (!un) {
      rc = RM_E_OUTOFMEMORY;
    } else {
      size_t at = 0;
      for (i = 0; i < nw; i++) {
        if (w[i].uninspected.n)
          memcpy(un + at, w[i].uninspected.pids,
                 w[i].uninspected.n * sizeof *un);
        at += w[i].uninspected.n;
      }
      qsort(un, nun, sizeof *un, cmp_pid);
      uninspected->pids = un;
      uninspected->n = nun;
    }
  }
  if (rc == RM_OK && total) {
    rm_native_hit *all = (rm_native_hit *)malloc(total * sizeof *all);
    char *pay = fn ? (char *)malloc(total * fn->size) : NULL;
    if (!all || (fn && !pay)) {
      free(all);
      free(pay);
      rc = RM_E_OUTOFMEMORY;
    } else {
      size_t at = 0, k;
      /* a worker that found nothing has no array at all (NULL) */
      for (i = 0; i < nw; i++) {
        if (w[i].nhits)
          memcpy(all + at, w[i].hits, w[i].nhits * sizeof *all);
        for (k = 0; k < w[i].nhits; k++) all[at + k].slot = at + k;
        at += w[i].nhits;
      }
      /* the payloads follow their hits, sorted by pid: a hit's slot is its
       * place before the sort, in the workers' payloads put end to end */
      if (fn) {
        char *flat = (char *)malloc(total * fn->size);
        if (!flat) {
          rc = RM_E_OUTOFMEMORY;
        } else {
          for (i = 0, at = 0; i < nw; at += w[i].nhits, i++)
            if (w[i].nhits)
              memcpy(flat + at * fn->size, w[i].pay,
                     w[i].nhits * fn->size);
          qsort(all, total, sizeof *all, cmp_hit);
          for (k = 0; k < total; k++)
            memcpy(pay + k * fn->size, flat + all[k].slot * fn->size,
                   fn->size);
          free(flat);
        }
      } else {
        qsort(all, total, sizeof *all, cmp_hit);
      }
      if (rc == RM_OK) {
        *hits = all;
        *payloads = pay;
        *nhits = total;
      } else {
        for (k = 0; k < total; k++)
          if (all[k].pidfd >= 0) close(all[k].pidfd);
        free(all);
        free(pay);
        /* the workers' pidfds were closed with these */
        for (i = 0; i < nw; i++) w[i].nhits = 0;
      }
    }
  }
  for (i = 0; i < nw; i++) {
    if (rc != RM_OK) {
      size_t k;
      for (k = 0; k < w[i].nhits; k++)
        if (w[i].hits[k].pidfd >= 0) close(w[i].hits[k].pidfd);
    }
    free(w[i].hits);
    free(w[i].pay);
    free(w[i].uninspected.pids);
    free(w[i].buf.p);
  }
  return rc;
}

/* How many pidfds a scan may hold at once: half of the descriptors left
 * under the soft RLIMIT_NOFILE (the other half stays for the scan's own
 * reads and the caller), at most MAX_PINS. The limit is not raised: it is
 * the host program's. Hits beyond it carry no pidfd. */
#define MAX_PINS 65536L
static long pin_budget(void) {
  struct rlimit rl;
  long limit, used = 0, left;
  DIR *d;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)(4 * MAX_PINS)
              ? 4 * MAX_PINS
              : (long)rl.rlim_cur;
  d = opendir("/proc/self/fd");
  if (!d) return 0;
  while (readdir(d)) used++;
  closedir(d);
  left = (limit - used) / 2 - 16;
  return left < 0 ? 0 : left > MAX_PINS ? MAX_PINS : left;
}

unsigned rm_native_scan(int procfd, const char *buf, size_t len, int payload,
                        const rm_native_hit_fn *fn, rm_native_hit **hits,
                        void **payloads, size_t *nhits,
                        rm_pid_list *uninspected, size_t **missing,
                        size_t *nmissing) {
  targets t;
  uint32_t *pids = NULL;
  size_t npids = 0;
  long pins_left;
  unsigned rc = targets_load(buf, len, payload, &t);
  *hits = NULL;
  *payloads = NULL;
  *nhits = 0;
  uninspected->pids = NULL;
  uninspected->n = 0;
  *missing = NULL;
  *nmissing = 0;
  if (rc != RM_OK) return rc;
  /* nothing registered: nothing to look for */
  if (t.files.count || t.nprocs || t.nsvcs || t.ndirs)
    rc = list_pids(procfd, &pids, &npids);
  if (rc == RM_OK && npids) {
    pins_left = pin_budget();
    rc = run_workers(&t, procfd, pids, npids, fn, hits, payloads, nhits,
                     uninspected, &pins_left);
  }
  if (rc != RM_OK) {
    free(uninspected->pids);
    uninspected->pids = NULL;
    uninspected->n = 0;
  } else if (t.nmissing) {
    *missing = t.missing;
    *nmissing = t.nmissing;
    t.missing = NULL;
  }
  free(pids);
  targets_free(&t);
  return rc;
}
