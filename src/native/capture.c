/*
 * Native backend, bottom layer: a capture of what restarting a process
 * needs when it never registered for restart, read before it is stopped:
 * its executable, arguments, working directory, environment, user, group
 * and groups, its systemd unit or desktop application id, and the facts
 * that forbid restarting it (a set-ID executable, another PID or mount
 * namespace, a controlling terminal).
 *
 * Every file is read through a descriptor of /proc/PID opened once and
 * checked against the start time: a pid reused meanwhile makes the reads
 * fail (the old directory stays the old process's), never answer for
 * another process.
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
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "capture.h"
#include "procfs.h"

#define MAX_FILE (16u << 20) /* no /proc file of interest is larger */

static void say(char msg[RM_NATIVE_MSG_SIZE], const char *fmt, unsigned long pid,
                const char *what, int err) {
  snprintf(msg, RM_NATIVE_MSG_SIZE, fmt, pid, what, strerror(err));
}

static unsigned code_of(int err) {
  switch (err) {
  case ENOENT:
  case ESRCH: return RM_E_FILE_NOT_FOUND;
  case EACCES:
  case EPERM: return RM_E_ACCESS_DENIED;
  case ENOMEM: return RM_E_OUTOFMEMORY;
  case EMFILE:
  case ENFILE: return RM_E_TOO_MANY_OPEN_FILES;
  default: return RM_E_INVALID_PARAMETER;
  }
}

/* The whole of /proc/PID/name into a malloc'd, NUL-terminated buffer,
 * through the backend's one /proc reader. 0 or an errno value. */
static int read_all(int procfd, uint32_t pid, const char *name, char **out,
                    size_t *len) {
  rm_native_buf b = {0};
  int err = rm_native_proc_read(procfd, pid, name, &b);
  *out = NULL;
  *len = 0;
  if (err) {
    free(b.p);
    return err;
  }
  if (!b.p) {
    b.p = (char *)malloc(1);
    if (!b.p) return ENOMEM;
    b.p[0] = '\0';
  }
  *out = b.p;
  *len = b.len;
  return 0;
}

/* A link of /proc/PID into a malloc'd string (" (deleted)" removed). 0
 * or an errno value. */
static int read_link(int procfd, uint32_t pid, const char *name, char **out) {
  char path[PATH_MAX + 16];
  size_t len;
  int err = rm_native_proc_link(procfd, pid, name, path, sizeof path, &len);
  if (err) return err;
  *out = strdup(path);
  return *out ? 0 : ENOMEM;
}

/* Splits a NUL-separated list of len bytes into a NULL-terminated array of
 * pointers into buf. 0 or an errno value. */
static int split(char *buf, size_t len, char ***out, size_t *count) {
  size_t n = 0, i, k = 0;
  char **v;
  for (i = 0; i < len; i++)
    if (buf[i] == '\0') n++;
  if (len > 0 && buf[len - 1] != '\0') n++; /* the kernel's last one may
                                              * lack its NUL */
  v = (char **)calloc(n + 1, sizeof *v);
  if (!v) return ENOMEM;
  for (i = 0; i < len && k < n; i += strlen(buf + i) + 1) v[k++] = buf + i;
  v[k] = NULL;
  *out = v;
  *count = k;
  return 0;
}

/* The fields of /proc/PID/stat a capture needs. */
static int parse_stat(const char *buf, uint32_t *ppid, long long *tty,
                      uint64_t *start) {
  const char *p = strrchr(buf, ')');
  unsigned long long v[20];
  char state;
  int i;
  if (!p) return -1;
  p++;
  if (sscanf(p, " %c", &state) != 1) return -1;
  p += 2;
  /* fields 4 (ppid) to 22 (starttime) */
  for (i = 0; i < 19; i++) {
    char *end;
    long long s;
    while (*p == ' ') p++;
    errno = 0;
    s = strtoll(p, &end, 10);
    if (end == p || errno) return -1;
    v[i] = (unsigned long long)s;
    p = end;
  }
  *ppid = (uint32_t)v[0];
  *tty = (long long)v[3];
  *start = (uint64_t)v[18];
  return 0;
}

static const char *line_value(const char *buf, const char *key) {
  size_t n = strlen(key);
  const char *p = buf;
  while (p && *p) {
    if (strncmp(p, key, n) == 0) return p + n;
    p = strchr(p, '\n');
    if (p) p++;
  }
  return NULL;
}

/* Uid:, Gid: and Groups: of /proc/PID/status. */
static int parse_status(const char *buf, rm_native_capture *c) {
  const char *u = line_value(buf, "Uid:"), *g = line_value(buf, "Gid:");
  const char *gs = line_value(buf, "Groups:");
  unsigned long a, b;
  size_t n = 0;
  if (!u || !g || sscanf(u, "%lu %lu", &a, &b) != 2) return -1;
  c->uid = (uint32_t)a;
  c->euid = (uint32_t)b;
  if (sscanf(g, "%lu %lu", &a, &b) != 2) return -1;
  c->gid = (uint32_t)a;
  c->egid = (uint32_t)b;
  if (gs) {
    const char *p = gs;
    char *end;
    c->groups = (uint32_t *)calloc(strlen(gs) / 2 + 1, sizeof *c->groups);
    if (!c->groups) return -1;
    for (;;) {
      while (*p == ' ' || *p == '\t') p++;
      if (*p < '0' || *p > '9') break;
      c->groups[n++] = (uint32_t)strtoul(p, &end, 10);
      p = end;
    }
  }
  c->ngroups = n;
  return 0;
}

int rm_native_cgroup_unit(const char *path, char *unit, size_t size,
                          int *user_unit) {
  const char *p = path, *found = NULL, *user = NULL;
  size_t flen = 0;
  while (*p) {
    const char *start, *end;
    size_t len;
    while (*p == '/') p++;
    start = p;
    while (*p && *p != '/' && *p != '\n') p++;
    end = p;
    len = (size_t)(end - start);
    if (len > 13 && strncmp(start, "user@", 5) == 0 &&
        strncmp(end - 8, ".service", 8) == 0) {
      user = start;
      found = NULL;
    } else if ((len > 8 && strncmp(end - 8, ".service", 8) == 0) ||
               (len > 6 && strncmp(end - 6, ".scope", 6) == 0)) {
      found = start;
      flen = len;
    }
    if (*p == '\n') break;
  }
  if (!found || flen + 1 > size) return -1;
  /* a login session or the manager's own scope is not the program's unit */
  if ((flen > 14 && strncmp(found, "session-", 8) == 0 &&
       strncmp(found + flen - 6, ".scope", 6) == 0) ||
      (flen == 10 && strncmp(found, "init.scope", 10) == 0))
    return -1;
  memcpy(unit, found, flen);
  unit[flen] = '\0';
  *user_unit = user != NULL && user < found;
  return 0;
}

int rm_native_unit_app_id(const char *unit, char *buf, size_t size) {
  size_t len = strlen(unit), i, k = 0;
  const char *s, *e, *dash;
  if (strncmp(unit, "app-", 4) != 0) return -1;
  s = unit + 4;
  if (len > 6 && strcmp(unit + len - 6, ".scope") == 0) {
    /* app[-LAUNCHER]-ID-RANDOM.scope */
    e = unit + len - 6;
    while (e > s && e[-1] != '-') e--;
    if (e <= s) return -1;
    e--; /* the '-' before RANDOM */
  } else if (len > 8 && strcmp(unit + len - 8, ".service") == 0) {
    /* app[-LAUNCHER]-ID[@RANDOM].service */
    e = unit + len - 8;
    dash = (const char *)memchr(s, '@', (size_t)(e - s));
    if (dash) e = dash;
  } else {
    return -1;
  }
  /* the ID is the last '-'-separated part: its own dashes are escaped */
  dash = e;
  while (dash > s && dash[-1] != '-') dash--;
  s = dash;
  if (s >= e) return -1;
  for (i = 0; s + i < e; i++) {
    char ch = s[i];
    if (ch == '\\' && s + i + 3 < e && s[i + 1] == 'x') {
      unsigned v;
      char hex[3] = {s[i + 2], s[i + 3], '\0'};
      if (sscanf(hex, "%2x", &v) == 1) {
        ch = (char)v;
        i += 3;
      }
    }
    if (k + 1 >= size) return -1;
    buf[k++] = ch;
  }
  buf[k] = '\0';
  return k ? 0 : -1;
}

int rm_native_cgroup_dir(const char *path, char *buf, size_t size) {
  char line[4096];
  FILE *f = fopen("/proc/self/mountinfo", "re");
  int found = -1;
  if (!f || path[0] != '/') {
    if (f) fclose(f);
    return -1;
  }
  /* every cgroup2 mount whose root lies above path; a later mount hides
   * an earlier one at or above its place, so the last that exists wins */
  while (fgets(line, sizeof line, f)) {
    char r[2048], m[2048], dir[4096];
    const char *sep = strstr(line, " - ");
    size_t rlen;
    struct stat st;
    if (!sep || strncmp(sep, " - cgroup2 ", 11) != 0) continue;
    if (sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) != 2) continue;
    if (strchr(r, '\\') || strchr(m, '\\')) continue;
    rlen = strcmp(r, "/") == 0 ? 0 : strlen(r);
    if (rlen && (strncmp(path, r, rlen) != 0 ||
                 (path[rlen] != '/' && path[rlen] != '\0')))
      continue;
    if ((size_t)snprintf(dir, sizeof dir, "%s%s", m, path + rlen) >=
        sizeof dir)
      continue;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (strlen(dir) >= size) continue;
    strcpy(buf, dir);
    found = 0;
  }
  fclose(f);
  return found;
}

/* Whether the manager of the unit at cgroup path (the unit's own cgroup
 * directory is its last component) is a user's: the nearest ancestor with
 * an init.scope holds the manager, and the system's is PID 1. -1 when no
 * manager was found. */
static int manager_is_user(const char *path, size_t unit_end) {
  char p[2048], dir[2300], procs[2400];
  size_t n = unit_end < sizeof p ? unit_end : sizeof p - 1;
  memcpy(p, path, n);
  p[n] = '\0';
  for (;;) {
    char *slash = strrchr(p, '/');
    FILE *f;
    unsigned long pid;
    if (!slash) return -1;
    *slash = '\0';
    if (rm_native_cgroup_dir(p[0] ? p : "/", dir, sizeof dir) != 0)
      return -1;
    snprintf(procs, sizeof procs, "%s/init.scope/cgroup.procs",
             strcmp(dir, "/") == 0 ? "" : dir);
    f = fopen(procs, "re");
    if (!f) continue;
    if (fscanf(f, "%lu", &pid) != 1) pid = 0;
    fclose(f);
    if (pid) return pid != 1;
    if (!p[0]) return -1;
  }
}

static void take_unit(rm_native_capture *c, const char *cg) {
  const char *line = cg, *path = NULL;
  int v2 = 0;
  while (line && *line) {
    if (strncmp(line, "0::", 3) == 0) {
      path = line + 3;
      v2 = 1;
      break;
    }
    if (!path && strncmp(line, "1:name=systemd:", 15) == 0) path = line + 15;
    line = strchr(line, '\n');
    if (line) line++;
  }
  if (!path) {
    /* hybrid: the named v1 tree when the v2 line is empty */
    line = strstr(cg, ":name=systemd:");
    if (line) path = line + 14;
  }
  if (!path) return;
  if (rm_native_cgroup_unit(path, c->unit, sizeof c->unit, &c->user_unit) != 0) {
    c->unit[0] = '\0';
    return;
  }
  if (rm_native_unit_app_id(c->unit, c->app_id, sizeof c->app_id) != 0)
    c->app_id[0] = '\0';
  if (!c->user_unit && v2) {
    /* no user@UID.service above it: ask where its manager lives */
    const char *u = strstr(path, c->unit);
    size_t end = u ? (size_t)(u - path) + strlen(c->unit) : 0;
    if (end && manager_is_user(path, end) == 1) c->user_unit = 1;
  }
}

/* "PID/name", the path below /proc of one of pid's files. */
static const char *at(char *buf, size_t size, uint32_t pid,
                      const char *name) {
  snprintf(buf, size, "%lu/%s", (unsigned long)pid, name);
  return buf;
}

/* Whether pid's ns/name is another namespace than the caller's. An
 * unreadable one counts as another: the safe answer. */
static int other_ns(int procfd, uint32_t pid, const char *name) {
  char self[64], path[64];
  struct stat a, b;
  snprintf(self, sizeof self, "/proc/self/%s", name);
  if (fstatat(procfd, at(path, sizeof path, pid, name), &a, 0) != 0 ||
      stat(self, &b) != 0)
    return 1;
  return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* Whether one of pid's standard descriptors is its controlling terminal
 * tty_nr (the kernel's encoding of the device). */
static int on_terminal(int procfd, uint32_t pid, long long tty_nr) {
  unsigned long long t = (unsigned long long)tty_nr;
  unsigned maj = (unsigned)((t >> 8) & 0xfff);
  unsigned min = (unsigned)((t & 0xff) | ((t >> 12) & 0xfff00));
  static const char *const fds[] = {"fd/0", "fd/1", "fd/2"};
  char path[64];
  int i;
  if (!tty_nr) return 0;
  for (i = 0; i < 3; i++) {
    struct stat st;
    if (fstatat(procfd, at(path, sizeof path, pid, fds[i]), &st, 0) == 0 &&
        S_ISCHR(st.st_mode) && major(st.st_rdev) == maj &&
        minor(st.st_rdev) == min)
      return 1;
  }
  return 0;
}

void rm_native_capture_free(rm_native_capture *c) {
  if (!c) return;
  free(c->exe);
  free(c->cwd);
  free(c->argv);
  free(c->envp);
  free(c->argbuf);
  free(c->envbuf);
  free(c->groups);
  memset(c, 0, sizeof *c);
}

unsigned rm_native_capture_take(const rm_unique_process *p,
                                rm_native_capture *c,
                                char msg[RM_NATIVE_MSG_SIZE]) {
  char path[64], *buf = NULL;
  size_t len;
  unsigned long pid = (unsigned long)p->pid;
  int procfd, err;
  uint64_t start = 0;
  struct stat st, now;
  memset(c, 0, sizeof *c);
  msg[0] = '\0';
  if (p->pid == 0) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "pid 0 names no process");
    return RM_E_INVALID_PARAMETER;
  }
  procfd = rm_native_proc_open();
  if (procfd < 0) {
    err = errno;
    say(msg, "process %lu: cannot open /proc%s: %s", pid, "", err);
    return code_of(err);
  }
  err = read_all(procfd, p->pid, "stat", &buf, &len);
  if (err || parse_stat(buf, &c->ppid, &c->tty_nr, &start) != 0) {
    free(buf);
    close(procfd);
    if (err == ENOENT || err == ESRCH)
      snprintf(msg, RM_NATIVE_MSG_SIZE, "process %lu: no such process", pid);
    else
      say(msg, "process %lu: cannot read its %s: %s", pid, "stat",
          err ? err : EINVAL);
    return err ? code_of(err) : RM_E_FILE_NOT_FOUND;
  }
  free(buf);
  buf = NULL;
  if (p->start_time && start != p->start_time) {
    close(procfd);
    snprintf(msg, RM_NATIVE_MSG_SIZE,
             "process %lu has ended (the pid names another process now)", pid);
    return RM_E_FILE_NOT_FOUND;
  }
  c->process.pid = p->pid;
  c->process.start_time = start;
#define STEP(what, call)                                                   \
  do {                                                                     \
    if ((err = (call)) != 0) {                                             \
      say(msg, "process %lu: cannot read its %s: %s", pid, what, err);     \
      goto fail;                                                           \
    }                                                                      \
  } while (0)
  STEP("status", read_all(procfd, p->pid, "status", &buf, &len));
  if (parse_status(buf, c) != 0) {
    err = EINVAL;
    say(msg, "process %lu: cannot read its %s: %s", pid, "status", err);
    goto fail;
  }
  free(buf);
  buf = NULL;
  STEP("executable", read_link(procfd, p->pid, "exe", &c->exe));
  STEP("working directory", read_link(procfd, p->pid, "cwd", &c->cwd));
  STEP("command line", read_all(procfd, p->pid, "cmdline", &c->argbuf, &len));
  STEP("command line", split(c->argbuf, len, &c->argv, &c->argc));
  STEP("environment", read_all(procfd, p->pid, "environ", &c->envbuf, &len));
  STEP("environment", split(c->envbuf, len, &c->envp, &c->envc));
  /* the file the process runs (the old one when it was replaced) */
  if (fstatat(procfd, at(path, sizeof path, p->pid, "exe"), &st, 0) == 0) {
    if ((st.st_mode & S_ISUID) ||
        ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP)))
      c->setid = 1;
    /* its path names another file now, or none */
    if (stat(c->exe, &now) != 0 || now.st_ino != st.st_ino ||
        now.st_dev != st.st_dev)
      c->exe_deleted = 1;
  }
  if (c->uid != c->euid || c->gid != c->egid) c->setid = 1;
  c->interactive = on_terminal(procfd, p->pid, c->tty_nr);
  c->other_pidns = other_ns(procfd, p->pid, "ns/pid");
  c->other_mntns = other_ns(procfd, p->pid, "ns/mnt");
  if (read_all(procfd, p->pid, "cgroup", &buf, &len) == 0) take_unit(c, buf);
  free(buf);
  buf = NULL;
#undef STEP
  /* still the same process: everything above described it */
  err = read_all(procfd, p->pid, "stat", &buf, &len);
  if (!err) {
    uint32_t ppid;
    long long tty;
    uint64_t again = 0;
    if (parse_stat(buf, &ppid, &tty, &again) != 0 || again != start)
      err = ESRCH;
  }
  if (err) {
    say(msg, "process %lu: %s%s", pid, "ended while it was read: ", err);
    goto fail;
  }
  free(buf);
  close(procfd);
  return RM_OK;
fail:
  free(buf);
  close(procfd);
  rm_native_capture_free(c);
  return code_of(err);
}

/* Whether /proc/PID/cmdline is argv. */
static int same_cmdline(int procfd, uint32_t pid, char *const *argv) {
  char *buf;
  size_t len, off = 0, i;
  int same = 1;
  if (read_all(procfd, pid, "cmdline", &buf, &len) != 0) return 0;
  for (i = 0; argv[i] && same; i++) {
    size_t n = strlen(argv[i]);
    if (off + n > len || memcmp(buf + off, argv[i], n) != 0 ||
        (off + n < len && buf[off + n] != '\0'))
      same = 0;
    off += n + 1;
  }
  if (same && off < len) same = 0;
  free(buf);
  return same;
}

unsigned rm_native_find_running(const char *exe, char *const *argv,
                                uint32_t uid, const rm_unique_process *except,
                                uint32_t *pid) {
  int procfd = rm_native_proc_open();
  DIR *d;
  struct dirent *e;
  rm_native_buf scratch = {0};
  *pid = 0;
  if (procfd < 0) return code_of(errno);
  d = opendir("/proc");
  if (!d) {
    int err = errno;
    close(procfd);
    return code_of(err);
  }
  while ((e = readdir(d)) != NULL) {
    char path[PATH_MAX + 16];
    unsigned long n;
    char tail;
    size_t len;
    uid_t owner;
    rm_native_stat st;
    if (sscanf(e->d_name, "%lu%c", &n, &tail) != 1) continue;
    if (except && (uint32_t)n == except->pid) continue;
    if (rm_native_proc_owner(procfd, (uint32_t)n, &owner) != 0 ||
        (uint32_t)owner != uid)
      continue;
    /* an instance still running a replaced file counts too: it runs */
    if (rm_native_proc_link(procfd, (uint32_t)n, "exe", path, sizeof path,
                            &len) != 0 ||
        strcmp(path, exe) != 0)
      continue;
    if (argv && !same_cmdline(procfd, (uint32_t)n, argv)) continue;
    /* not a zombie: those hold nothing and run nothing */
    if (rm_native_proc_stat(procfd, (uint32_t)n, &scratch, &st) != 0 ||
        st.state == 'Z' || st.state == 'X')
      continue;
    *pid = (uint32_t)n;
    break;
  }
  free(scratch.p);
  closedir(d);
  close(procfd);
  return RM_OK;
}
