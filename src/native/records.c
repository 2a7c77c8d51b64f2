/*
 * Registration records (records.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "records.h"
#include "util.h"

#define RECORDS_NAME "records"
#define RECORD_TAG "RMR2 "
#define RECORD_MAGIC "\0" RECORD_TAG
#define RECORD_LOCK_TIMEOUT_MS 5000

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

typedef rm_native_file_id file_id;

typedef struct stat_job {
  const char *const *paths;
  file_id *ids;
  size_t lo, hi;
} stat_job;

/* Looks up paths lo..hi that no listing identified (kind 0). */
static void *stat_range(void *arg) {
  stat_job *j = (stat_job *)arg;
  size_t i, dirlen = 0;
  const char *dir = NULL; /* the directory dirfd was opened on */
  int dirfd = -1;
  for (i = j->lo; i < j->hi; i++) {
    struct stat st;
    file_id *id = &j->ids[i];
    const char *path = j->paths[i], *slash = strrchr(path, '/');
    int r;
    if (id->kind) continue;
    /* Files of one directory come together in most lists: looking each up
     * from the directory, opened once, saves walking the whole path. */
    if (slash && slash != path && slash[1]) {
      size_t n = (size_t)(slash - path);
      if (!dir || n != dirlen || memcmp(dir, path, n) != 0) {
        char buf[PATH_MAX];
        if (dirfd >= 0) close(dirfd);
        dirfd = -1;
        dir = NULL;
        if (n < sizeof buf) {
          memcpy(buf, path, n);
          buf[n] = '\0';
          dirfd = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (dirfd >= 0) {
            dir = path;
            dirlen = n;
          }
        }
      }
    } else if (dirfd >= 0) {
      close(dirfd);
      dirfd = -1;
      dir = NULL;
    }
    r = dirfd >= 0 ? fstatat(dirfd, slash + 1, &st, 0) : stat(path, &st);
    id->missing = 0;
    if (r == 0) {
      id->kind = S_ISDIR(st.st_mode) ? 'd' : 'f';
      id->dev = (unsigned long long)st.st_dev;
      id->ino = (unsigned long long)st.st_ino;
    } else {
      /* a path that cannot be looked at (no search permission above it)
       * is not known to be missing */
      id->missing = errno == ENOENT || errno == ENOTDIR;
      id->kind = 'n';
      id->dev = id->ino = 0;
    }
  }
  if (dirfd >= 0) close(dirfd);
  return NULL;
}

/* ---------------------------------------------------------------------
 * Many files of one directory: identified from a listing of it
 *
 * A directory entry carries its file's inode number (d_ino) and type: on
 * the file systems below, a regular file's d_ino is its st_ino, and its
 * device the directory's, unless something is mounted on the entry. So
 * the regular files among many names of one directory are identified by
 * reading the directory once (a fraction of a stat an entry), when no
 * mount point lies in that directory; every other name (a symbolic link,
 * a directory, a name the listing did not show) is looked up by stat.
 * ------------------------------------------------------------------- */

/* Names of one directory, one after the other in the list, from which on
 * the directory is listed. */
#define LISTED_MIN 64
/* A stat costs about five entries of a listing: a directory is listed
 * when it holds at most this many entries for each name looked for (and
 * the listing stops after a few more, should its size mislead). */
#define LISTED_PER_NAME 3

/* A run of paths lo..hi in one directory (dirlen bytes of each path). */
typedef struct listed_run {
  size_t lo, hi, dirlen;
} listed_run;

typedef struct listed_job {
  const char *const *paths;
  file_id *ids;
  const listed_run *runs;
  size_t nruns, first, step;
  char *const *mounts; /* every mount point (NULL: unknown) */
  size_t nmounts;
} listed_job;

/* How many entries the directory fd holds, about, from its size, on the
 * file systems whose d_ino is the file's st_ino (0 on the others): namelen
 * is the length of the names looked for, on average. */
static size_t listing_size(int fd, const struct stat *st, size_t namelen) {
  struct statfs sf;
  size_t size = (size_t)st->st_size, per;
  if (fstatfs(fd, &sf) != 0) return 0;
  switch ((unsigned long)sf.f_type) {
  case 0xEF53UL: /* ext2, ext3, ext4: 8 bytes and the name, by 4 */
    per = (8 + namelen + 3) & ~(size_t)3;
    break;
  case 0x01021994UL: /* tmpfs: 20 an entry */
    per = 20;
    break;
  case 0x58465342UL: /* xfs: 12 bytes and the name, by 8 */
    per = (12 + namelen + 7) & ~(size_t)7;
    break;
  case 0x9123683EUL: /* btrfs: twice the names */
    per = 2 * namelen;
    break;
  default: return 0;
  }
  return per ? size / per + 1 : 0;
}


/* Every mount point of this process's view, from /proc/self/mountinfo
 * (its fifth field), into a malloc'd array of malloc'd strings; -1 when it
 * cannot be read. */
static int read_mounts(char ***out, size_t *n) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char line[8192];
  char **v = NULL;
  size_t count = 0, cap = 0;
  int failed = 0;
  *out = NULL;
  *n = 0;
  if (!f) return -1;
  while (!failed && fgets(line, sizeof line, f)) {
    char *mp = line, *sp;
    int k;
    if (!strchr(line, '\n') && !feof(f)) {
      failed = 1; /* a line longer than the buffer */
      break;
    }
    for (k = 0; k < 4 && mp; k++) {
      mp = strchr(mp, ' ');
      if (mp) mp++;
    }
    if (!mp || !(sp = strchr(mp, ' '))) {
      failed = 1; /* not a mountinfo line */
      break;
    }
    *sp = '\0';
    rm_native_mount_unescape(mp);
    if (count == cap) {
      size_t c = cap ? cap * 2 : 64;
      char **nv = (char **)realloc(v, c * sizeof *nv);
      if (!nv) {
        failed = 1;
        break;
      }
      v = nv;
      cap = c;
    }
    if (!(v[count] = strdup(mp))) failed = 1;
    else count++;
  }
  if (ferror(f)) failed = 1;
  fclose(f);
  if (failed) {
    while (count) free(v[--count]);
    free(v);
    return -1;
  }
  *out = v;
  *n = count;
  return 0;
}

/* 1 when a mount point is an entry of the directory real (canonical). */
static int mount_inside(const listed_job *j, const char *real) {
  size_t i, len = strlen(real);
  for (i = 0; i < j->nmounts; i++) {
    const char *m = j->mounts[i], *slash = strrchr(m, '/');
    size_t plen;
    if (!slash || !slash[1]) continue;
    plen = slash == m ? 1 : (size_t)(slash - m);
    if (plen == len && memcmp(m, real, len) == 0) return 1;
  }
  return 0;
}

static uint64_t name_hash(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h ^ (h >> 29);
}

struct listed_dirent {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* Identifies the regular files among the paths of run r from one listing
 * of their directory; leaves the others (and all of them, when the
 * directory cannot be listed or is not fit for it) to stat. */
static void list_run(const listed_job *j, const listed_run *r) {
  char dir[PATH_MAX], *real;
  const char *first = j->paths[r->lo];
  size_t want = 0, i, cap = 16, seen = 0, limit, namelen = 0, entries = 0;
  uint32_t *slot = NULL; /* place + 1 of a name looked for, 0: free */
  struct stat dst;
  int fd, ok;
  union {
    char bytes[32768];
    uint64_t align;
  } buf;
  if (r->dirlen >= sizeof dir || !j->mounts) return;
  memcpy(dir, first, r->dirlen);
  dir[r->dirlen] = '\0';
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  for (i = r->lo; i < r->hi; i++) namelen += strlen(j->paths[i]);
  namelen = namelen / (r->hi - r->lo) - r->dirlen - 1;
  if (fstat(fd, &dst) == 0) entries = listing_size(fd, &dst, namelen);
  ok = entries && entries <= (r->hi - r->lo) * LISTED_PER_NAME;
  if (ok) {
    real = realpath(dir, NULL);
    ok = real && !mount_inside(j, real);
    free(real);
  }
  /* a table of the names looked for (a list too long for 32-bit places
   * is looked up by stat) */
  while (ok && cap < (r->hi - r->lo) * 2) cap <<= 1;
  if (ok && (r->hi >= UINT32_MAX ||
             !(slot = (uint32_t *)calloc(cap, sizeof *slot))))
    ok = 0;
  for (i = r->lo; ok && i < r->hi; i++) {
    const char *name = j->paths[i] + r->dirlen + 1;
    size_t k = (size_t)name_hash(name, strlen(name)) & (cap - 1);
    while (slot[k] && strcmp(j->paths[slot[k] - 1] + r->dirlen + 1, name))
      k = (k + 1) & (cap - 1);
    if (!slot[k]) {
      slot[k] = (uint32_t)(i + 1);
      want++;
    } /* else a name given twice: the second is looked up by stat */
  }
  limit = want * (LISTED_PER_NAME + 1) + 256;
  while (ok && want && seen < limit) {
    long n = syscall(SYS_getdents64, fd, buf.bytes, sizeof buf.bytes);
    long off;
    if (n <= 0) break;
    for (off = 0; off < n && want; seen++) {
      struct listed_dirent *e = (struct listed_dirent *)(buf.bytes + off);
      size_t len = strlen(e->d_name), k;
      off += e->d_reclen;
      if (e->d_type != DT_REG || e->d_ino == 0) continue;
      k = (size_t)name_hash(e->d_name, len) & (cap - 1);
      while (slot[k] &&
             strcmp(j->paths[slot[k] - 1] + r->dirlen + 1, e->d_name))
        k = (k + 1) & (cap - 1);
      if (slot[k]) {
        file_id *id = &j->ids[slot[k] - 1];
        if (!id->kind) {
          id->kind = 'f';
          id->missing = 0;
          id->dev = (unsigned long long)dst.st_dev;
          id->ino = (unsigned long long)e->d_ino;
          want--;
        }
      }
    }
  }
  free(slot);
  close(fd);
}

static void *list_runs(void *arg) {
  listed_job *j = (listed_job *)arg;
  size_t i;
  for (i = j->first; i < j->nruns; i += j->step) list_run(j, &j->runs[i]);
  return NULL;
}

/* The runs of LISTED_MIN or more paths of one directory, one after the
 * other, into a malloc'd array (NULL and 0 when none). */
static size_t find_runs(const char *const *paths, size_t n,
                        listed_run **out) {
  size_t i = 0, count = 0, cap = 0;
  listed_run *runs = NULL;
  *out = NULL;
  while (i < n) {
    const char *slash = strrchr(paths[i], '/');
    size_t len, k = i + 1;
    if (!slash || slash == paths[i] || !slash[1]) {
      i++;
      continue;
    }
    len = (size_t)(slash - paths[i]);
    while (k < n && strncmp(paths[k], paths[i], len) == 0 &&
           paths[k][len] == '/' && paths[k][len + 1] &&
           !strchr(paths[k] + len + 1, '/'))
      k++;
    if (k - i >= LISTED_MIN) {
      if (count == cap) {
        size_t c = cap ? cap * 2 : 8;
        listed_run *nr = (listed_run *)realloc(runs, c * sizeof *nr);
        if (!nr) break; /* the rest is looked up by stat */
        runs = nr;
        cap = c;
      }
      runs[count].lo = i;
      runs[count].hi = k;
      runs[count].dirlen = len;
      count++;
    }
    i = k;
  }
  *out = runs;
  return count;
}

void rm_native_identify(const char *const *paths, rm_native_file_id *ids,
                        size_t n) {
  stat_job jobs[2];
  pthread_t th;
  listed_run *runs;
  size_t nruns, i, todo = 0;
  for (i = 0; i < n; i++) ids[i].kind = 0;
  nruns = find_runs(paths, n, &runs);
  if (nruns) {
    listed_job lj[2];
    char **mounts = NULL;
    size_t nmounts = 0;
    int two;
    if (read_mounts(&mounts, &nmounts) == 0) {
      for (i = 0; i < 2; i++) {
        lj[i].paths = paths;
        lj[i].ids = ids;
        lj[i].runs = runs;
        lj[i].nruns = nruns;
        lj[i].first = i;
        lj[i].step = 2;
        lj[i].mounts = mounts;
        lj[i].nmounts = nmounts;
      }
      two = nruns > 1 && rm_native_thread_start(&th, list_runs, &lj[1], 1) == 0;
      if (!two) lj[0].step = 1;
      list_runs(&lj[0]);
      if (two) pthread_join(th, NULL);
      for (i = 0; i < nmounts; i++) free(mounts[i]);
      free(mounts);
    }
    free(runs);
  }
  /* what is left is looked up by stat, half of it on each thread */
  for (i = 0; i < n; i++) todo += !ids[i].kind;
  jobs[0].paths = jobs[1].paths = paths;
  jobs[0].ids = jobs[1].ids = ids;
  jobs[0].lo = 0;
  jobs[0].hi = jobs[1].lo = n;
  jobs[1].hi = n;
  if (todo >= 1024) {
    size_t half = 0;
    for (i = 0; i < n && half < todo / 2; i++) half += !ids[i].kind;
    jobs[0].hi = jobs[1].lo = i;
  }
  if (jobs[1].lo < n &&
      rm_native_thread_start(&th, stat_range, &jobs[1], 1) == 0) {
    stat_range(&jobs[0]);
    pthread_join(th, NULL);
  } else {
    jobs[0].hi = n;
    stat_range(&jobs[0]);
  }
}

static void add_file_entry(rm_native_buf *b, const char *path,
                           const file_id *id, const char *cwd) {
  char head[64];
  if (id->kind == 'u') {
    rm_native_gb_add(b, "Fu:0:0:", 7);
  } else {
    size_t n = (size_t)snprintf(head, sizeof head, "F%c:%llu:%llu:",
                                id->kind, id->dev, id->ino);
    rm_native_gb_add(b, head, n);
  }
  if (path[0] != '/' && cwd) {
    rm_native_gb_add(b, cwd, strlen(cwd));
    rm_native_gb_add(b, "/", 1);
  }
  rm_native_gb_str(b, path);
}

/* The payload of one record, into b. cwd: the working directory, for
 * relative paths. */
static unsigned build_payload(rm_native_buf *b, size_t nfiles,
                              const char *const *files, const char *cwd,
                              size_t nprocs, const rm_unique_process *procs,
                              size_t nsvcs, const char *const *svcs,
                              int identify) {
  char head[64];
  size_t i;
  if (nfiles && identify) {
    file_id *ids = (file_id *)malloc(nfiles * sizeof *ids);
    if (!ids) return RM_E_OUTOFMEMORY;
    rm_native_identify(files, ids, nfiles);
    for (i = 0; i < nfiles; i++) add_file_entry(b, files[i], &ids[i], cwd);
    free(ids);
  } else if (nfiles) {
    /* identified by the scan, when it looks the paths up */
    file_id none;
    none.missing = 0;
    none.kind = 'u';
    none.dev = none.ino = 0;
    for (i = 0; i < nfiles; i++) add_file_entry(b, files[i], &none, cwd);
  }
  for (i = 0; i < nprocs; i++) {
    /* with the process's pidfs inode where there is one: it tells the
     * process from one that took its pid within the same clock tick */
    uint64_t ino = rm_native_pidfs_ino(procs[i].pid, procs[i].start_time);
    int n = ino ? snprintf(head, sizeof head, "P%lu:%llu:%llu",
                           (unsigned long)procs[i].pid,
                           (unsigned long long)procs[i].start_time,
                           (unsigned long long)ino)
                : snprintf(head, sizeof head, "P%lu:%llu",
                           (unsigned long)procs[i].pid,
                           (unsigned long long)procs[i].start_time);
    rm_native_gb_add(b, head, (size_t)n + 1);
  }
  for (i = 0; i < nsvcs; i++) {
    rm_native_gb_add(b, "S", 1);
    rm_native_gb_str(b, svcs[i]);
  }
  return b->failed ? RM_E_OUTOFMEMORY : RM_OK;
}

static int record_head(char *head, size_t size, const char *payload,
                       size_t plen);

/* Appends the record (header, then b's payload and newline) to fd, which
 * the caller has locked; cuts a partly written record back off. */
static unsigned write_record(int fd, const char *payload, size_t plen) {
  char head[64];
  struct iovec iov[3];
  struct stat st;
  size_t total, done = 0, k;
  off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
  int n = record_head(head, sizeof head, payload, plen);
  iov[0].iov_base = head;
  iov[0].iov_len = (size_t)n;
  iov[1].iov_base = (void *)payload;
  iov[1].iov_len = plen;
  iov[2].iov_base = (void *)"\n";
  iov[2].iov_len = 1;
  total = (size_t)n + plen + 1;
  while (done < total) {
    ssize_t w;
    /* the iovecs past what is written */
    size_t skip = done, first = 0;
    struct iovec rest[3];
    for (k = 0; k < 3; k++) {
      if (skip >= iov[k].iov_len) {
        skip -= iov[k].iov_len;
        continue;
      }
      rest[first].iov_base = (char *)iov[k].iov_base + skip;
      rest[first].iov_len = iov[k].iov_len - skip;
      skip = 0;
      first++;
    }
    w = writev(fd, rest, (int)first);
    if (w < 0) {
      if (errno == EINTR) continue;
      /* the lock is still held: no one appended after the part written */
      if (before >= 0) (void)!ftruncate(fd, before);
      return RM_E_WRITE_FAULT;
    }
    done += (size_t)w;
  }
  return RM_OK;
}

/* The payload of one record naming these resources, into b (checked as
 * the reader will check it). */
static unsigned make_payload(rm_native_buf *b, size_t nfiles,
                             const char *const *files, size_t nprocs,
                             const rm_unique_process *procs, size_t nsvcs,
                             const char *const *svcs, int identify) {
  char *cwd = NULL;
  size_t i, start = b->len; /* b may hold earlier payloads */
  unsigned rc;
  int relative = 0;
  /* every argument is checked before anything is allocated */
  for (i = 0; i < nsvcs; i++)
    if (svcs[i][0] == '\0') return RM_E_BAD_ARGUMENTS;
  for (i = 0; i < nfiles; i++) {
    if (files[i][0] == '\0') return RM_E_BAD_ARGUMENTS;
    if (files[i][0] != '/') relative = 1;
  }
  if (relative && !(cwd = getcwd(NULL, 0)))
    /* no working directory to resolve against (it was removed): refused
     * rather than recorded as a path no one can find */
    return rm_native_errno_code(errno, RM_E_BAD_ARGUMENTS);
  rc = build_payload(b, nfiles, files, cwd, nprocs, procs, nsvcs, svcs,
                     identify);
  free(cwd);
  if (rc == RM_OK && b->len > start &&
      rm_native_parse_payload(b->p + start, b->len - start, NULL, NULL) != 0)
    rc = RM_E_BAD_ARGUMENTS; /* a record the reader would refuse */
  return rc;
}

/* The header line of a record with that payload, into head (64 bytes):
 * its length. */
static int record_head(char *head, size_t size, const char *payload,
                       size_t plen) {
  int n = 1 + snprintf(head + 1, size - 1, RECORD_TAG "%lu %016llx\n",
                       (unsigned long)plen,
                       (unsigned long long)fnv1a(payload, plen));
  head[0] = '\0';
  return n;
}

unsigned rm_native_records_add(rm_native_buf *out, size_t nfiles,
                               const char *const *files, size_t nprocs,
                               const rm_unique_process *procs, size_t nsvcs,
                               const char *const *svcs) {
  size_t before = out->len;
  unsigned rc =
      make_payload(out, nfiles, files, nprocs, procs, nsvcs, svcs, 0);
  if (rc != RM_OK || out->failed) {
    /* all or nothing: the buffer holds what it held */
    out->failed = 0;
    out->len = before;
    return rc != RM_OK ? rc : RM_E_OUTOFMEMORY;
  }
  return RM_OK;
}

unsigned rm_native_records_append(int dirfd, size_t nfiles,
                                  const char *const *files, size_t nprocs,
                                  const rm_unique_process *procs,
                                  size_t nsvcs, const char *const *svcs) {
  rm_native_buf b = {0};
  unsigned rc;
  int fd;
  rc = make_payload(&b, nfiles, files, nprocs, procs, nsvcs, svcs, 1);
  if (rc != RM_OK || b.len == 0) {
    free(b.p);
    return rc;
  }
  /* O_NONBLOCK: a FIFO there fails (ENXIO) rather than blocks; only a
   * regular file takes records (a device would swallow them) */
  fd = openat(dirfd, RECORDS_NAME,
              O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
                  O_CLOEXEC,
              0600);
  if (fd < 0) {
    free(b.p);
    return errno == ENOENT ? RM_E_INVALID_HANDLE
                           : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  }
  if (!rm_native_regular(fd)) {
    close(fd);
    free(b.p);
    return RM_E_WRITE_FAULT;
  }
  rc = rm_native_lock_within(fd, RECORD_LOCK_TIMEOUT_MS);
  if (rc == RM_OK) rc = write_record(fd, b.p, b.len);
  close(fd); /* releases the lock */
  free(b.p);
  return rc;
}

unsigned rm_native_records_load(int dirfd, char **buf, size_t *len) {
  struct stat st;
  size_t cap, total = 0;
  char *p;
  int fd = openat(dirfd, RECORDS_NAME,
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  *buf = NULL;
  *len = 0;
  if (fd < 0)
    return errno == ENOENT ? RM_OK : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return RM_E_WRITE_FAULT;
  }
  cap = (size_t)st.st_size + 1;
  p = (char *)malloc(cap);
  if (!p) {
    close(fd);
    return RM_E_OUTOFMEMORY;
  }
  /* a writer may be appending: read what there is, up to the size seen */
  while (total < cap - 1) {
    ssize_t n = read(fd, p + total, cap - 1 - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      free(p);
      close(fd);
      return RM_E_WRITE_FAULT;
    }
    if (n == 0) break;
    total += (size_t)n;
  }
  close(fd);
  p[total] = '\0';
  *buf = p;
  *len = total;
  return RM_OK;
}

/* Parses "<digits>" ending at stop; 0 on success. */
static int parse_ull(const char *p, const char *end, char stop,
                     unsigned long long *v, const char **next) {
  unsigned long long x = 0;
  const char *q = p;
  while (q < end && *q >= '0' && *q <= '9') {
    unsigned d = (unsigned)(*q - '0');
    if (x > (~0ull - d) / 10) return -1;
    x = x * 10 + d;
    q++;
  }
  if (q == p || q >= end || *q != stop) return -1;
  *v = x;
  *next = q + 1;
  return 0;
}

/* Checks (fn NULL) or delivers the entries of one payload. */
static int payload_entries(const char *p, size_t len, rm_native_entry_fn fn,
                           void *ctx) {
  const char *end = p + len;
  if (len == 0 || p[len - 1] != '\0') return -1;
  while (p < end) {
    const char *z = (const char *)memchr(p, '\0', (size_t)(end - p));
    rm_native_entry e;
    unsigned long long a, b;
    const char *q;
    memset(&e, 0, sizeof e);
    if (!z || z == p) return -1;
    switch (p[0]) {
    case 'F':
      if (z - p < 4 ||
          (p[1] != 'f' && p[1] != 'd' && p[1] != 'n' && p[1] != 'u') ||
          p[2] != ':')
        return -1;
      e.kind = p[1];
      if (parse_ull(p + 3, z, ':', &a, &q) != 0 ||
          parse_ull(q, z, ':', &b, &q) != 0 || q >= z || *q != '/')
        return -1;
      e.dev = a;
      e.ino = b;
      e.text = q;
      if (fn) fn(ctx, 'F', &e);
      break;
    case 'P':
      if (parse_ull(p + 1, z, ':', &a, &q) != 0 || a > 0xFFFFFFFFull)
        return -1;
      /* the start time, then optionally ":" and the pidfs inode, run to
       * the entry's end */
      {
        const char *r = q;
        unsigned long long ino = 0, *v = &b;
        b = 0;
        if (r == z) return -1;
        while (r < z) {
          unsigned d;
          if (*r == ':' && v == &b && r > q && r + 1 < z) {
            v = &ino;
            r++;
            continue;
          }
          if (*r < '0' || *r > '9') return -1;
          d = (unsigned)(*r - '0');
          if (*v > (~0ull - d) / 10) return -1;
          *v = *v * 10 + d;
          r++;
        }
        e.ino = ino;
      }
      e.proc.pid = (uint32_t)a;
      e.proc.start_time = b;
      if (fn) fn(ctx, 'P', &e);
      break;
    case 'S':
      if (z - p < 2) return -1;
      e.text = p + 1;
      if (fn) fn(ctx, 'S', &e);
      break;
    default:
      return -1;
    }
    p = z + 1;
  }
  return 0;
}

void rm_native_payload_each(const char *p, size_t len, rm_native_entry_fn fn,
                            void *ctx) {
  if (len) (void)payload_entries(p, len, fn, ctx);
}

int rm_native_parse_payload(const char *p, size_t len, rm_native_entry_fn fn,
                            void *ctx) {
  if (payload_entries(p, len, NULL, NULL) != 0) return -1;
  return fn ? payload_entries(p, len, fn, ctx) : 0;
}

size_t rm_native_records_each(const char *buf, size_t len, rm_native_entry_fn fn,
                           void *ctx) {
  size_t off = 0, skipped = 0;
  const size_t mlen = sizeof RECORD_MAGIC - 1;
  while (off < len) {
    const char *rec = (const char *)memmem(buf + off, len - off, RECORD_MAGIC,
                                           mlen);
    const char *q, *nl, *payload;
    unsigned long long plen, hash = 0;
    size_t start, i;
    if (!rec) {
      if (len - off > 0) skipped++;
      break;
    }
    start = (size_t)(rec - buf);
    if (start > off) skipped++; /* garbage before this header */
    q = rec + mlen;
    /* a header line is short: look no further for its end */
    nl = (const char *)memchr(q, '\n', len - (size_t)(q - buf) < 64
                                           ? len - (size_t)(q - buf)
                                           : 64);
    if (!nl || parse_ull(q, nl, ' ', &plen, &q) != 0 || nl - q != 16)
      goto bad;
    for (i = 0; i < 16; i++) {
      char c = q[i];
      unsigned d;
      if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
      else goto bad;
      hash = hash << 4 | d;
    }
    payload = nl + 1;
    /* the payload and the final newline */
    if (plen >= len - (size_t)(payload - buf) || payload[plen] != '\n')
      goto bad;
    if (fnv1a(payload, (size_t)plen) != hash ||
        rm_native_parse_payload(payload, (size_t)plen, fn, ctx) != 0)
      goto bad;
    off = (size_t)(payload - buf) + (size_t)plen + 1;
    continue;
  bad:
    skipped++;
    off = start + 1; /* look for the next header */
    /* the skipped bytes up to the next header are this bad record's */
    {
      const char *nx = (const char *)memmem(buf + off, len - off,
                                            RECORD_MAGIC, mlen);
      off = nx ? (size_t)(nx - buf) : len;
    }
  }
  return skipped;
}
