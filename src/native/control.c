/*
 * Native backend: shutdown, restart, filters, cancel and restart
 * registration (RmShutdown, RmRestart, RmAddFilter, RmRemoveFilter,
 * RmGetFilterList, RmCancelCurrentTask, RegisterApplicationRestart).
 *
 * Processes are signalled only through a pidfd opened on the pid and then
 * checked against the start time the list gave, so a pid reused by another
 * process is never signalled. Exits are awaited by polling the pidfds, with
 * an eventfd that cancel() writes to. Restarted applications run detached
 * (their own session, stdio on /dev/null) as their own user, group and
 * supplementary groups, with the arguments, working directory and
 * environment they registered.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "native.h"
#include "launch.h"
#include "services.h"

#define RESTART_MAGIC "RMRESTART1"
#define KILL_WAIT_MS 5000
#define MAX_GROUPS 256

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
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  char *copy;
  if (n <= 0) return NULL;
  path[n] = '\0';
  rm_native_strip_deleted(path, (size_t)n);
  copy = (char *)malloc(strlen(path) + 1);
  if (copy) strcpy(copy, path);
  return copy;
}

/* Removes the registrations of processes that are gone. */
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
    rm_unique_process p;
    char tail;
    if (sscanf(e->d_name, "restart-%lu-%llu%c", &pid, &start, &tail) != 2)
      continue;
    if (rm_backend_process((uint32_t)pid, &p) != RM_OK || p.start_time != start)
      (void)unlinkat(storefd, e->d_name, 0);
  }
  closedir(d);
}

unsigned rm_backend_register_restart(size_t argc, const char *const *argv,
                              uint32_t flags) {
  rm_native_buf b = {NULL, 0, 0, 0};
  char name[96], tmp[128], *exe, *cwd;
  rm_unique_process self;
  unsigned rc;
  size_t i, n;
  int storefd, fd;
  if (rm_backend_process((uint32_t)getpid(), &self) != RM_OK) return RM_E_WRITE_FAULT;
  exe = self_exe();
  cwd = getcwd(NULL, 0);
  if (!exe || !cwd) {
    free(exe);
    free(cwd);
    return RM_E_OUTOFMEMORY;
  }
  rm_native_gb_str(&b, RESTART_MAGIC);
  add_number(&b, flags);
  rm_native_gb_str(&b, exe);
  rm_native_gb_str(&b, cwd);
  free(exe);
  free(cwd);
  add_number(&b, argc);
  for (i = 0; i < argc; i++) rm_native_gb_str(&b, argv[i]);
  for (n = 0; environ && environ[n]; n++) {}
  add_number(&b, n);
  for (i = 0; i < n; i++) rm_native_gb_str(&b, environ[i]);
  if (b.failed) {
    free(b.p);
    return RM_E_OUTOFMEMORY;
  }
  storefd = rm_native_store_open(&rc);
  if (storefd < 0) {
    free(b.p);
    return rc;
  }
  sweep_registrations(storefd);
  reg_name(name, sizeof name, self.pid, self.start_time);
  snprintf(tmp, sizeof tmp, "%s.tmp", name);
  (void)unlinkat(storefd, tmp, 0);
  fd = openat(storefd, tmp,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  rc = RM_E_WRITE_FAULT;
  if (fd >= 0) {
    size_t done = 0;
    while (done < b.len) {
      ssize_t w = write(fd, b.p + done, b.len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += (size_t)w;
    }
    if (close(fd) == 0 && done == b.len &&
        renameat(storefd, tmp, storefd, name) == 0)
      rc = RM_OK;
    else
      (void)unlinkat(storefd, tmp, 0);
  }
  close(storefd);
  free(b.p);
  return rc;
}

unsigned rm_backend_unregister_restart(void) {
  rm_unique_process self;
  char name[96];
  unsigned rc;
  int storefd;
  if (rm_backend_process((uint32_t)getpid(), &self) != RM_OK) return RM_E_WRITE_FAULT;
  storefd = rm_native_store_open(&rc);
  if (storefd < 0) return rc;
  reg_name(name, sizeof name, self.pid, self.start_time);
  rc = (unlinkat(storefd, name, 0) == 0 || errno == ENOENT)
           ? RM_OK
           : RM_E_WRITE_FAULT;
  close(storefd);
  return rc;
}

/* A parsed registration; the strings point into buf. */
typedef struct restart_reg {
  char *buf;
  uint32_t flags;
  const char *exe, *cwd;
  char **argv; /* exe, arguments..., NULL */
  char **envp; /* NULL-terminated */
} restart_reg;

static void reg_free(restart_reg *r) {
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

int rm_native_parse_restart(char *buf, size_t len, restart_reg *r);
int rm_native_parse_restart(char *buf, size_t len, restart_reg *r) {
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
                       restart_reg *r) {
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
  fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
  return 0;
}

/* The owner of a live process. */
static int process_uid(uint32_t pid, uid_t *uid) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%lu", (unsigned long)pid);
  if (stat(path, &st) != 0) return -1;
  *uid = st.st_uid;
  return 0;
}

/* The value of XDG_RUNTIME_DIR in pid's environment, into buf. */
static int process_runtime_dir(uint32_t pid, char *buf, size_t size) {
  char path[64], env[65536];
  const char *key = "XDG_RUNTIME_DIR=";
  size_t klen = strlen(key), total = 0;
  const char *p;
  int fd;
  snprintf(path, sizeof path, "/proc/%lu/environ", (unsigned long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (total < sizeof env - 1) {
    ssize_t n = read(fd, env + total, sizeof env - 1 - total);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += (size_t)n;
  }
  close(fd);
  env[total] = '\0';
  for (p = env; p < env + total; p += strlen(p) + 1) {
    if (strncmp(p, key, klen) == 0 && p[klen] == '/' &&
        strlen(p + klen) + 1 < size) {
      strcpy(buf, p + klen);
      return 0;
    }
  }
  return -1;
}

/* Finds the restart registration of a live process in its owner's store. */
static int find_registration(uint32_t pid, uint64_t start, restart_reg *r) {
  char name[96], dir[PATH_MAX], store[PATH_MAX + 32];
  uid_t uid;
  memset(r, 0, sizeof *r);
  if (process_uid(pid, &uid) != 0) return -1;
  reg_name(name, sizeof name, pid, start);
  if (process_runtime_dir(pid, dir, sizeof dir) == 0) {
    snprintf(store, sizeof store, "%s/restartmanager", dir);
    if (read_reg_at(store, uid, name, r) == 0) return 0;
  }
  snprintf(store, sizeof store, "/tmp/restartmanager-%lu", (unsigned long)uid);
  return read_reg_at(store, uid, name, r);
}

int rm_native_restartable(uint32_t pid, uint64_t start_time) {
  restart_reg r;
  int ok;
  if (find_registration(pid, start_time, &r) != 0) return 0;
  ok = !(r.flags & RM_RESTART_NO_PATCH);
  reg_free(&r);
  return ok;
}

/* ---------------------------------------------------------------------
 * Session state: filters and what the shutdown stopped
 * ------------------------------------------------------------------- */

typedef struct filter {
  rm_filter f;     /* f.name points to name below */
  char *name;      /* path or service name */
  uint64_t dev, ino; /* a file filter's identity when added (0: none) */
} filter;

typedef struct stopped {
  rm_app app;
  long unit; /* index in units of its service unit, stopped through systemd;
                -1 for a process stopped with signals */
  restart_reg reg; /* reg.buf NULL when the app did not register */
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
  int pidfd;
  int exited;
} stopped;

struct rm_native_control {
  filter *filters;
  size_t nfilters;
  stopped *apps; /* what shutdown stopped, in stop order */
  size_t napps;
  rm_native_unit *units; /* the service units it stopped through systemd */
  size_t nunits;
  int shut_down;   /* a shutdown ran since the last restart */
  int busy;        /* a shutdown or restart is running */
  int cancel;      /* set by cancel(), read with __atomic */
  int evfd;        /* wakes the wait on cancel */
};

static pthread_mutex_t primaries_lock = PTHREAD_MUTEX_INITIALIZER;
static rm_session *primaries;

static struct rm_native_control *control(rm_session *s);

unsigned rm_native_primary_add(rm_session *s) {
  /* made now, so that a cancel from another thread never races its
   * creation */
  if (!control(s)) return rm_native_errno_code(errno, RM_E_OUTOFMEMORY);
  pthread_mutex_lock(&primaries_lock);
  s->next_primary = primaries;
  primaries = s;
  pthread_mutex_unlock(&primaries_lock);
  return RM_OK;
}

void rm_native_primary_remove(rm_session *s) {
  rm_session **p;
  pthread_mutex_lock(&primaries_lock);
  for (p = &primaries; *p; p = &(*p)->next_primary) {
    if (*p == s) {
      *p = s->next_primary;
      break;
    }
  }
  pthread_mutex_unlock(&primaries_lock);
}

unsigned rm_backend_cancel_key(const char *key) {
  rm_session *s;
  unsigned rc = RM_E_INVALID_HANDLE;
  pthread_mutex_lock(&primaries_lock);
  for (s = primaries; s; s = s->next_primary) {
    if (strcmp(s->key, key) == 0) {
      /* under the lock: the session cannot be freed meanwhile */
      rc = rm_backend_cancel(s);
      break;
    }
  }
  pthread_mutex_unlock(&primaries_lock);
  return rc;
}

static struct rm_native_control *control(rm_session *s) {
  if (!s->control) {
    struct rm_native_control *c =
        (struct rm_native_control *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->evfd < 0) {
      free(c);
      return NULL;
    }
    s->control = c;
  }
  return s->control;
}

static void free_stopped(struct rm_native_control *c) {
  size_t i;
  for (i = 0; i < c->napps; i++) {
    reg_free(&c->apps[i].reg);
    if (c->apps[i].pidfd >= 0) close(c->apps[i].pidfd);
  }
  free(c->apps);
  c->apps = NULL;
  c->napps = 0;
  rm_native_units_free(c->units, c->nunits);
  c->units = NULL;
  c->nunits = 0;
}

void rm_native_control_free(struct rm_native_control *c) {
  size_t i;
  for (i = 0; i < c->nfilters; i++) free(c->filters[i].name);
  free(c->filters);
  free_stopped(c);
  if (c->evfd >= 0) close(c->evfd);
  free(c);
}

static unsigned conductor(rm_session *s, struct rm_native_control **c) {
  unsigned rc = rm_native_session_check(s);
  if (rc != RM_OK) return rc;
  if (!s->primary) return RM_E_SESSION_CREDENTIAL_CONFLICT;
  *c = control(s);
  return *c ? RM_OK : RM_E_OUTOFMEMORY;
}

static int same_target(const rm_filter *a, const rm_filter *b) {
  if (a->trigger != b->trigger) return 0;
  if (a->trigger == RM_FILTER_TRIGGER_PROCESS)
    return a->process.pid == b->process.pid &&
           a->process.start_time == b->process.start_time;
  return strcmp(a->name, b->name) == 0;
}

unsigned rm_backend_add_filter(rm_session *s, const rm_filter *f) {
  struct rm_native_control *c;
  unsigned rc = conductor(s, &c);
  filter nf, *grown;
  size_t i;
  if (rc != RM_OK) return rc;
  if ((f->action != RM_FILTER_NO_RESTART &&
       f->action != RM_FILTER_NO_SHUTDOWN) ||
      (f->trigger != RM_FILTER_TRIGGER_PROCESS && (!f->name || !f->name[0])))
    return RM_E_BAD_ARGUMENTS;
  memset(&nf, 0, sizeof nf);
  nf.f = *f;
  if (f->trigger != RM_FILTER_TRIGGER_PROCESS) {
    nf.name = (char *)malloc(strlen(f->name) + 1);
    if (!nf.name) return RM_E_OUTOFMEMORY;
    strcpy(nf.name, f->name);
    nf.f.name = nf.name;
    if (f->trigger == RM_FILTER_TRIGGER_FILE) {
      struct stat st;
      if (stat(f->name, &st) == 0) {
        nf.dev = (uint64_t)st.st_dev;
        nf.ino = (uint64_t)st.st_ino;
      }
    }
  }
  /* the latest filter for a target replaces earlier ones */
  for (i = 0; i < c->nfilters; i++) {
    if (same_target(&c->filters[i].f, &nf.f)) {
      free(c->filters[i].name);
      c->filters[i] = nf;
      return RM_OK;
    }
  }
  grown = (filter *)realloc(c->filters, (c->nfilters + 1) * sizeof *grown);
  if (!grown) {
    free(nf.name);
    return RM_E_OUTOFMEMORY;
  }
  c->filters = grown;
  c->filters[c->nfilters++] = nf;
  return RM_OK;
}

unsigned rm_backend_remove_filter(rm_session *s, const rm_filter *f) {
  struct rm_native_control *c;
  unsigned rc = conductor(s, &c);
  size_t i;
  if (rc != RM_OK) return rc;
  if (f->trigger != RM_FILTER_TRIGGER_PROCESS && !f->name)
    return RM_E_BAD_ARGUMENTS;
  for (i = 0; i < c->nfilters; i++) {
    if (same_target(&c->filters[i].f, f)) {
      free(c->filters[i].name);
      c->filters[i] = c->filters[--c->nfilters];
      return RM_OK;
    }
  }
  return RM_E_FILE_NOT_FOUND;
}

unsigned rm_backend_get_filter_list(rm_session *s, void *buf, size_t size,
                             size_t *needed, unsigned *count) {
  struct rm_native_control *c;
  unsigned rc = conductor(s, &c);
  size_t i, need, off;
  rm_filter *out = (rm_filter *)buf;
  *needed = 0;
  *count = 0;
  if (rc != RM_OK) return rc;
  need = c->nfilters * sizeof(rm_filter);
  for (i = 0; i < c->nfilters; i++)
    if (c->filters[i].name) need += strlen(c->filters[i].name) + 1;
  *needed = need;
  if (size < need || (need && !buf)) return RM_E_MORE_DATA;
  off = c->nfilters * sizeof(rm_filter);
  for (i = 0; i < c->nfilters; i++) {
    out[i] = c->filters[i].f;
    if (c->filters[i].name) {
      char *dst = (char *)buf + off;
      strcpy(dst, c->filters[i].name);
      out[i].name = dst;
      off += strlen(dst) + 1;
    } else {
      out[i].name = NULL;
    }
  }
  *count = (unsigned)c->nfilters;
  return RM_OK;
}

/* The strongest filter action that applies to app (0 for none). */
static int filter_action(const struct rm_native_control *c, const rm_app *a) {
  size_t i;
  int action = 0;
  for (i = 0; i < c->nfilters; i++) {
    const filter *f = &c->filters[i];
    int hit = 0;
    switch (f->f.trigger) {
    case RM_FILTER_TRIGGER_PROCESS:
      hit = f->f.process.pid == a->process.pid &&
            f->f.process.start_time == a->process.start_time;
      break;
    case RM_FILTER_TRIGGER_SERVICE:
      hit = rm_native_service_matches(f->name, a->service);
      break;
    case RM_FILTER_TRIGGER_FILE: {
      struct stat st;
      hit = f->ino && rm_native_process_uses(a->process.pid, f->dev, f->ino);
      /* the path may name another file by now */
      if (!hit && stat(f->name, &st) == 0 &&
          ((uint64_t)st.st_ino != f->ino || (uint64_t)st.st_dev != f->dev))
        hit = rm_native_process_uses(a->process.pid, (uint64_t)st.st_dev,
                                  (uint64_t)st.st_ino);
      break;
    }
    default: break;
    }
    /* where several apply, the stronger action wins */
    if (hit && f->f.action > action) action = f->f.action;
  }
  return action;
}

static uint32_t mask_bits(int action) {
  if (action == RM_FILTER_NO_SHUTDOWN)
    return RM_STATUS_SHUTDOWN_MASKED | RM_STATUS_RESTART_MASKED;
  if (action == RM_FILTER_NO_RESTART) return RM_STATUS_RESTART_MASKED;
  return 0;
}

void rm_native_control_mask(struct rm_native_control *c, rm_app *apps, size_t n) {
  size_t i, k;
  for (i = 0; i < n; i++) {
    if (c->nfilters) apps[i].status |= mask_bits(filter_action(c, &apps[i]));
    /* what this session's shutdown did to a process still running (one
     * that would not stop) stays in its status */
    for (k = 0; k < c->napps; k++)
      if (c->apps[k].app.process.pid == apps[i].process.pid &&
          c->apps[k].app.process.start_time == apps[i].process.start_time)
        apps[i].status |= c->apps[k].app.status & RM_STATUS_ERROR_ON_STOP;
  }
}

/* ---------------------------------------------------------------------
 * Shutdown and restart
 * ------------------------------------------------------------------- */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cancelled(struct rm_native_control *c) {
  return __atomic_load_n(&c->cancel, __ATOMIC_SEQ_CST);
}

unsigned rm_backend_cancel(rm_session *s) {
  struct rm_native_control *c;
  unsigned rc = conductor(s, &c);
  uint64_t one = 1;
  if (rc != RM_OK) return rc;
  __atomic_store_n(&c->cancel, 1, __ATOMIC_SEQ_CST);
  if (write(c->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
    return RM_E_WRITE_FAULT;
  return RM_OK;
}

/* Progress: reports only rising values. Returns non-zero to stop. */
typedef struct reporter {
  rm_progress_fn fn;
  void *ctx;
  int last;
  int stop;
} reporter;

static void report(reporter *r, unsigned pct) {
  if (r->stop || !r->fn || (int)pct <= r->last) return;
  r->last = (int)pct;
  if (r->fn(r->ctx, pct)) r->stop = 1;
}

static int pidfd_open_(uint32_t pid) {
  return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
}

static int pidfd_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Opens a pidfd on pid and checks that it is the process with that start
 * time: -1 when the pid is gone or now names another process. */
static int open_checked(uint32_t pid, uint64_t start) {
  rm_unique_process now;
  int fd = pidfd_open_(pid);
  if (fd < 0) return -1;
  /* the pidfd pins the process it names: if that process has the start
   * time the list gave, it is the listed process */
  if (rm_backend_process(pid, &now) != RM_OK || now.start_time != start) {
    close(fd);
    return -1;
  }
  return fd;
}

static char *next_line(char *line) {
  char *nl = strchr(line, '\n');
  return nl ? nl + 1 : NULL;
}

/* Owner, group and supplementary groups of pid, from /proc/PID/status. */
static void read_ids(uint32_t pid, stopped *st) {
  char path[64], buf[8192], *line;
  int fd;
  ssize_t n;
  st->ngroups = 0;
  snprintf(path, sizeof path, "/proc/%lu/status", (unsigned long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  for (line = buf; line && *line; line = next_line(line)) {
    if (strncmp(line, "Uid:", 4) == 0) {
      st->uid = (uid_t)strtoul(line + 4, NULL, 10);
    } else if (strncmp(line, "Gid:", 4) == 0) {
      st->gid = (gid_t)strtoul(line + 4, NULL, 10);
    } else if (strncmp(line, "Groups:", 7) == 0) {
      char *p = line + 7, *end;
      for (;;) {
        unsigned long g;
        while (*p == ' ' || *p == '\t') p++;
        if (*p < '0' || *p > '9') break;
        g = strtoul(p, &end, 10);
        if (st->ngroups < MAX_GROUPS) st->groups[st->ngroups++] = (gid_t)g;
        p = end;
      }
    }
  }
}

static int is_service(const rm_app *a) { return a->type == RM_APP_SERVICE; }

/* Waits until every stopped[i] with a pidfd has exited, the deadline
 * passes, or the operation is cancelled or stopped by its progress
 * callback. Returns the number still running. */
static size_t await_exits(struct rm_native_control *c, stopped **set, size_t n,
                          long deadline, reporter *rep, size_t *done,
                          size_t total) {
  struct pollfd *pfd = (struct pollfd *)calloc(n + 1, sizeof *pfd);
  size_t running = 0, i;
  if (!pfd) return n;
  for (;;) {
    size_t k = 0;
    long left;
    int r;
    running = 0;
    for (i = 0; i < n; i++)
      if (!set[i]->exited) running++;
    if (!running || cancelled(c) || rep->stop) break;
    left = deadline - now_ms();
    if (left <= 0) break;
    for (i = 0; i < n; i++) {
      if (set[i]->exited) continue;
      pfd[k].fd = set[i]->pidfd;
      pfd[k].events = POLLIN;
      pfd[k].revents = 0;
      k++;
    }
    pfd[k].fd = c->evfd;
    pfd[k].events = POLLIN;
    pfd[k].revents = 0;
    r = poll(pfd, k + 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r < 0 && errno != EINTR) break;
    for (i = 0, k = 0; i < n; i++) {
      if (set[i]->exited) continue;
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        set[i]->exited = 1;
        (*done)++;
        report(rep, (unsigned)(*done * 100 / total));
      }
      k++;
    }
  }
  free(pfd);
  return running;
}

/* Drains the cancel eventfd and clears the flag. */
static void reset_cancel(struct rm_native_control *c) {
  uint64_t v;
  while (read(c->evfd, &v, sizeof v) > 0) {}
  __atomic_store_n(&c->cancel, 0, __ATOMIC_SEQ_CST);
}

/* A service process stopped and started through systemd. */
static int via_systemd(const rm_app *a) {
  return a->type == RM_APP_SERVICE && a->control == RM_CONTROL_SYSTEMD;
}

/* The index in c->units (from first on) of the unit of a, added when new;
 * -1 when out of memory. */
static long unit_index(struct rm_native_control *c, size_t first,
                       const rm_app *a) {
  rm_sd_unit u;
  rm_native_unit *grown;
  size_t i;
  memset(&u, 0, sizeof u);
  if (strncmp(a->service, "user:", 5) == 0) {
    if (rm_sd_parse_name(a->service, &u) != 0) return -1;
  } else {
    u.uid = RM_SD_SYSTEM;
    if (strlen(a->service) >= sizeof u.name) return -1;
    strcpy(u.name, a->service);
  }
  for (i = first; i < c->nunits; i++)
    if (c->units[i].unit.uid == u.uid && strcmp(c->units[i].unit.name, u.name) == 0)
      return (long)i;
  grown = (rm_native_unit *)realloc(c->units, (c->nunits + 1) * sizeof *grown);
  if (!grown) return -1;
  c->units = grown;
  memset(&c->units[c->nunits], 0, sizeof *c->units);
  c->units[c->nunits].unit = u;
  c->units[c->nunits].state = RM_SD_JOB_PENDING;
  return (long)c->nunits++;
}

/* What the waits on systemd's jobs report to: progress and cancel. */
typedef struct unit_wait {
  struct rm_native_control *c;
  reporter *rep;
  size_t *done, total;
  size_t first; /* the units of this operation: c->units[first..] */
} unit_wait;

static int unit_wait_stop(void *ctx) {
  unit_wait *u = (unit_wait *)ctx;
  return cancelled(u->c) || u->rep->stop;
}

static void unit_wait_finished(void *ctx, rm_sd_job *j) {
  unit_wait *u = (unit_wait *)ctx;
  size_t i, k;
  for (i = u->first; i < u->c->nunits; i++) {
    if (u->c->units[i].unit.uid != j->uid ||
        strcmp(u->c->units[i].unit.name, j->unit) != 0)
      continue;
    /* every process of the unit is done with */
    for (k = 0; k < u->c->napps; k++)
      if (u->c->apps[k].unit == (long)i) (*u->done)++;
    report(u->rep, (unsigned)(*u->done * 100 / (u->total ? u->total : 1)));
  }
}

unsigned rm_backend_shutdown(rm_session *s, uint32_t flags, unsigned timeout_ms,
                      rm_progress_fn fn, void *ctx) {
  struct rm_native_control *c;
  rm_app *apps = NULL;
  size_t n = 0, un, i, first, first_unit, total = 0, nsig = 0, done = 0, left;
  uint32_t reasons;
  stopped *grown, **set = NULL;
  reporter rep = {fn, ctx, -1, 0};
  unsigned rc = conductor(s, &c);
  int pass;
  if (rc != RM_OK) return rc;
  if (flags & ~(RM_SHUTDOWN_FORCE | RM_SHUTDOWN_ONLY_REGISTERED))
    return RM_E_BAD_ARGUMENTS;
  if (c->busy) return RM_E_BUSY;
  c->busy = 1;
  reset_cancel(c);
  rc = rm_native_scan(s, &apps, &n, &reasons, &un);
  if (rc != RM_OK) goto out;
  /* any reboot reason: shutting down cannot free every resource */
  if (reasons) {
    rc = RM_E_FAIL_NOACTION_REBOOT;
    goto out;
  }
  rm_native_control_mask(c, apps, n);
  if (flags & RM_SHUTDOWN_ONLY_REGISTERED) {
    for (i = 0; i < n; i++) {
      if (!(apps[i].status & RM_STATUS_SHUTDOWN_MASKED) &&
          !apps[i].restartable) {
        rc = RM_E_FAIL_SHUTDOWN; /* stops nothing */
        goto out;
      }
    }
  }
  grown = (stopped *)realloc(c->apps, (c->napps + n + 1) * sizeof *grown);
  set = (stopped **)calloc(n + 1, sizeof *set);
  if (!grown || !set) {
    if (grown) c->apps = grown;
    rc = RM_E_OUTOFMEMORY;
    goto out;
  }
  c->apps = grown;
  first = c->napps;
  first_unit = c->nunits;
  /* applications first, services after them (as on Windows); a service's
   * processes are never signalled one by one where systemd can stop its
   * unit */
  for (pass = 0; pass < 2; pass++) {
    for (i = 0; i < n; i++) {
      stopped *st;
      if (is_service(&apps[i]) != pass) continue;
      if (apps[i].status & RM_STATUS_SHUTDOWN_MASKED) continue;
      st = &c->apps[c->napps];
      memset(st, 0, sizeof *st);
      st->app = apps[i];
      st->unit = -1;
      st->pidfd = -1;
      if (via_systemd(&apps[i])) {
        st->unit = unit_index(c, first_unit, &apps[i]);
        if (st->unit < 0) {
          rc = RM_E_OUTOFMEMORY;
          goto undo;
        }
        total++;
        c->napps++;
        continue;
      }
      errno = 0;
      st->pidfd = open_checked(apps[i].process.pid, apps[i].process.start_time);
      if (st->pidfd < 0 && rm_native_errno_code(errno, RM_OK) != RM_OK) {
        /* out of descriptors or memory: the process may well be running;
         * stop before anything is signalled, and say why */
        rc = rm_native_errno_code(errno, RM_OK);
        goto undo;
      }
      if (st->pidfd < 0) {
        /* gone since the list, or the pid names another process now */
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED_OTHER;
        c->napps++;
        continue;
      }
      read_ids(apps[i].process.pid, st);
      if (find_registration(apps[i].process.pid, apps[i].process.start_time,
                            &st->reg) != 0)
        memset(&st->reg, 0, sizeof st->reg);
      set[nsig++] = st;
      total++;
      c->napps++;
    }
  }
  c->shut_down = 1;
  report(&rep, 0);
  for (i = 0; i < nsig && !rep.stop && !cancelled(c); i++) {
    if (pidfd_signal(set[i]->pidfd, SIGTERM) != 0 && errno == ESRCH)
      set[i]->exited = 1;
  }
  /* anything not signalled because of a stop or cancel is not waited for */
  for (left = i; left < nsig; left++) set[left]->exited = -1;
  left = await_exits(c, set, i, now_ms() + (long)timeout_ms, &rep, &done,
                     total ? total : 1);
  if (left && (flags & RM_SHUTDOWN_FORCE) && !rep.stop && !cancelled(c)) {
    size_t k;
    for (k = 0; k < i; k++)
      if (!set[k]->exited) (void)pidfd_signal(set[k]->pidfd, SIGKILL);
    left = await_exits(c, set, i, now_ms() + KILL_WAIT_MS, &rep, &done,
                       total ? total : 1);
  }
  if (c->nunits > first_unit) {
    if (rep.stop || cancelled(c)) {
      /* never asked to stop: nothing to start again */
      for (i = first_unit; i < c->nunits; i++)
        c->units[i].state = RM_SD_JOB_FAILED;
    } else {
      unit_wait uw;
      rm_sd_waiter w;
      uw.c = c;
      uw.rep = &rep;
      uw.done = &done;
      uw.total = total;
      uw.first = first_unit;
      w.cancel_fd = c->evfd;
      w.stop = unit_wait_stop;
      w.finished = unit_wait_finished;
      w.ctx = &uw;
      left += rm_native_units_stop(c->units + first_unit, c->nunits - first_unit,
                                   (flags & RM_SHUTDOWN_FORCE) != 0,
                                   now_ms() + (long)timeout_ms, KILL_WAIT_MS, &w);
    }
  }
  for (i = first; i < c->napps; i++) {
    stopped *st = &c->apps[i];
    if (st->unit >= 0) {
      int state = c->units[st->unit].state;
      if (state == RM_SD_JOB_DONE)
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED;
      else if (!rep.stop && !cancelled(c))
        st->app.status |= RM_STATUS_ERROR_ON_STOP;
      continue;
    }
    if (st->pidfd < 0) continue;
    if (st->exited == 1) {
      st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                       RM_STATUS_STOPPED;
    } else if (st->exited == 0) {
      st->app.status |= RM_STATUS_ERROR_ON_STOP;
    } else {
      st->exited = 0; /* never signalled */
    }
    close(st->pidfd);
    st->pidfd = -1;
  }
  if (cancelled(c) || rep.stop) rc = RM_E_CANCELLED;
  else if (left) rc = RM_E_FAIL_SHUTDOWN;
  else report(&rep, 100);
  goto out;
undo:
  for (i = first; i < c->napps; i++) {
    reg_free(&c->apps[i].reg);
    if (c->apps[i].pidfd >= 0) close(c->apps[i].pidfd);
  }
  c->napps = first;
  for (i = first_unit; i < c->nunits; i++) rm_sd_strv_free(c->units[i].triggers);
  c->nunits = first_unit;
out:
  free(set);
  free(apps);
  c->busy = 0;
  return rc;
}

/* Starts the registered command of st, detached, as its owner, with
 * nothing of the installer inherited. 0 or an errno value. */
static int spawn(const stopped *st) {
  rm_native_launch l;
  pid_t pid;
  memset(&l, 0, sizeof l);
  l.file = st->reg.exe;
  l.argv = st->reg.argv;
  l.envp = st->reg.envp;
  l.cwd = st->reg.cwd;
  l.detach = 1;
  l.set_ids = 1;
  l.uid = st->uid;
  l.gid = st->gid;
  l.ngroups = (size_t)st->ngroups;
  l.groups = st->groups;
  return rm_native_launch_start(&l, &pid);
}

/* Starts again the units this session stopped through systemd (whether or
 * not their services registered for restart), unless a filter says no, and
 * marks their processes. Returns non-zero when one did not start. */
static int restart_units(struct rm_native_control *c, reporter *rep,
                         size_t *done, size_t total) {
  rm_native_unit *todo;
  size_t *which, n = 0, i, k;
  int failed = 0;
  if (!c->nunits) return 0;
  todo = (rm_native_unit *)calloc(c->nunits, sizeof *todo);
  which = (size_t *)calloc(c->nunits, sizeof *which);
  if (!todo || !which) {
    free(todo);
    free(which);
    for (k = 0; k < c->napps; k++)
      if (c->apps[k].unit >= 0) c->apps[k].app.status |= RM_STATUS_ERROR_ON_RESTART;
    return 1;
  }
  /* the reverse of the stop order */
  for (i = c->nunits; i-- > 0;) {
    int masked = 0;
    /* a stop that was refused stopped nothing */
    if (c->units[i].state == RM_SD_JOB_FAILED) continue;
    for (k = 0; k < c->napps; k++) {
      stopped *st = &c->apps[k];
      if (st->unit != (long)i) continue;
      st->app.status |= mask_bits(filter_action(c, &st->app));
      if (st->app.status & RM_STATUS_RESTART_MASKED) masked = 1;
    }
    if (masked) continue;
    todo[n] = c->units[i]; /* shares its triggers */
    which[n++] = i;
  }
  if (n) {
    unit_wait uw;
    rm_sd_waiter w;
    uw.c = c;
    uw.rep = rep;
    uw.done = done;
    uw.total = total;
    uw.first = 0;
    w.cancel_fd = c->evfd;
    w.stop = unit_wait_stop;
    w.finished = NULL;
    w.ctx = &uw;
    (void)rm_native_units_start(todo, n, &w);
    for (i = 0; i < n; i++) {
      int ok = todo[i].state == RM_SD_JOB_DONE;
      if (!ok && (rep->stop || cancelled(c))) continue;
      if (!ok) failed = 1;
      for (k = 0; k < c->napps; k++) {
        if (c->apps[k].unit != (long)which[i]) continue;
        c->apps[k].app.status |= ok ? RM_STATUS_RESTARTED : RM_STATUS_ERROR_ON_RESTART;
        (*done)++;
      }
      report(rep, (unsigned)(*done * 100 / (total ? total : 1)));
    }
  }
  free(todo);
  free(which);
  return failed;
}

unsigned rm_backend_restart(rm_session *s, rm_progress_fn fn, void *ctx) {
  struct rm_native_control *c;
  reporter rep = {fn, ctx, -1, 0};
  unsigned rc = conductor(s, &c);
  size_t i, total = 0, done = 0;
  int failed = 0;
  if (rc != RM_OK) return rc;
  if (c->busy) return RM_E_BUSY;
  if (!c->shut_down) return RM_E_REQUEST_OUT_OF_SEQUENCE;
  c->busy = 1;
  reset_cancel(c);
  for (i = 0; i < c->napps; i++) {
    const stopped *st = &c->apps[i];
    if (st->unit >= 0 ||
        ((st->app.status & RM_STATUS_STOPPED) && st->reg.buf &&
         !(st->reg.flags & RM_RESTART_NO_PATCH)))
      total++;
  }
  report(&rep, 0);
  /* the reverse of the stop order: services first, then applications */
  failed = restart_units(c, &rep, &done, total);
  for (i = c->napps; i-- > 0;) {
    stopped *st = &c->apps[i];
    int action;
    if (rep.stop || cancelled(c)) break;
    if (st->unit >= 0) continue;
    if (!(st->app.status & RM_STATUS_STOPPED) || !st->reg.buf ||
        (st->reg.flags & RM_RESTART_NO_PATCH))
      continue;
    /* file filters were applied while the app ran; process and service
     * filters may have come since */
    action = filter_action(c, &st->app);
    st->app.status |= mask_bits(action);
    if (st->app.status & RM_STATUS_RESTART_MASKED) continue;
    if (spawn(st) == 0) {
      st->app.status |= RM_STATUS_RESTARTED;
    } else {
      st->app.status |= RM_STATUS_ERROR_ON_RESTART;
      failed = 1;
    }
    done++;
    report(&rep, (unsigned)(done * 100 / (total ? total : 1)));
  }
  if (rep.stop || cancelled(c)) {
    rc = RM_E_CANCELLED;
  } else {
    report(&rep, 100);
    rc = failed ? RM_E_FAIL_RESTART : RM_OK;
    free_stopped(c);
    c->shut_down = 0;
  }
  c->busy = 0;
  return rc;
}
