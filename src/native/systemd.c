/*
 * Native backend, bottom layer: systemd (see systemd.h).
 *
 * sd-bus comes from libsystemd.so.0, loaded with dlopen the first time it is
 * needed; the few functions used are declared here, so the module neither
 * links against libsystemd nor needs its headers, and works without it.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "systemd.h"

/* ---------------------------------------------------------------------
 * Units from /proc/PID/cgroup
 * ------------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int starts_with(const char *s, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

static int valid_unit_chars(const char *s, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    /* what systemd allows in unit names */
    if (!(isalnum(ch) || ch == ':' || ch == '-' || ch == '_' || ch == '.' ||
          ch == '\\' || ch == '@'))
      return 0;
  }
  return 1;
}

/* "user@UID.service" -> UID, else -1. */
static long user_manager_uid(const char *s, size_t n) {
  size_t i;
  long uid = 0;
  if (!starts_with(s, n, "user@") || !ends_with(s, n, ".service") ||
      n <= 5 + 8)
    return -1;
  for (i = 5; i < n - 8; i++) {
    if (s[i] < '0' || s[i] > '9' || uid > (LONG_MAX - 9) / 10) return -1;
    uid = uid * 10 + (s[i] - '0');
  }
  return uid;
}

/* One path of a cgroup line: the units below the manager's root, e.g.
 * /system.slice/cron.service or /user.slice/user-1000.slice/
 * user@1000.service/app.slice/foo.service. */
static void parse_path(const char *p, size_t len, rm_sd_unit *out) {
  const char *end = p + len;
  long uid = RM_SD_SYSTEM;
  out->kind = RM_SD_NONE;
  out->uid = RM_SD_SYSTEM;
  out->name[0] = '\0';
  while (p < end) {
    const char *c, *slash;
    size_t n;
    while (p < end && *p == '/') p++;
    if (p >= end) break;
    slash = (const char *)memchr(p, '/', (size_t)(end - p));
    c = p;
    n = slash ? (size_t)(slash - p) : (size_t)(end - p);
    p = c + n;
    /* systemd prefixes a name that could clash with the cgroup file
     * system's own with '_' */
    if (n > 1 && c[0] == '_') {
      c++;
      n--;
    }
    if (ends_with(c, n, ".slice")) continue;
    if (uid == RM_SD_SYSTEM && user_manager_uid(c, n) >= 0) {
      /* a user's manager: its units lie below */
      long u = user_manager_uid(c, n);
      const char *q = p;
      int more = 0;
      while (q < end) {
        if (*q != '/') {
          more = 1;
          break;
        }
        q++;
      }
      if (more) {
        uid = u;
        continue;
      }
    }
    if (n >= RM_SD_UNIT_SIZE || !valid_unit_chars(c, n)) return;
    memcpy(out->name, c, n);
    out->name[n] = '\0';
    out->uid = uid;
    if (ends_with(c, n, ".service")) {
      out->kind = (uid != RM_SD_SYSTEM && starts_with(c, n, "app-"))
                      ? RM_SD_APP
                      : RM_SD_SERVICE;
    } else if (ends_with(c, n, ".scope")) {
      if (uid == RM_SD_SYSTEM && starts_with(c, n, "session-"))
        out->kind = RM_SD_SESSION;
      else if (uid != RM_SD_SYSTEM && starts_with(c, n, "app-"))
        out->kind = RM_SD_APP;
      else
        out->kind = RM_SD_OTHER;
    } else {
      /* a cgroup of someone's own making, not a unit */
      out->kind = RM_SD_NONE;
      out->name[0] = '\0';
      out->uid = RM_SD_SYSTEM;
    }
    return;
  }
}

void rm_sd_parse_cgroup(const char *text, size_t len, rm_sd_unit *out) {
  const char *p = text, *end = text + len;
  rm_sd_unit named;
  int have_named = 0;
  memset(out, 0, sizeof *out);
  out->uid = RM_SD_SYSTEM;
  memset(&named, 0, sizeof named);
  while (p < end) {
    const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *c1 = (const char *)memchr(p, ':', (size_t)(le - p));
    const char *c2 = c1 ? (const char *)memchr(c1 + 1, ':', (size_t)(le - c1 - 1))
                        : NULL;
    if (c2) {
      const char *path = c2 + 1;
      size_t plen = (size_t)(le - path);
      if (c1 - p == 1 && p[0] == '0' && c2 == c1 + 1) {
        /* the unified hierarchy */
        parse_path(path, plen, out);
        if (out->kind != RM_SD_NONE) return;
      } else if ((size_t)(c2 - c1 - 1) == 12 &&
                 memcmp(c1 + 1, "name=systemd", 12) == 0) {
        parse_path(path, plen, &named);
        have_named = named.kind != RM_SD_NONE;
      }
    }
    p = nl ? nl + 1 : end;
  }
  if (have_named) *out = named;
  else {
    memset(out, 0, sizeof *out);
    out->uid = RM_SD_SYSTEM;
  }
}

/* ---------------------------------------------------------------------
 * Service names
 * ------------------------------------------------------------------- */

int rm_sd_parse_name(const char *name, rm_sd_unit *u) {
  const char *unit = name;
  size_t n;
  memset(u, 0, sizeof *u);
  u->kind = RM_SD_SERVICE;
  u->uid = RM_SD_SYSTEM;
  if (strncmp(name, "user:", 5) == 0) {
    const char *who = name + 5, *colon = strchr(who, ':');
    char user[256];
    size_t wl;
    if (!colon || colon == who) return -1;
    wl = (size_t)(colon - who);
    if (wl >= sizeof user) return -1;
    memcpy(user, who, wl);
    user[wl] = '\0';
    if (strspn(user, "0123456789") == wl) {
      char *e;
      unsigned long v;
      errno = 0;
      v = strtoul(user, &e, 10);
      if (errno || v > 0x7FFFFFFFul) return -1;
      u->uid = (long)v;
    } else {
      struct passwd pw, *res = NULL;
      char buf[4096];
      if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res) return -1;
      u->uid = (long)res->pw_uid;
    }
    unit = colon + 1;
  }
  n = strlen(unit);
  if (!valid_unit_chars(unit, n) || unit[0] == '.') return -1;
  if (ends_with(unit, n, ".service")) {
    if (n == 8) return -1;
    if (n >= RM_SD_UNIT_SIZE) return -1;
    memcpy(u->name, unit, n + 1);
  } else {
    if (n + 8 >= RM_SD_UNIT_SIZE) return -1;
    memcpy(u->name, unit, n);
    memcpy(u->name + n, ".service", 9);
  }
  return 0;
}

int rm_sd_format_name(const rm_sd_unit *u, char *buf, size_t size) {
  int n;
  if (u->uid == RM_SD_SYSTEM)
    n = snprintf(buf, size, "%s", u->name);
  else
    n = snprintf(buf, size, "user:%ld:%s", u->uid, u->name);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

int rm_sd_names_unit(const char *name, const rm_sd_unit *u) {
  rm_sd_unit r;
  if (!u->name[0] || rm_sd_parse_name(name, &r) != 0) return 0;
  return r.uid == u->uid && strcmp(r.name, u->name) == 0;
}

/* ---------------------------------------------------------------------
 * libsystemd, loaded at run time
 * ------------------------------------------------------------------- */

/* sd-bus's public types, as its headers declare them */
typedef struct sd_bus sd_bus;
typedef struct sd_bus_message sd_bus_message;
typedef struct sd_bus_slot sd_bus_slot;
typedef struct sd_bus_error {
  const char *name;
  const char *message;
  int _need_free;
} sd_bus_error;
typedef int (*sd_bus_message_handler_t)(sd_bus_message *m, void *userdata,
                                        sd_bus_error *ret_error);

static struct {
  int (*bus_new)(sd_bus **ret);
  int (*bus_set_address)(sd_bus *bus, const char *address);
  int (*bus_start)(sd_bus *bus);
  int (*bus_open_system)(sd_bus **ret);
  sd_bus *(*bus_flush_close_unref)(sd_bus *bus);
  int (*bus_call_method)(sd_bus *bus, const char *destination,
                         const char *path, const char *interface,
                         const char *member, sd_bus_error *ret_error,
                         sd_bus_message **reply, const char *types, ...);
  int (*message_read)(sd_bus_message *m, const char *types, ...);
  sd_bus_message *(*message_unref)(sd_bus_message *m);
  void (*error_free)(sd_bus_error *e);
  int (*get_property_trivial)(sd_bus *bus, const char *destination,
                              const char *path, const char *interface,
                              const char *member, sd_bus_error *ret_error,
                              char type, void *ret_ptr);
  int (*get_property_string)(sd_bus *bus, const char *destination,
                             const char *path, const char *interface,
                             const char *member, sd_bus_error *ret_error,
                             char **ret);
  int (*get_property_strv)(sd_bus *bus, const char *destination,
                           const char *path, const char *interface,
                           const char *member, sd_bus_error *ret_error,
                           char ***ret);
  int (*add_match)(sd_bus *bus, sd_bus_slot **slot, const char *match,
                   sd_bus_message_handler_t callback, void *userdata);
  int (*process)(sd_bus *bus, sd_bus_message **r);
  int (*get_fd)(sd_bus *bus);
  int (*get_events)(sd_bus *bus);
  int (*get_timeout)(sd_bus *bus, uint64_t *timeout_usec);
} sd;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];

static int sym(void *lib, const char *name, void *fnptr, size_t size) {
  void *p = dlsym(lib, name);
  if (!p) {
    const char *e = dlerror();
    snprintf(load_error, sizeof load_error, "%s", e ? e : name);
    return -1;
  }
  /* a data pointer into a function pointer, without the cast ISO C
   * leaves undefined */
  memcpy(fnptr, &p, size);
  return 0;
}

#define SYM(lib, name, field) sym(lib, name, &sd.field, sizeof sd.field)

static void load(void) {
  void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    snprintf(load_error, sizeof load_error, "%s", e ? e : "libsystemd.so.0");
    return;
  }
  if (SYM(lib, "sd_bus_new", bus_new) || SYM(lib, "sd_bus_set_address", bus_set_address) ||
      SYM(lib, "sd_bus_start", bus_start) ||
      SYM(lib, "sd_bus_open_system", bus_open_system) ||
      SYM(lib, "sd_bus_flush_close_unref", bus_flush_close_unref) ||
      SYM(lib, "sd_bus_call_method", bus_call_method) ||
      SYM(lib, "sd_bus_message_read", message_read) ||
      SYM(lib, "sd_bus_message_unref", message_unref) ||
      SYM(lib, "sd_bus_error_free", error_free) ||
      SYM(lib, "sd_bus_get_property_trivial", get_property_trivial) ||
      SYM(lib, "sd_bus_get_property_string", get_property_string) ||
      SYM(lib, "sd_bus_get_property_strv", get_property_strv) ||
      SYM(lib, "sd_bus_add_match", add_match) ||
      SYM(lib, "sd_bus_process", process) ||
      SYM(lib, "sd_bus_get_fd", get_fd) ||
      SYM(lib, "sd_bus_get_events", get_events) ||
      SYM(lib, "sd_bus_get_timeout", get_timeout)) {
    dlclose(lib);
    return;
  }
  /* kept loaded for the life of the process */
  loaded = 1;
}

const char *rm_sd_library_error(void) {
  pthread_once(&load_once, load);
  return loaded ? "" : load_error;
}

int rm_sd_usable(void) {
  struct stat st;
  pthread_once(&load_once, load);
  if (!loaded) return RM_CONTROL_NO_LIBSYSTEMD;
  if (stat("/run/systemd/system", &st) != 0 || !S_ISDIR(st.st_mode))
    return RM_CONTROL_NO_SYSTEMD;
  return RM_CONTROL_SYSTEMD;
}

long rm_sd_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------- */

#define DEST "org.freedesktop.systemd1"
#define MANAGER_PATH "/org/freedesktop/systemd1"
#define MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define UNIT_IFACE "org.freedesktop.systemd1.Unit"

typedef struct manager {
  long uid;
  sd_bus *bus; /* NULL when it could not be reached */
  struct rm_sd_conn *conn;
} manager;

struct rm_sd_conn {
  manager **m; /* each its own allocation: the signal handler holds it */
  size_t n;
  rm_sd_job *jobs; /* the jobs rm_sd_job_wait watches */
  size_t njobs;
  const rm_sd_waiter *waiter;
};

rm_sd_conn *rm_sd_conn_new(void) {
  return (rm_sd_conn *)calloc(1, sizeof(rm_sd_conn));
}

void rm_sd_conn_free(rm_sd_conn *c) {
  size_t i;
  if (!c) return;
  for (i = 0; i < c->n; i++) {
    if (c->m[i]->bus) sd.bus_flush_close_unref(c->m[i]->bus);
    free(c->m[i]);
  }
  free(c->m);
  free(c);
}

static int job_removed(sd_bus_message *m, void *userdata, sd_bus_error *e);

/* Opens a direct connection to the socket at path; NULL when it cannot. */
static sd_bus *connect_private(const char *path, long uid) {
  char addr[PATH_MAX + 16];
  sd_bus *bus = NULL;
  struct ucred cred;
  socklen_t len = sizeof cred;
  snprintf(addr, sizeof addr, "unix:path=%s", path);
  if (access(path, F_OK) != 0) return NULL;
  if (sd.bus_new(&bus) < 0) return NULL;
  if (sd.bus_set_address(bus, addr) < 0 || sd.bus_start(bus) < 0) {
    sd.bus_flush_close_unref(bus);
    return NULL;
  }
  /* only the manager's owner (or root) may answer on its behalf */
  if (getsockopt(sd.get_fd(bus), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && (uid < 0 || (long)cred.uid != uid))) {
    sd.bus_flush_close_unref(bus);
    return NULL;
  }
  return bus;
}

static sd_bus *open_manager(long uid) {
  sd_bus *bus = NULL;
  char path[64];
  if (uid == RM_SD_SYSTEM) {
    bus = geteuid() == 0 ? connect_private("/run/systemd/private", -1) : NULL;
    if (!bus && sd.bus_open_system(&bus) < 0) bus = NULL;
  } else {
    snprintf(path, sizeof path, "/run/user/%ld/systemd/private", uid);
    if (geteuid() == 0 || (long)geteuid() == uid) bus = connect_private(path, uid);
  }
  return bus;
}

/* The connection to the manager uid, made the first time; NULL when it
 * cannot be reached. */
static manager *get_manager(rm_sd_conn *c, long uid) {
  size_t i;
  manager **grown, *m;
  sd_bus_error err = {NULL, NULL, 0};
  for (i = 0; i < c->n; i++)
    if (c->m[i]->uid == uid) return c->m[i]->bus ? c->m[i] : NULL;
  if (rm_sd_usable() != RM_CONTROL_SYSTEMD) return NULL;
  grown = (manager **)realloc(c->m, (c->n + 1) * sizeof *grown);
  if (!grown) return NULL;
  c->m = grown;
  m = (manager *)calloc(1, sizeof *m);
  if (!m) return NULL;
  c->m[c->n++] = m;
  m->uid = uid;
  m->conn = c;
  m->bus = open_manager(uid);
  if (!m->bus) return NULL;
  /* the manager's signals (JobRemoved) come only to subscribers; the match
   * is installed before any job is queued, so none is missed */
  if (sd.add_match(m->bus, NULL,
                   "type='signal',interface='" MANAGER_IFACE
                   "',member='JobRemoved'",
                   job_removed, m) < 0 ||
      sd.bus_call_method(m->bus, DEST, MANAGER_PATH, MANAGER_IFACE, "Subscribe",
                         &err, NULL, "") < 0) {
    sd.error_free(&err);
    sd.bus_flush_close_unref(m->bus);
    m->bus = NULL;
    return NULL;
  }
  return m;
}

/* The object path of a unit (loading it if it is not), malloc'd. */
static char *unit_path(manager *m, const char *unit) {
  sd_bus_error err = {NULL, NULL, 0};
  sd_bus_message *reply = NULL;
  const char *path = NULL;
  char *copy = NULL;
  if (sd.bus_call_method(m->bus, DEST, MANAGER_PATH, MANAGER_IFACE, "LoadUnit",
                         &err, &reply, "s", unit) >= 0 &&
      sd.message_read(reply, "o", &path) >= 0 && path) {
    copy = strdup(path);
  }
  sd.error_free(&err);
  if (reply) sd.message_unref(reply);
  return copy;
}

static int get_bool(manager *m, const char *path, const char *prop, int *out) {
  sd_bus_error err = {NULL, NULL, 0};
  int v = 0, r;
  r = sd.get_property_trivial(m->bus, DEST, path, UNIT_IFACE, prop, &err, 'b',
                              &v);
  sd.error_free(&err);
  if (r < 0) return -1;
  *out = v != 0;
  return 0;
}

static int get_string(manager *m, const char *path, const char *prop,
                      char *buf, size_t size) {
  sd_bus_error err = {NULL, NULL, 0};
  char *v = NULL;
  int r = sd.get_property_string(m->bus, DEST, path, UNIT_IFACE, prop, &err,
                                 &v);
  sd.error_free(&err);
  if (r < 0 || !v) {
    free(v);
    return -1;
  }
  snprintf(buf, size, "%s", v);
  free(v);
  return 0;
}

static int is_active_state(const char *s) {
  return strcmp(s, "active") == 0 || strcmp(s, "activating") == 0 ||
         strcmp(s, "reloading") == 0 || strcmp(s, "deactivating") == 0;
}

int rm_sd_query(rm_sd_conn *c, long uid, const char *unit, rm_sd_props *p) {
  manager *m = get_manager(c, uid);
  char *path, state[64];
  int rc = 0;
  memset(p, 0, sizeof *p);
  if (!m) return RM_CONTROL_NO_MANAGER;
  path = unit_path(m, unit);
  if (!path) return -1;
  if (get_string(m, path, "LoadState", state, sizeof state) != 0 ||
      get_bool(m, path, "CanStop", &p->can_stop) != 0 ||
      get_bool(m, path, "CanStart", &p->can_start) != 0 ||
      get_bool(m, path, "RefuseManualStop", &p->refuse_stop) != 0) {
    rc = -1;
  } else {
    p->loaded = strcmp(state, "loaded") == 0;
    if (get_string(m, path, "ActiveState", state, sizeof state) == 0)
      p->active = is_active_state(state);
  }
  free(path);
  return rc;
}

void rm_sd_strv_free(char **v) {
  size_t i;
  if (!v) return;
  for (i = 0; v[i]; i++) free(v[i]);
  free(v);
}

int rm_sd_active_triggers(rm_sd_conn *c, long uid, const char *unit,
                          char ***out) {
  manager *m = get_manager(c, uid);
  sd_bus_error err = {NULL, NULL, 0};
  char *path, **all = NULL;
  size_t i, k = 0;
  int r;
  *out = NULL;
  if (!m) return -1;
  path = unit_path(m, unit);
  if (!path) return -1;
  r = sd.get_property_strv(m->bus, DEST, path, UNIT_IFACE, "TriggeredBy", &err,
                           &all);
  sd.error_free(&err);
  free(path);
  if (r < 0) return -1;
  if (!all) return 0;
  /* keep those that run: a trigger that is down needs no stop or start */
  for (i = 0; all[i]; i++) {
    char *tp = unit_path(m, all[i]), state[64];
    int active = tp && get_string(m, tp, "ActiveState", state, sizeof state) == 0 &&
                 is_active_state(state);
    free(tp);
    if (active) all[k++] = all[i];
    else free(all[i]);
  }
  all[k] = NULL;
  if (k == 0) {
    free(all);
    all = NULL;
  }
  *out = all;
  return 0;
}

int rm_sd_kill(rm_sd_conn *c, long uid, const char *unit, int sig) {
  manager *m = get_manager(c, uid);
  sd_bus_error err = {NULL, NULL, 0};
  int r;
  if (!m) return -1;
  r = sd.bus_call_method(m->bus, DEST, MANAGER_PATH, MANAGER_IFACE, "KillUnit",
                         &err, NULL, "ssi", unit, "all", (int32_t)sig);
  sd.error_free(&err);
  return r < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------
 * Jobs
 * ------------------------------------------------------------------- */

static int job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *e) {
  manager *m = (manager *)userdata;
  rm_sd_conn *c = m->conn;
  uint32_t id;
  const char *path = NULL, *unit = NULL, *result = NULL;
  size_t i;
  (void)e;
  if (sd.message_read(msg, "uoss", &id, &path, &unit, &result) < 0 || !path)
    return 0;
  for (i = 0; i < c->njobs; i++) {
    rm_sd_job *j = &c->jobs[i];
    if (j->state != RM_SD_JOB_PENDING || j->uid != m->uid ||
        strcmp(j->path, path) != 0)
      continue;
    snprintf(j->result, sizeof j->result, "%s", result ? result : "");
    j->state = strcmp(j->result, "done") == 0 ? RM_SD_JOB_DONE
                                               : RM_SD_JOB_FAILED;
    if (c->waiter && c->waiter->finished) c->waiter->finished(c->waiter->ctx, j);
  }
  return 0;
}

int rm_sd_job_queue(rm_sd_conn *c, rm_sd_job *j) {
  manager *m = get_manager(c, j->uid);
  sd_bus_error err = {NULL, NULL, 0};
  sd_bus_message *reply = NULL;
  const char *path = NULL;
  int ok = 0;
  j->path[0] = '\0';
  j->result[0] = '\0';
  if (!m) {
    j->state = RM_SD_JOB_FAILED;
    snprintf(j->result, sizeof j->result, "unreachable");
    return -1;
  }
  if (sd.bus_call_method(m->bus, DEST, MANAGER_PATH, MANAGER_IFACE,
                         j->start ? "StartUnit" : "StopUnit", &err, &reply,
                         "ss", j->unit, "replace") >= 0 &&
      sd.message_read(reply, "o", &path) >= 0 && path &&
      strlen(path) < sizeof j->path) {
    strcpy(j->path, path);
    j->state = RM_SD_JOB_PENDING;
    ok = 1;
  } else {
    j->state = RM_SD_JOB_FAILED;
    /* e.g. org.freedesktop.systemd1.OnlyByDependency (RefuseManualStop) */
    snprintf(j->result, sizeof j->result, "%s",
             err.name ? (strrchr(err.name, '.') ? strrchr(err.name, '.') + 1
                                                : err.name)
                      : "refused");
  }
  sd.error_free(&err);
  if (reply) sd.message_unref(reply);
  return ok ? 0 : -1;
}

static size_t pending(const rm_sd_job *jobs, size_t n) {
  size_t i, k = 0;
  for (i = 0; i < n; i++)
    if (jobs[i].state == RM_SD_JOB_PENDING) k++;
  return k;
}

size_t rm_sd_job_wait(rm_sd_conn *c, rm_sd_job *jobs, size_t n,
                      long deadline_ms, const rm_sd_waiter *w) {
  struct pollfd *pfd = (struct pollfd *)calloc(c->n + 1, sizeof *pfd);
  size_t left = pending(jobs, n);
  if (!pfd) return left;
  c->jobs = jobs;
  c->njobs = n;
  c->waiter = w;
  for (;;) {
    size_t i, k = 0;
    long wait;
    int r;
    /* dispatch what has arrived (signals read during earlier calls wait in
     * the connections' queues) */
    for (i = 0; i < c->n; i++) {
      if (!c->m[i]->bus) continue;
      while ((r = sd.process(c->m[i]->bus, NULL)) > 0) {}
      if (r < 0) {
        /* the manager went away: its jobs end unknown */
        size_t j;
        for (j = 0; j < n; j++) {
          if (jobs[j].uid == c->m[i]->uid && jobs[j].state == RM_SD_JOB_PENDING) {
            jobs[j].state = RM_SD_JOB_FAILED;
            snprintf(jobs[j].result, sizeof jobs[j].result, "disconnected");
          }
        }
        sd.bus_flush_close_unref(c->m[i]->bus);
        c->m[i]->bus = NULL;
      }
    }
    left = pending(jobs, n);
    if (!left || (w && w->stop && w->stop(w->ctx))) break;
    wait = deadline_ms - rm_sd_now_ms();
    if (wait <= 0) break;
    /* the waiter is asked again at least once a second */
    if (wait > 1000) wait = 1000;
    for (i = 0; i < c->n; i++) {
      uint64_t usec;
      if (!c->m[i]->bus) continue;
      pfd[k].fd = sd.get_fd(c->m[i]->bus);
      r = sd.get_events(c->m[i]->bus);
      pfd[k].events = (short)(r > 0 ? r : POLLIN);
      pfd[k].revents = 0;
      k++;
      if (sd.get_timeout(c->m[i]->bus, &usec) > 0 && usec != UINT64_MAX) {
        struct timespec ts;
        long at;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        at = (long)(usec / 1000) -
             ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (at < 0) at = 0;
        if (at < wait) wait = at;
      }
    }
    if (w && w->cancel_fd >= 0) {
      pfd[k].fd = w->cancel_fd;
      pfd[k].events = POLLIN;
      pfd[k].revents = 0;
      k++;
    }
    if (k == 0) break;
    r = poll(pfd, (nfds_t)k, wait > INT_MAX ? INT_MAX : (int)wait);
    if (r < 0 && errno != EINTR) break;
    if (w && w->cancel_fd >= 0 && (pfd[k - 1].revents & POLLIN)) break;
  }
  c->jobs = NULL;
  c->njobs = 0;
  c->waiter = NULL;
  free(pfd);
  return pending(jobs, n);
}
