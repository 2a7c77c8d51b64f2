/*
 * Restart registrations (restartreg.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "restartreg.h"
#include "procfs.h"
#include "store.h"
#include "util.h"

#define RESTART_MAGIC "RMRESTART1"

extern char **environ;

/* ---------------------------------------------------------------------
 * Restart registrations: <store>/restart-<pid>-<start time>, written whole
 * (a temporary file renamed into place). Contents, NUL-separated:
 *   RMRESTART1, flags, executable, working directory, argument count,
 *   arguments..., environment count, environment entries...
 * ------------------------------------------------------------------- */
static void reg_name(char *buf, size_t size, uint32_t pid, uint64_t start) {
  snprintf(buf, size, "restart-%lu-%llu", (unsigned long)pid,
           (unsigned long long)start);
}

static void add_number(rm_native_buf *b, unsigned long long v) {
  char num[32];
  snprintf(num, sizeof num, "%llu", v);
  rm_native_gb_str(b, num);
}

/* The calling process's executable, without " (deleted)". */
static char *self_exe(void) {
  char path[PATH_MAX];
  size_t n;
  char *copy;
  int procfd = rm_native_proc_open(), err;
  if (procfd < 0) return NULL;
  err = rm_native_proc_link(procfd, (uint32_t)getpid(), "exe", path,
                            sizeof path, &n);
  close(procfd);
  if (err || n == 0) return NULL;
  copy = (char *)malloc(n + 1);
  if (copy) memcpy(copy, path, n + 1);
  return copy;
}

/* Removes the registrations of processes that are gone, and the temporary
 * files of writers that died before their rename. */
static void sweep_registrations(int storefd) {
  int fd = dup(storefd);
  DIR *d;
  struct dirent *e;
  if (fd < 0) return;
  d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  while ((e = readdir(d)) != NULL) {
    unsigned long pid;
    unsigned long long start;
    uint64_t now;
    char tail[16];
    int n = sscanf(e->d_name, "restart-%lu-%llu%15s", &pid, &start, tail);
    if (n != 2 && !(n == 3 && (strcmp(tail, ".tmp") == 0 ||
                               strcmp(tail, ".claimed") == 0)))
      continue;
    if (rm_native_proc_start_time((uint32_t)pid, &now) != 0 || now != start)
      (void)unlinkat(storefd, e->d_name, 0);
  }
  closedir(d);
}

/* The registration's bytes for the calling process, into b; program
 * (NULL: the calling process's executable) is what runs on restart. */
static unsigned build_registration(rm_native_buf *b, const char *program,
                                   size_t argc, const char *const *argv,
                                   uint32_t flags) {
  char *exe = program ? strdup(program) : self_exe();
  char *cwd = getcwd(NULL, 0);
  size_t i, n;
  if (!exe || !cwd) {
    free(exe);
    free(cwd);
    return RM_E_OUTOFMEMORY;
  }
  rm_native_gb_str(b, RESTART_MAGIC);
  add_number(b, flags);
  rm_native_gb_str(b, exe);
  rm_native_gb_str(b, cwd);
  free(exe);
  free(cwd);
  add_number(b, argc);
  for (i = 0; i < argc; i++) rm_native_gb_str(b, argv[i]);
  for (n = 0; environ && environ[n]; n++) {
  }
  add_number(b, n);
  for (i = 0; i < n; i++) rm_native_gb_str(b, environ[i]);
  return b->failed ? RM_E_OUTOFMEMORY : RM_OK;
}

/* Writes b to name in the store, whole: a temporary file renamed. */
static unsigned write_whole(int storefd, const char *name,
                            const rm_native_buf *b) {
  char tmp[128];
  unsigned rc = RM_E_WRITE_FAULT;
  int fd;
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  (void)unlinkat(storefd, tmp, 0);
  fd = openat(storefd, tmp,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    size_t done = 0;
    while (done < b->len) {
      ssize_t w = write(fd, b->p + done, b->len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += (size_t)w;
    }
    if (close(fd) == 0 && done == b->len &&
        renameat(storefd, tmp, storefd, name) == 0)
      rc = RM_OK;
    else
      (void)unlinkat(storefd, tmp, 0);
  }
  return rc;
}

unsigned rm_native_restart_register(size_t argc, const char *const *argv,
                                    uint32_t flags) {
  return rm_native_restart_register_as(NULL, argc, argv, flags);
}

unsigned rm_native_restart_register_as(const char *program, size_t argc,
                                       const char *const *argv,
                                       uint32_t flags) {
  rm_native_buf b = {0};
  char name[96];
  uint64_t start;
  unsigned rc;
  int storefd;
  if (program && program[0] != '/') return RM_E_BAD_ARGUMENTS;
  if (rm_native_proc_start_time((uint32_t)getpid(), &start) != 0)
    return RM_E_WRITE_FAULT;
  rc = build_registration(&b, program, argc, argv, flags);
  if (rc != RM_OK) {
    free(b.p);
    return rc;
  }
  storefd = rm_native_store_open(&rc);
  if (storefd < 0) {
    free(b.p);
    return rc;
  }
  sweep_registrations(storefd);
  reg_name(name, sizeof name, (uint32_t)getpid(), start);
  rc = write_whole(storefd, name, &b);
  close(storefd);
  free(b.p);
  return rc;
}

unsigned rm_native_restart_unregister(void) {
  char name[96];
  uint64_t start;
  unsigned rc;
  int storefd;
  if (rm_native_proc_start_time((uint32_t)getpid(), &start) != 0)
    return RM_E_WRITE_FAULT;
  storefd = rm_native_store_open(&rc);
  if (storefd < 0) return rc;
  reg_name(name, sizeof name, (uint32_t)getpid(), start);
  rc = (unlinkat(storefd, name, 0) == 0 || errno == ENOENT)
           ? RM_OK
           : RM_E_WRITE_FAULT;
  close(storefd);
  return rc;
}

void rm_native_restart_free(rm_native_restart_reg *r) {
  free(r->store);
  free(r->buf);
  free(r->argv);
  free(r->envp);
  memset(r, 0, sizeof *r);
}

/* Next NUL-terminated field of [*p, end), or NULL. */
static const char *field(const char **p, const char *end) {
  const char *s = *p, *z;
  if (s >= end) return NULL;
  z = (const char *)memchr(s, '\0', (size_t)(end - s));
  if (!z) return NULL;
  *p = z + 1;
  return s;
}

static int parse_count(const char *s, size_t max, size_t *out) {
  char *end;
  unsigned long long v;
  if (!s || !*s || *s < '0' || *s > '9') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (*end || errno || v > max) return -1;
  *out = (size_t)v;
  return 0;
}
int rm_native_parse_restart(char *buf, size_t len, rm_native_restart_reg *r) {
  const char *p = buf, *end = buf + len, *f;
  size_t argc, envc, i, flags;
  memset(r, 0, sizeof *r);
  f = field(&p, end);
  if (!f || strcmp(f, RESTART_MAGIC) != 0) return -1;
  if (parse_count(field(&p, end), 0xFFFFFFFFu, &flags) != 0) return -1;
  r->flags = (uint32_t)flags;
  r->exe = field(&p, end);
  r->cwd = field(&p, end);
  if (!r->exe || !r->cwd || r->exe[0] != '/' || r->cwd[0] != '/') return -1;
  if (parse_count(field(&p, end), len, &argc) != 0) return -1;
  r->argv = (char **)calloc(argc + 2, sizeof *r->argv);
  if (!r->argv) return -1;
  r->argv[0] = (char *)r->exe;
  for (i = 0; i < argc; i++)
    if (!(r->argv[i + 1] = (char *)field(&p, end))) goto bad;
  if (parse_count(field(&p, end), len, &envc) != 0) goto bad;
  r->envp = (char **)calloc(envc + 1, sizeof *r->envp);
  if (!r->envp) goto bad;
  for (i = 0; i < envc; i++)
    if (!(r->envp[i] = (char *)field(&p, end))) goto bad;
  if (p != end) goto bad;
  return 0;
bad:
  free(r->argv);
  free(r->envp);
  r->argv = r->envp = NULL;
  return -1;
}

/* Reads a registration of pid from the store directory at path, trusted
 * only when the directory and the file belong to uid and no one else may
 * write them. */
static int read_reg_at(const char *store, uid_t uid, const char *name,
                       rm_native_restart_reg *r) {
  struct stat st;
  char *buf;
  size_t total = 0;
  int dfd = open(store, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int fd;
  if (dfd < 0) return -1;
  if (fstat(dfd, &st) != 0 || st.st_uid != uid || (st.st_mode & 077)) {
    close(dfd);
    return -1;
  }
  /* O_NONBLOCK: a FIFO placed there by the store's owner must not block
   * the reader (root, listing that user's processes); only a regular file
   * is read */
  fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  close(dfd);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid ||
      (st.st_mode & 022) || st.st_size > (1 << 24)) {
    close(fd);
    return -1;
  }
  buf = (char *)malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -1;
  }
  while (total < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + total, (size_t)st.st_size - total);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += (size_t)n;
  }
  close(fd);
  if (rm_native_parse_restart(buf, total, r) != 0) {
    free(buf);
    return -1;
  }
  r->buf = buf;
  r->len = total;
  r->store = (char *)malloc(strlen(store) + 1);
  if (r->store) strcpy(r->store, store);
  return 0;
}

/* Renames from to to in the store of r (checked again: its owner's, and
 * no one else's to write). 0 on success. */
static int rename_in_store(const rm_native_restart_reg *r, const char *from,
                           const char *to) {
  struct stat st;
  int dfd, rc = -1;
  if (!r->store) return -1;
  dfd = open(r->store, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return -1;
  if (fstat(dfd, &st) == 0 && (st.st_mode & 077) == 0)
    rc = renameat(dfd, from, dfd, to);
  close(dfd);
  return rc;
}

int rm_native_restart_claim(rm_native_restart_reg *r) {
  char name[96], claimed[112];
  if (r->claimed) return 0;
  reg_name(name, sizeof name, r->pid, r->start);
  snprintf(claimed, sizeof claimed, "%s.claimed", name);
  if (rename_in_store(r, name, claimed) != 0) return -1;
  r->claimed = 1;
  return 0;
}

void rm_native_restart_unclaim(rm_native_restart_reg *r) {
  char name[96], claimed[112];
  if (!r->claimed) return;
  reg_name(name, sizeof name, r->pid, r->start);
  snprintf(claimed, sizeof claimed, "%s.claimed", name);
  (void)rename_in_store(r, claimed, name);
  r->claimed = 0;
}

/* The largest environment read straight from a process's memory. */
#define ENV_DIRECT_MAX 65536

/* pid's environment into env, from its memory where st (its stat, or
 * NULL) says where that lies and it may be read there (one call, where
 * /proc/PID/environ costs an open, a read and a close, reading the same
 * bytes), else from /proc/PID/environ. 0, or an errno value. */
static int read_environ(int procfd, uint32_t pid, const rm_native_stat *st,
                        rm_native_buf *env) {
  if (st && st->env_start && st->env_end > st->env_start &&
      st->env_end - st->env_start <= ENV_DIRECT_MAX &&
      rm_native_gb_reserve(env, (size_t)(st->env_end - st->env_start) + 1) ==
          0) {
    struct iovec local, remote;
    ssize_t n;
    local.iov_base = env->p;
    local.iov_len = remote.iov_len = (size_t)(st->env_end - st->env_start);
    remote.iov_base = (void *)(uintptr_t)st->env_start;
    n = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
    if (n > 0) {
      env->len = (size_t)n;
      env->p[n] = '\0'; /* whatever the process left at the end */
      return 0;
    }
    /* not allowed (ptrace rules stricter than /proc's, or no such
     * call), or gone: /proc tells which */
  }
  return rm_native_proc_read(procfd, pid, "environ", env);
}

/* The value of XDG_RUNTIME_DIR in pid's environment, into buf. st: its
 * stat, or NULL. */
static int process_runtime_dir(int procfd, uint32_t pid,
                               const rm_native_stat *st, char *buf,
                               size_t size) {
  static const char key[] = "XDG_RUNTIME_DIR=";
  const size_t klen = sizeof key - 1;
  rm_native_buf env = {0};
  const char *p;
  int found = -1;
  if (read_environ(procfd, pid, st, &env) == 0) {
    for (p = env.p; p < env.p + env.len; p += strlen(p) + 1) {
      if (strncmp(p, key, klen) == 0 && p[klen] == '/' &&
          strlen(p + klen) + 1 < size) {
        strcpy(buf, p + klen);
        found = 0;
        break;
      }
    }
  }
  free(env.p);
  return found;
}

/* The real uid of pid (the first field of Uid: in /proc/PID/status). */
static int process_real_uid(int procfd, uint32_t pid, uid_t *uid) {
  rm_native_buf b = {0};
  const char *line;
  int rc = -1;
  if (rm_native_proc_read(procfd, pid, "status", &b) == 0) {
    for (line = b.p; line && *line; line = strchr(line, '\n')) {
      if (*line == '\n') line++;
      if (strncmp(line, "Uid:", 4) == 0) {
        char *end;
        unsigned long v = strtoul(line + 4, &end, 10);
        if (end != line + 4) {
          *uid = (uid_t)v;
          rc = 0;
        }
        break;
      }
    }
  }
  free(b.p);
  return rc;
}

/* ---------------------------------------------------------------------
 * A list asks for many processes whether they registered, most often in a
 * store or two: each store's registrations are listed once, when first
 * asked, and a process's registration file is read only when its name is
 * listed there.
 * ------------------------------------------------------------------- */

typedef struct cached_store {
  char *path;
  char *names; /* the registrations' names, each with its NUL */
  size_t len;
} cached_store;

/* The default store of a user: where a process of that uid without
 * XDG_RUNTIME_DIR keeps its registrations (a stat or a password database
 * look-up to find, the same for every process of the user). */
typedef struct cached_home {
  uid_t uid;
  int ok; /* 0 when it could not be told */
  char path[PATH_MAX];
} cached_home;

struct rm_native_restart_cache {
  cached_store *stores;
  size_t n, cap;
  cached_home *homes;
  size_t nhomes;
};

rm_native_restart_cache *rm_native_restart_cache_new(void) {
  return (rm_native_restart_cache *)calloc(1, sizeof(rm_native_restart_cache));
}

void rm_native_restart_cache_free(rm_native_restart_cache *c) {
  size_t i;
  if (!c) return;
  for (i = 0; i < c->n; i++) {
    free(c->stores[i].path);
    free(c->stores[i].names);
  }
  free(c->stores);
  free(c->homes);
  free(c);
}

/* rm_native_store_path_for(uid, NULL, ...), told once a list for each uid
 * (c NULL: every time). */
static int default_store(rm_native_restart_cache *c, uid_t uid, char *buf,
                         size_t size) {
  cached_home *h;
  size_t i;
  if (c) {
    for (i = 0; i < c->nhomes; i++) {
      if (c->homes[i].uid != uid) continue;
      if (!c->homes[i].ok || strlen(c->homes[i].path) >= size) return -1;
      strcpy(buf, c->homes[i].path);
      return 0;
    }
  }
  if (rm_native_store_path_for(uid, NULL, buf, size) != 0) {
    if (!c) return -1;
    buf[0] = '\0';
  }
  if (!c || c->nhomes >= 64) return buf[0] ? 0 : -1;
  if (c->nhomes % 4 == 0) {
    h = (cached_home *)realloc(c->homes, (c->nhomes + 4) * sizeof *h);
    if (!h) return buf[0] ? 0 : -1;
    c->homes = h;
  }
  h = &c->homes[c->nhomes++];
  h->uid = uid;
  h->ok = buf[0] != '\0' && strlen(buf) < sizeof h->path;
  if (h->ok) strcpy(h->path, buf);
  return buf[0] ? 0 : -1;
}

/* The store at path, listed now if it was not yet; NULL when that failed
 * for want of memory or descriptors (the file is then looked up itself). */
static const cached_store *cache_store(rm_native_restart_cache *c,
                                       const char *path) {
  cached_store *st;
  rm_native_buf b = {0};
  DIR *d;
  size_t i;
  for (i = 0; i < c->n; i++)
    if (strcmp(c->stores[i].path, path) == 0) return &c->stores[i];
  if (c->n == c->cap) {
    size_t ncap = c->cap ? c->cap * 2 : 4;
    cached_store *ns = (cached_store *)realloc(c->stores, ncap * sizeof *ns);
    if (!ns) return NULL;
    c->stores = ns;
    c->cap = ncap;
  }
  d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (strncmp(e->d_name, "restart-", 8) == 0)
        rm_native_gb_str(&b, e->d_name);
    closedir(d);
  } else if (rm_native_errno_code(errno, 0)) {
    return NULL; /* not known to be empty */
  }
  st = &c->stores[c->n];
  st->path = (char *)malloc(strlen(path) + 1);
  if (!st->path || b.failed) {
    free(st->path);
    free(b.p);
    return NULL;
  }
  strcpy(st->path, path);
  st->names = b.p;
  st->len = b.len;
  c->n++;
  return st;
}

/* 1 when the store at path may hold the registration name: listed there,
 * or not known (no cache, or it could not list the store). */
static int may_hold(rm_native_restart_cache *c, const char *path,
                    const char *name) {
  const cached_store *st;
  size_t off, n = strlen(name) + 1;
  if (!c || !(st = cache_store(c, path))) return 1;
  for (off = 0; off < st->len; off += strlen(st->names + off) + 1)
    if (memcmp(st->names + off, name, n) == 0) return 1;
  return 0;
}

/* The owner of pid, when it may act on a registration: the store trusted
 * is that of the owner of /proc/PID (the effective uid of a dumpable
 * process), and the restart runs as the real uid: a process whose two
 * differ (root working as another user) has no registration anyone may act
 * on, or that user would choose what runs as root. */
static int trusted_owner(int procfd, uint32_t pid, uid_t *uid) {
  uid_t real;
  if (rm_native_proc_owner(procfd, pid, uid) != 0) return -1;
  return process_real_uid(procfd, pid, &real) == 0 && real == *uid ? 0 : -1;
}

static int find_in(int procfd, rm_native_restart_cache *c, uint32_t pid,
                   uint64_t start, const rm_native_stat *st,
                   rm_native_restart_reg *r) {
  char name[96], dir[PATH_MAX], store[PATH_MAX + 32];
  uid_t uid;
  int have_uid = 0;
  memset(r, 0, sizeof *r);
  reg_name(name, sizeof name, pid, start);
  /* the owner is checked only for a registration that is there */
  if (process_runtime_dir(procfd, pid, st, dir, sizeof dir) == 0) {
    snprintf(store, sizeof store, "%s/restartmanager", dir);
    if (may_hold(c, store, name)) {
      if (trusted_owner(procfd, pid, &uid) != 0) return -1;
      have_uid = 1;
      if (read_reg_at(store, uid, name, r) == 0) return 0;
    }
  }
  if (!have_uid && rm_native_proc_owner(procfd, pid, &uid) != 0) return -1;
  if (default_store(c, uid, store, sizeof store) != 0 ||
      !may_hold(c, store, name))
    return -1;
  if (!have_uid && trusted_owner(procfd, pid, &uid) != 0) return -1;
  return read_reg_at(store, uid, name, r);
}

int rm_native_restart_find(uint32_t pid, uint64_t start,
                           rm_native_restart_reg *r) {
  int procfd = rm_native_proc_open(), rc;
  memset(r, 0, sizeof *r);
  if (procfd < 0) return -1;
  rc = find_in(procfd, NULL, pid, start, NULL, r);
  if (rc == 0) {
    r->pid = pid;
    r->start = start;
  }
  close(procfd);
  return rc;
}

int rm_native_restartable_in(int procfd, rm_native_restart_cache *c,
                             uint32_t pid, const rm_native_stat *st) {
  rm_native_restart_reg r;
  int ok;
  if (find_in(procfd, c, pid, st->start_time, st, &r) != 0) return 0;
  ok = !(r.flags & RM_RESTART_NO_PATCH);
  rm_native_restart_free(&r);
  return ok;
}

int rm_native_restartable(uint32_t pid, uint64_t start_time) {
  rm_native_restart_reg r;
  int ok;
  if (rm_native_restart_find(pid, start_time, &r) != 0) return 0;
  ok = !(r.flags & RM_RESTART_NO_PATCH);
  rm_native_restart_free(&r);
  return ok;
}
