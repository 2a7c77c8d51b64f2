/*
 * Native backend: sessions and the per-user session store.
 *
 * The store is one directory per user ($XDG_RUNTIME_DIR/restartmanager, else
 * /tmp/restartmanager-UID), mode 0700. A session is a subdirectory named by
 * its key; its primary holds an exclusive flock on the session's "lock" file
 * for as long as the session lives, so a session whose lock can be taken has
 * lost its primary and is stale. Start and join take a lock on the store
 * directory itself while they look at or change the set of sessions.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

#define MAX_SESSIONS 64
#define STORE_LOCK_TIMEOUT_MS 5000
#define LOCK_NAME "lock"

const char rm_backend_name[] = "linux";
/* file names are bytes on Linux */
const int rm_backend_needs_utf8 = 0;

int rm_native_store_path(char *buf, size_t size) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (xdg && xdg[0] == '/')
    n = snprintf(buf, size, "%s/restartmanager", xdg);
  else
    n = snprintf(buf, size, "/tmp/restartmanager-%lu",
                 (unsigned long)geteuid());
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int rm_native_store_open(unsigned *rc) {
  char path[4096];
  struct stat st;
  int fd;
  if (rm_native_store_path(path, sizeof path) != 0) {
    *rc = RM_E_WRITE_FAULT;
    return -1;
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    *rc = errno == EACCES ? RM_E_ACCESS_DENIED
                          : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    return -1;
  }
  fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    /* ELOOP or ENOTDIR: a symlink or a file where the store should be */
    *rc = (errno == ELOOP || errno == ENOTDIR || errno == EACCES)
              ? RM_E_ACCESS_DENIED
              : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    return -1;
  }
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    close(fd);
    *rc = RM_E_ACCESS_DENIED;
    return -1;
  }
  return fd;
}

int rm_native_valid_key(const char *key) {
  size_t i;
  for (i = 0; i < RM_KEY_LEN; i++)
    if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
      return 0;
  return key[RM_KEY_LEN] == '\0';
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* An exclusive lock on fd, waiting at most timeout_ms. */
static unsigned lock_within(int fd, long timeout_ms) {
  long waited = 0, step = 1;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return RM_OK;
    if (errno != EWOULDBLOCK && errno != EINTR) return RM_E_WRITE_FAULT;
    if (waited >= timeout_ms) return RM_E_SEM_TIMEOUT;
    sleep_ms(step);
    waited += step;
    if (step < 16) step *= 2;
  }
}

/* Removes a session directory and everything in it (one level deep: a
 * session holds only files). */
static void remove_session_dir(int storefd, const char *key) {
  int fd = openat(storefd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                    O_CLOEXEC);
  if (fd >= 0) {
    DIR *d = fdopendir(fd);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        (void)unlinkat(fd, e->d_name, 0);
      }
      closedir(d); /* closes fd */
    } else {
      close(fd);
    }
  }
  (void)unlinkat(storefd, key, AT_REMOVEDIR);
}

/* 1 when the session dir at dirfd has a live primary, 0 when it is stale,
 * -1 (errno set) when that cannot be known: out of descriptors or memory, a
 * live session is never taken for a stale one. */
static int session_alive(int dirfd) {
  int fd = openat(dirfd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int alive, err;
  if (fd < 0) return rm_native_errno_code(errno, 0) ? -1 : 0;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0)
    alive = 0;
  else
    alive = errno == EWOULDBLOCK ? 1 : -1;
  err = errno;
  close(fd); /* drops the lock if we took it */
  errno = err;
  return alive;
}

/* With the store locked: removes stale sessions, returns how many live. */
static int sweep(int storefd) {
  int dupfd = dup(storefd), live = 0;
  DIR *d;
  struct dirent *e;
  char stale[MAX_SESSIONS * 4][RM_KEY_LEN + 1];
  int nstale = 0, i;
  if (dupfd < 0) return -1;
  d = fdopendir(dupfd);
  if (!d) {
    close(dupfd);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    int fd;
    if (!rm_native_valid_key(e->d_name)) continue;
    fd = openat(storefd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
    if (fd < 0) {
      /* out of descriptors: it may well be live */
      if (rm_native_errno_code(errno, 0)) live++;
      continue;
    }
    if (session_alive(fd) != 0) /* alive, or not known to be dead */
      live++;
    else if (nstale < (int)(sizeof stale / sizeof stale[0]))
      memcpy(stale[nstale++], e->d_name, RM_KEY_LEN + 1);
    close(fd);
  }
  closedir(d);
  for (i = 0; i < nstale; i++) remove_session_dir(storefd, stale[i]);
  return live;
}

static void hex_key(const unsigned char *raw, char *key) {
  static const char hex[] = "0123456789abcdef";
  int i;
  for (i = 0; i < RM_KEY_LEN / 2; i++) {
    key[2 * i] = hex[raw[i] >> 4];
    key[2 * i + 1] = hex[raw[i] & 15];
  }
  key[RM_KEY_LEN] = '\0';
}

static unsigned random_bytes(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return RM_E_WRITE_FAULT;
    }
    got += (size_t)r;
  }
  return RM_OK;
}

static rm_session *new_session(void) {
  rm_session *s = (rm_session *)calloc(1, sizeof *s);
  if (s) s->storefd = s->dirfd = s->lockfd = -1;
  return s;
}

static void free_session(rm_session *s) {
  if (s->primary) rm_native_primary_remove(s);
  if (s->control) rm_native_control_free(s->control);
  if (s->dirfd >= 0) close(s->dirfd);
  if (s->lockfd >= 0) close(s->lockfd);
  if (s->storefd >= 0) close(s->storefd);
  free(s);
}

/* Creates a new session directory with its lock held, store locked. */
static unsigned create_session(rm_session *s) {
  int tries;
  for (tries = 0; tries < 8; tries++) {
    unsigned char raw[RM_KEY_LEN / 2];
    unsigned rc = random_bytes(raw, sizeof raw);
    if (rc != RM_OK) return rc;
    hex_key(raw, s->key);
    if (mkdirat(s->storefd, s->key, 0700) != 0) {
      if (errno == EEXIST) continue;
      return rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    }
    s->dirfd = openat(s->storefd, s->key,
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->dirfd >= 0)
      s->lockfd = openat(s->dirfd, LOCK_NAME,
                         O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
      unsigned code = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
      remove_session_dir(s->storefd, s->key);
      return code;
    }
    return RM_OK;
  }
  return RM_E_WRITE_FAULT;
}

unsigned rm_backend_start(rm_session **out, char key[RM_KEY_LEN + 1]) {
  rm_session *s = new_session();
  unsigned rc;
  int live;
  *out = NULL;
  if (!s) return RM_E_OUTOFMEMORY;
  s->primary = 1;
  s->storefd = rm_native_store_open(&rc);
  if (s->storefd < 0) goto fail;
  rc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
  if (rc != RM_OK) goto fail;
  live = sweep(s->storefd);
  if (live < 0)
    rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  else if (live >= MAX_SESSIONS)
    rc = RM_E_MAX_SESSIONS_REACHED;
  else
    rc = create_session(s);
  (void)flock(s->storefd, LOCK_UN);
  if (rc == RM_OK) rc = rm_native_primary_add(s);
  if (rc != RM_OK) {
    if (s->dirfd >= 0) remove_session_dir(s->storefd, s->key);
    goto fail;
  }
  memcpy(key, s->key, RM_KEY_LEN + 1);
  *out = s;
  return RM_OK;
fail:
  free_session(s);
  return rc;
}

unsigned rm_backend_join(rm_session **out, const char *key) {
  rm_session *s;
  struct stat st;
  unsigned rc;
  *out = NULL;
  /* a malformed key never reaches the file system */
  if (strlen(key) != RM_KEY_LEN || !rm_native_valid_key(key))
    return RM_E_SESSION_CREDENTIAL_CONFLICT;
  s = new_session();
  if (!s) return RM_E_OUTOFMEMORY;
  memcpy(s->key, key, RM_KEY_LEN + 1);
  s->storefd = rm_native_store_open(&rc);
  if (s->storefd < 0) goto fail;
  rc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
  if (rc != RM_OK) goto fail;
  (void)sweep(s->storefd);
  rc = RM_E_SESSION_CREDENTIAL_CONFLICT;
  s->dirfd = openat(s->storefd, key,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (s->dirfd < 0) {
    rc = rm_native_errno_code(errno, rc);
  } else if (fstat(s->dirfd, &st) == 0 && st.st_uid == geteuid()) {
    int alive = session_alive(s->dirfd);
    if (alive > 0) rc = RM_OK;
    else if (alive < 0) rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  }
  (void)flock(s->storefd, LOCK_UN);
  if (rc != RM_OK) goto fail;
  *out = s;
  return RM_OK;
fail:
  free_session(s);
  return rc;
}

int rm_backend_is_primary(const rm_session *s) { return s->primary; }

unsigned rm_native_session_check(rm_session *s) {
  struct stat st;
  int alive;
  if (s->primary) return RM_OK;
  if (fstat(s->dirfd, &st) != 0 || st.st_nlink == 0)
    return RM_E_INVALID_HANDLE;
  alive = session_alive(s->dirfd);
  if (alive < 0) return rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  return alive ? RM_OK : RM_E_INVALID_HANDLE;
}

unsigned rm_backend_end(rm_session *s) {
  unsigned rc = RM_OK;
  if (s->primary) {
    /* The store lock keeps a concurrent join from finding a half-removed
     * session; without it (timeout) the removal is still safe. */
    unsigned lrc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
    remove_session_dir(s->storefd, s->key);
    if (lrc == RM_OK) (void)flock(s->storefd, LOCK_UN);
  } else {
    rc = rm_native_session_check(s);
  }
  free_session(s);
  return rc;
}

/* ---------------------------------------------------------------------
 * Registrations: records appended to the session's "records" file.
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
 *   F<kind>:<dev>:<ino>:<absolute path>   kind f (file), d (dir), n (none)
 *   P<pid>:<start time>
 *   S<service name>
 * ------------------------------------------------------------------- */

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

/* What a registered path was when it was registered. */
typedef struct file_id {
  char kind; /* 'f' file, 'd' directory, 'n' did not exist */
  unsigned long long dev, ino;
} file_id;

typedef struct stat_job {
  const char *const *paths;
  file_id *ids;
  size_t lo, hi;
} stat_job;

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
    if (r == 0) {
      id->kind = S_ISDIR(st.st_mode) ? 'd' : 'f';
      id->dev = (unsigned long long)st.st_dev;
      id->ino = (unsigned long long)st.st_ino;
    } else {
      id->kind = 'n';
      id->dev = id->ino = 0;
    }
  }
  if (dirfd >= 0) close(dirfd);
  return NULL;
}

/* Identifies every path, on two threads for long lists. */
static void stat_all(const char *const *paths, file_id *ids, size_t n) {
  stat_job jobs[2];
  pthread_t th;
  jobs[0].paths = jobs[1].paths = paths;
  jobs[0].ids = jobs[1].ids = ids;
  jobs[0].lo = 0;
  jobs[0].hi = jobs[1].lo = n >= 1024 ? n / 2 : n;
  jobs[1].hi = n;
  if (jobs[1].lo < n && pthread_create(&th, NULL, stat_range, &jobs[1]) == 0) {
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
  size_t n = (size_t)snprintf(head, sizeof head, "F%c:%llu:%llu:", id->kind,
                              id->dev, id->ino);
  rm_native_gb_add(b, head, n);
  if (path[0] != '/' && cwd) {
    rm_native_gb_add(b, cwd, strlen(cwd));
    rm_native_gb_add(b, "/", 1);
  }
  rm_native_gb_str(b, path);
}

unsigned rm_backend_register(rm_session *s, size_t nfiles, const char *const *files,
                      size_t nprocs, const rm_unique_process *procs,
                      size_t nsvcs, const char *const *svcs) {
  rm_native_buf b = {NULL, 0, 0, 0};
  char head[64], *cwd = NULL;
  size_t i, plen;
  uint64_t hash;
  unsigned rc = rm_native_session_check(s);
  int fd;
  if (rc != RM_OK) return rc;
  for (i = 0; i < nsvcs; i++)
    if (svcs[i][0] == '\0') return RM_E_BAD_ARGUMENTS;
  for (i = 0; i < nfiles; i++) {
    if (files[i][0] == '\0') return RM_E_BAD_ARGUMENTS;
    if (files[i][0] != '/' && !cwd) cwd = getcwd(NULL, 0);
  }
  if (nfiles) {
    file_id *ids = (file_id *)malloc(nfiles * sizeof *ids);
    if (!ids) {
      free(cwd);
      return RM_E_OUTOFMEMORY;
    }
    stat_all(files, ids, nfiles);
    for (i = 0; i < nfiles; i++) add_file_entry(&b, files[i], &ids[i], cwd);
    free(ids);
  }
  free(cwd);
  for (i = 0; i < nprocs; i++) {
    int n = snprintf(head, sizeof head, "P%lu:%llu",
                     (unsigned long)procs[i].pid,
                     (unsigned long long)procs[i].start_time);
    rm_native_gb_add(&b, head, (size_t)n + 1);
  }
  for (i = 0; i < nsvcs; i++) {
    rm_native_gb_add(&b, "S", 1);
    rm_native_gb_str(&b, svcs[i]);
  }
  if (b.failed) {
    free(b.p);
    return RM_E_OUTOFMEMORY;
  }
  if (b.len == 0) return RM_OK;
  plen = b.len;
  hash = fnv1a(b.p, plen);
  rm_native_gb_add(&b, "\n", 1);
  if (b.failed) {
    free(b.p);
    return RM_E_OUTOFMEMORY;
  }
  fd = openat(s->dirfd, RECORDS_NAME,
              O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    free(b.p);
    return errno == ENOENT ? RM_E_INVALID_HANDLE
                           : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  }
  rc = lock_within(fd, RECORD_LOCK_TIMEOUT_MS);
  if (rc == RM_OK) {
    struct iovec iov[2];
    struct stat st;
    size_t total, done = 0;
    off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
    int n = 1 + snprintf(head + 1, sizeof head - 1, RECORD_TAG "%lu %016llx\n",
                         (unsigned long)plen, (unsigned long long)hash);
    head[0] = '\0';
    iov[0].iov_base = head;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = b.p;
    iov[1].iov_len = b.len;
    total = (size_t)n + b.len;
    while (done < total) {
      ssize_t w;
      if (done < (size_t)n) {
        w = writev(fd, iov, 2);
      } else {
        w = write(fd, b.p + (done - (size_t)n), total - done);
      }
      if (w < 0) {
        if (errno == EINTR) continue;
        rc = RM_E_WRITE_FAULT;
        /* the lock is still held: no one appended after the part written */
        if (before >= 0) (void)!ftruncate(fd, before);
        break;
      }
      done += (size_t)w;
      if (done < (size_t)n) {
        iov[0].iov_base = head + done;
        iov[0].iov_len = (size_t)n - done;
      }
    }
  }
  close(fd); /* releases the lock */
  free(b.p);
  return rc;
}

unsigned rm_native_records_load(rm_session *s, char **buf, size_t *len) {
  struct stat st;
  size_t cap, total = 0;
  char *p;
  int fd = openat(s->dirfd, RECORDS_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  *buf = NULL;
  *len = 0;
  if (fd < 0)
    return errno == ENOENT ? RM_OK : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  if (fstat(fd, &st) != 0) {
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
      if (z - p < 4 || (p[1] != 'f' && p[1] != 'd' && p[1] != 'n') ||
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
      /* the start time runs to the entry's end */
      {
        const char *r = q;
        b = 0;
        if (r == z) return -1;
        while (r < z) {
          unsigned d;
          if (*r < '0' || *r > '9') return -1;
          d = (unsigned)(*r - '0');
          if (b > (~0ull - d) / 10) return -1;
          b = b * 10 + d;
          r++;
        }
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

int rm_native_parse_payload(const char *p, size_t len, rm_native_entry_fn fn,
                         void *ctx) {
  if (payload_entries(p, len, NULL, NULL) != 0) return -1;
  return payload_entries(p, len, fn, ctx);
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

size_t rm_native_uninspected(const rm_session *s) { return s->uninspected; }

void rm_backend_error_text(unsigned code, char *buf, size_t size) {
  const char *t;
  switch (code) {
  case RM_OK: t = "the operation completed successfully"; break;
  case RM_E_FILE_NOT_FOUND: t = "no such filter"; break;
  case RM_E_TOO_MANY_OPEN_FILES:
    t = "too many open files: the process reached its descriptor limit "
        "(RLIMIT_NOFILE)";
    break;
  case RM_E_ACCESS_DENIED:
    t = "access denied (a registered path is a directory, or the session "
        "store is not a private directory of the calling user)";
    break;
  case RM_E_INVALID_HANDLE:
    t = "the session is no longer valid (its primary ended it or died)";
    break;
  case RM_E_OUTOFMEMORY: t = "not enough memory"; break;
  case RM_E_INVALID_PARAMETER: t = "no such process"; break;
  case RM_E_WRITE_FAULT: t = "reading or writing the session store failed"; break;
  case RM_E_SEM_TIMEOUT: t = "timed out waiting for the session store's lock"; break;
  case RM_E_BAD_ARGUMENTS: t = "invalid arguments"; break;
  case RM_E_BUSY:
    t = "the session is busy with a shutdown or restart";
    break;
  case RM_E_MORE_DATA: t = "more data is available: the capacity is too small"; break;
  case RM_E_FAIL_NOACTION_REBOOT:
    t = "a reboot is needed: nothing was shut down";
    break;
  case RM_E_FAIL_SHUTDOWN: t = "some applications could not be shut down"; break;
  case RM_E_FAIL_RESTART: t = "some applications could not be restarted"; break;
  case RM_E_MAX_SESSIONS_REACHED:
    t = "the maximum number of sessions (64 per user) is reached";
    break;
  case RM_E_REQUEST_OUT_OF_SEQUENCE:
    t = "restart was called before shutdown";
    break;
  case RM_E_SESSION_CREDENTIAL_CONFLICT:
    t = "the session key is unknown, belongs to another user, or the call is "
        "reserved to the primary installer";
    break;
  case RM_E_CANCELLED: t = "the operation was cancelled"; break;
  default: t = "unknown error"; break;
  }
  snprintf(buf, size, "%s", t);
}
const char *rm_backend_wine_version(void) { return NULL; }
