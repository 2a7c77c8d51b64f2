/*
 * Native backend, bottom layer: starting a program so that it outlives the
 * installer that starts it.
 *
 * An installer often runs as a systemd unit: when that unit ends, systemd
 * kills every process left in its cgroup, restarted applications included,
 * however detached they are. So a restart is started, in this order:
 *
 * 1. in the user's own systemd manager, as a transient service
 *    (systemd-run --user, Type=exec, so that a failed exec is known), when
 *    the manager answers at $XDG_RUNTIME_DIR/systemd/private of the
 *    program's environment and that socket belongs to the program's user;
 *    the environment goes by name only (-E NAME: values never appear on a
 *    command line);
 * 2. otherwise detached (its own session, stdio on /dev/null, nothing
 *    inherited) and moved, before it runs anything, into a cgroup created
 *    beside the installer's ("restartmanager-restarted" in the parent of
 *    the installer's cgroup v2), when the installer may create one;
 * 3. otherwise detached only (the installer's cgroup could not be left:
 *    an installer that is not root, or one in the root cgroup, where
 *    leaving is not needed).
 *
 * In every case the program runs as its own user, group and groups, never
 * with the installer's privileges.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "launch.h"

#define CGROUP_NAME "restartmanager-restarted"

extern char **environ;

static const char *const systemd_run_paths[] = {"/usr/bin/systemd-run",
                                                "/bin/systemd-run", NULL};
static const char *const systemctl_paths[] = {"/usr/bin/systemctl",
                                              "/bin/systemctl", NULL};

static const char *find_tool(const char *const *paths) {
  size_t i;
  for (i = 0; paths[i]; i++)
    if (access(paths[i], X_OK) == 0) return paths[i];
  return NULL;
}

static const char *env_get(char *const *envp, const char *name) {
  size_t n = strlen(name), i;
  for (i = 0; envp && envp[i]; i++)
    if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
      return envp[i] + n + 1;
  return NULL;
}

/* Closes every descriptor from lo up. */
static void close_from(int lo) {
  long fd, max;
  if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0u) == 0) return;
  max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (fd = lo; fd < max; fd++) (void)close((int)fd);
}

static void default_signals(void) {
  sigset_t none;
  int sig;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
}

/* The program's own ids: never the installer's privileges. 0 or errno. */
static int become(const rm_native_relaunch *l) {
  if (geteuid() == 0) {
    gid_t groups[1024];
    size_t i, n = l->ngroups < 1024 ? l->ngroups : 1024;
    for (i = 0; i < n; i++) groups[i] = (gid_t)l->groups[i];
    if (setgroups(n, groups) != 0) return errno;
  }
  if (setgid((gid_t)l->gid) != 0 || setuid((uid_t)l->uid) != 0) return errno;
  if (l->uid != 0 && setuid(0) == 0) return EPERM;
  return 0;
}

/* ---------------------------------------------------------------------
 * 1. The user's systemd manager
 * ------------------------------------------------------------------- */

/* Whether systemd accepts NAME as an environment variable name. */
static int plain_env_name(const char *e) {
  const char *p = e;
  if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
    return 0;
  for (; *p && *p != '='; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return *p == '=';
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Whether the manager can start l exactly: every variable has a name
 * systemd takes, no argument would be expanded ('$') and argv[0] is the
 * executable (systemd-run passes the executable's path as argv[0]). */
static int manager_can(const rm_native_relaunch *l) {
  size_t i;
  if (!l->argv[0] || strcmp(base_name(l->argv[0]), base_name(l->exe)) != 0)
    return 0;
  for (i = 1; l->argv[i]; i++)
    if (strchr(l->argv[i], '$')) return 0;
  if (strchr(l->exe, '$') || strchr(l->cwd, '$')) return 0;
  for (i = 0; l->envp[i]; i++)
    if (!plain_env_name(l->envp[i])) return 0;
  return 1;
}

/* The user's manager socket, when it belongs to l's user. */
static int manager_socket(const rm_native_relaunch *l, char *buf, size_t size) {
  const char *dir = env_get(l->envp, "XDG_RUNTIME_DIR");
  struct stat st;
  if (!dir || dir[0] != '/') return -1;
  if ((size_t)snprintf(buf, size, "%s/systemd/private", dir) >= size) return -1;
  if (lstat(buf, &st) != 0 || !S_ISSOCK(st.st_mode) ||
      (uint32_t)st.st_uid != l->uid)
    return -1;
  return 0;
}

/* Runs tool argv as l's user (NULL: as the caller) with envp, waits for
 * it; its standard output (and error) into out. Returns its exit status,
 * or -1. */
static int run_as(const rm_native_relaunch *l, const char *tool,
                  char *const *argv, char *const *envp, char *out,
                  size_t size) {
  int pfd[2], status = 0;
  size_t n = 0;
  pid_t pid;
  if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
  pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_RDWR);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 ||
        dup2(pfd[1], 2) < 0)
      _exit(127);
    close_from(3);
    default_signals();
    if (l && become(l) != 0) _exit(126);
    if (chdir("/") != 0) _exit(126);
    execve(tool, argv, envp);
    _exit(127);
  }
  close(pfd[1]);
  for (;;) {
    ssize_t r;
    char sink[256];
    if (n + 1 < size)
      r = read(pfd[0], out + n, size - 1 - n);
    else
      r = read(pfd[0], sink, sizeof sink);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (n + 1 < size) n += (size_t)r;
  }
  if (size) out[n] = '\0';
  close(pfd[0]);
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A unit name from l->name: letters, digits and "._-" kept, the rest '_',
 * made unique with the caller's pid and a counter. */
static void unit_name(const rm_native_relaunch *l, char *buf, size_t size) {
  static unsigned counter;
  char name[64];
  const char *s = l->name && l->name[0] ? l->name : base_name(l->exe);
  size_t i;
  for (i = 0; s[i] && i < sizeof name - 1; i++) {
    char ch = s[i];
    name[i] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
               (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
               ch == '-')
                  ? ch
                  : '_';
  }
  name[i] = '\0';
  counter++;
  snprintf(buf, size, "restartmanager-%s-%lu-%u.service", name,
           (unsigned long)getpid(), counter);
}

/* 0: started by the manager; -1: not (msg says why). */
static int start_in_manager(const rm_native_relaunch *l, uint32_t *pid,
                            char msg[RM_NATIVE_MSG_SIZE]) {
  const char *run = find_tool(systemd_run_paths);
  const char *ctl = find_tool(systemctl_paths);
  char unit[160], unitopt[200], cwdopt[PATH_MAX + 32], desc[300];
  char umaskopt[40], niceopt[40];
  size_t envstart = 0;
  char out[1024];
  size_t nenv = 0, nargs = 0, i, k = 0;
  char **argv;
  int rc;
  if (!run) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "systemd-run is not installed");
    return -1;
  }
  for (nenv = 0; l->envp[nenv]; nenv++) {}
  for (nargs = 0; l->argv[nargs]; nargs++) {}
  argv = (char **)calloc(2 * nenv + nargs + 16, sizeof *argv);
  if (!argv) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "out of memory");
    return -1;
  }
  unit_name(l, unit, sizeof unit);
  snprintf(unitopt, sizeof unitopt, "--unit=%s", unit);
  snprintf(cwdopt, sizeof cwdopt, "--working-directory=%s", l->cwd);
  snprintf(desc, sizeof desc, "--description=%s (restarted by restartmanager)",
           l->name && l->name[0] ? l->name : base_name(l->exe));
  argv[k++] = (char *)run;
  argv[k++] = (char *)"--user";
  argv[k++] = (char *)"--quiet";
  argv[k++] = (char *)"--collect";
  argv[k++] = (char *)"--property=Type=exec";
  /* a program that forks into the background and leaves its first
   * process is not killed with it */
  argv[k++] = (char *)"--property=KillMode=process";
  argv[k++] = unitopt;
  argv[k++] = desc;
  argv[k++] = cwdopt;
  if (l->has_umask) {
    snprintf(umaskopt, sizeof umaskopt, "--property=UMask=%04o",
             l->umask & 07777u);
    argv[k++] = umaskopt;
  }
  if (l->has_nice) {
    snprintf(niceopt, sizeof niceopt, "--property=Nice=%d", l->nice);
    argv[k++] = niceopt;
  }
  envstart = k;
  for (i = 0; i < nenv; i++) {
    /* "-E NAME": the value comes from systemd-run's own environment */
    char *eq = strchr(l->envp[i], '=');
    size_t n = (size_t)(eq - l->envp[i]);
    char *opt = (char *)malloc(n + 3);
    if (!opt) break;
    memcpy(opt, "-E", 2);
    memcpy(opt + 2, l->envp[i], n);
    opt[n + 2] = '\0';
    argv[k++] = opt;
  }
  if (i < nenv) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "out of memory");
    rc = -1;
    goto done;
  }
  argv[k++] = (char *)"--";
  argv[k++] = (char *)l->exe;
  for (i = 1; i < nargs; i++) argv[k++] = l->argv[i];
  argv[k] = NULL;
  rc = run_as(l, run, argv, l->envp, out, sizeof out);
  if (rc != 0) {
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = '\0';
    snprintf(msg, RM_NATIVE_MSG_SIZE, "systemd-run --user failed (%d): %.180s",
             rc, out[0] ? out : "no message");
    rc = -1;
    goto done;
  }
  /* its main process, for the caller's report */
  *pid = 0;
  if (ctl) {
    char *show[] = {(char *)ctl, (char *)"--user", (char *)"show",
                    (char *)"--property=MainPID", (char *)"--value",
                    unit, NULL};
    if (run_as(l, ctl, show, l->envp, out, sizeof out) == 0)
      *pid = (uint32_t)strtoul(out, NULL, 10);
  }
  rc = 0;
done:
  for (i = envstart; i < envstart + nenv && argv[i]; i++) free(argv[i]);
  free(argv);
  return rc;
}

static int valid_unit(const char *u) {
  size_t n = strlen(u), i;
  if (n < 9 || n > 255 || strcmp(u + n - 8, ".service") != 0) return 0;
  for (i = 0; i < n; i++) {
    char ch = u[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == ':' || ch == '_' || ch == '.' ||
          ch == '-' || ch == '\\' || ch == '@'))
      return 0;
  }
  return u[0] != '-';
}

unsigned rm_native_start_unit(const rm_native_relaunch *l, const char *unit,
                              int user, uint32_t *pid,
                              char msg[RM_NATIVE_MSG_SIZE]) {
  const char *ctl = find_tool(systemctl_paths);
  char out[1024], sock[PATH_MAX + 32];
  char *start[6], *show[8];
  int k = 0, rc;
  msg[0] = '\0';
  *pid = 0;
  if (!valid_unit(unit)) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "'%.200s' is not a service unit", unit);
    return RM_E_BAD_ARGUMENTS;
  }
  if (!ctl) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "systemctl is not installed");
    return RM_E_FILE_NOT_FOUND;
  }
  if (user && manager_socket(l, sock, sizeof sock) != 0) {
    snprintf(msg, RM_NATIVE_MSG_SIZE,
             "the user's systemd manager does not answer");
    return RM_E_FILE_NOT_FOUND;
  }
  start[k++] = (char *)ctl;
  if (user) start[k++] = (char *)"--user";
  start[k++] = (char *)"start";
  start[k++] = (char *)"--";
  start[k++] = (char *)unit;
  start[k] = NULL;
  /* the system manager is asked by the caller itself */
  rc = run_as(user ? l : NULL, ctl, start, user ? l->envp : environ, out,
              sizeof out);
  if (rc != 0) {
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = '\0';
    snprintf(msg, RM_NATIVE_MSG_SIZE, "systemctl start %s failed (%d): %.150s",
             unit, rc, out[0] ? out : "no message");
    return RM_E_FAIL_RESTART;
  }
  k = 0;
  show[k++] = (char *)ctl;
  if (user) show[k++] = (char *)"--user";
  show[k++] = (char *)"show";
  show[k++] = (char *)"--property=MainPID";
  show[k++] = (char *)"--value";
  show[k++] = (char *)"--";
  show[k++] = (char *)unit;
  show[k] = NULL;
  if (run_as(user ? l : NULL, ctl, show, user ? l->envp : environ, out,
             sizeof out) == 0)
    *pid = (uint32_t)strtoul(out, NULL, 10);
  return RM_OK;
}

/* ---------------------------------------------------------------------
 * 2. and 3. Detached, out of the installer's cgroup when possible
 * ------------------------------------------------------------------- */

/* The directory of the caller's cgroup v2, into buf: 0, or 1 for the
 * root cgroup. -1 when there is none (no cgroup2 mount, or a path this
 * reader does not trust). */
static int own_cgroup_dir(char *buf, size_t size) {
  char line[4096], path[2048] = "";
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return -1;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "0::", 3) == 0) {
      size_t n = strcspn(line + 3, "\n");
      if (n < sizeof path) {
        memcpy(path, line + 3, n);
        path[n] = '\0';
      }
      break;
    }
  }
  fclose(f);
  if (path[0] != '/') return -1;
  if (rm_native_cgroup_dir(path, buf, size) != 0) return -1;
  return strcmp(path, "/") == 0 ? 1 : 0;
}

/* The cgroup.procs of a cgroup beside the caller's (made when missing),
 * into buf. -1 when the caller may not or need not leave its cgroup. */
static int sibling_procs(char *buf, size_t size) {
  char dir[4096];
  char *slash;
  int root = own_cgroup_dir(dir, sizeof dir);
  if (root != 0) return -1; /* none, or the root cgroup: nothing to leave */
  slash = strrchr(dir, '/');
  if (!slash) return -1;
  *slash = '\0';
  if (strcmp(slash + 1, CGROUP_NAME) == 0) {
    /* the caller is itself a restarted program: its own cgroup will do */
    *slash = '/';
    if ((size_t)snprintf(buf, size, "%s/cgroup.procs", dir) >= size)
      return -1;
  } else {
    if ((size_t)snprintf(buf, size, "%s/" CGROUP_NAME, dir) >= size)
      return -1;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    if (strlen(buf) + 14 >= size) return -1;
    strcat(buf, "/cgroup.procs");
  }
  return access(buf, W_OK) == 0 ? 0 : -1;
}

/* Detached, through the native backend's one way of starting processes
 * (launch.c), moved into the sibling cgroup when there is one. */
static unsigned start_detached(const rm_native_relaunch *r, uint32_t *pid,
                               int *via, char msg[RM_NATIVE_MSG_SIZE]) {
  rm_native_launch l;
  char procs[4200], cg[4300];
  gid_t groups[1024];
  size_t i, n = r->ngroups < 1024 ? r->ngroups : 1024;
  pid_t ignored;
  int err, moved = sibling_procs(procs, sizeof procs) == 0;
  memset(&l, 0, sizeof l);
  for (i = 0; i < n; i++) groups[i] = (gid_t)r->groups[i];
  l.file = r->exe;
  l.argv = r->argv;
  l.envp = r->envp;
  l.cwd = r->cwd;
  l.detach = 1;
  l.set_ids = 1;
  l.uid = (uid_t)r->uid;
  l.gid = (gid_t)r->gid;
  l.ngroups = n;
  l.groups = groups;
  l.cgroup_procs = moved ? procs : NULL;
  l.has_umask = r->has_umask;
  l.umask = (mode_t)r->umask;
  l.has_nice = r->has_nice;
  l.nice = r->nice;
  if (r->limits) {
    l.has_limits = 1;
    memcpy(l.limits, r->limits, sizeof l.limits);
  }
  err = rm_native_launch_start(&l, &ignored);
  if (err) {
    snprintf(msg, RM_NATIVE_MSG_SIZE, "cannot start '%s' as uid %lu in '%s': %s",
             r->exe, (unsigned long)r->uid, r->cwd, strerror(err));
    return RM_E_FAIL_RESTART;
  }
  /* the program is nobody's child: found by what it runs */
  *pid = 0;
  (void)rm_native_find_running(r->exe, r->argv, r->uid, NULL, pid);
  *via = RM_NATIVE_VIA_DETACHED;
  if (moved && *pid) {
    char path[64], *line = NULL;
    size_t cap = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%lu/cgroup", (unsigned long)*pid);
    f = fopen(path, "re");
    procs[strlen(procs) - 13] = '\0'; /* the cgroup's directory */
    while (f && getline(&line, &cap, f) > 0) {
      if (strncmp(line, "0::", 3) == 0) {
        line[strcspn(line, "\n")] = '\0';
        if (rm_native_cgroup_dir(line + 3, cg, sizeof cg) == 0 &&
            strcmp(cg, procs) == 0)
          *via = RM_NATIVE_VIA_CGROUP;
        break;
      }
    }
    free(line);
    if (f) fclose(f);
  }
  return RM_OK;
}

unsigned rm_native_relaunch_start(const rm_native_relaunch *l, uint32_t *pid,
                                int *via, char msg[RM_NATIVE_MSG_SIZE]) {
  char sock[PATH_MAX + 32];
  msg[0] = '\0';
  *pid = 0;
  *via = 0;
  if (!l->exe || l->exe[0] != '/' || !l->cwd || l->cwd[0] != '/' ||
      !l->argv || !l->argv[0] || !l->envp) {
    snprintf(msg, RM_NATIVE_MSG_SIZE,
             "an absolute executable, an absolute working directory, "
             "arguments and an environment are needed");
    return RM_E_BAD_ARGUMENTS;
  }
  if (!l->no_manager && manager_socket(l, sock, sizeof sock) == 0 &&
      manager_can(l)) {
    char why[RM_NATIVE_MSG_SIZE];
    if (start_in_manager(l, pid, why) == 0) {
      *via = RM_NATIVE_VIA_USER_MANAGER;
      return RM_OK;
    }
    /* the manager would not: started detached, and said why */
    snprintf(msg, RM_NATIVE_MSG_SIZE, "%s", why);
  }
  return start_detached(l, pid, via, msg);
}
