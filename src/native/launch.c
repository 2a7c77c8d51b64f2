/*
 * The one way the native backend starts processes (launch.h).
 *
 * Between fork and exec the child may call only async-signal-safe
 * functions (the caller may have other threads, holding locks a malloc
 * would need): everything it needs is computed before the fork.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"

/* Closes every descriptor from `from` up (close_range, else one by one up
 * to max, computed before the fork). */
static void close_from(int from, long max) {
  long fd;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0) return;
#endif
  for (fd = from; fd < max; fd++) (void)close((int)fd);
}

static void reset_signals(void) {
  struct sigaction dfl;
  sigset_t none;
  int sig;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (sig = 1; sig < NSIG; sig++) (void)sigaction(sig, &dfl, NULL);
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* exec with the PATH lookup of execvp, without its allocations or its
 * shell fallback: stops at the first error other than "not there" or "not
 * allowed", and reports EACCES when some candidate was not allowed. */
static void exec_search(const rm_native_launch *l) {
  char path[PATH_MAX];
  const char *p = l->search_path;
  size_t flen = strlen(l->file);
  int denied = 0;
  if (flen == 0) {
    errno = ENOENT;
    return;
  }
  if (!p || strchr(l->file, '/')) {
    execve(l->file, l->argv, l->envp);
    return;
  }
  for (;;) {
    const char *end = strchr(p, ':');
    size_t dlen = end ? (size_t)(end - p) : strlen(p);
    if (dlen + 1 + flen < sizeof path) {
      size_t n = 0;
      if (dlen) {
        memcpy(path, p, dlen);
        path[dlen] = '/';
        n = dlen + 1;
      }
      memcpy(path + n, l->file, flen + 1);
      execve(path, l->argv, l->envp);
      if (errno == EACCES) denied = 1;
      else if (errno != ENOENT && errno != ENOTDIR) return;
    }
    if (!end) break;
    p = end + 1;
  }
  errno = denied ? EACCES : ENOENT;
}

/* Runs in the child: sets it up and execs, or writes errno to errfd and
 * ends. errfd is close-on-exec and above the standard streams. */
static void child(const rm_native_launch *l, int errfd, long maxfd) {
  int err;
  if (l->cgroup_procs) {
    /* before anything else runs, while the caller's privileges last */
    int fd = open(l->cgroup_procs, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!write(fd, "0", 1);
      close(fd);
    }
  }
  if (l->detach) {
    int nul = open("/dev/null", O_RDWR);
    if (nul < 0) goto fail;
    if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0) goto fail;
  }
  if (errfd != 3) {
    if (dup3(errfd, 3, O_CLOEXEC) < 0) goto fail;
    errfd = 3;
  }
  close_from(4, maxfd);
  reset_signals();
  /* the target's own limits and nice value, while still privileged;
   * best effort: what the caller may not set stays the caller's */
  if (l->has_limits) {
    int i;
    for (i = 0; i < RM_NATIVE_NLIMITS; i++)
      (void)setrlimit((__rlimit_resource_t)i, &l->limits[i]);
  }
  if (l->has_nice) (void)setpriority(PRIO_PROCESS, 0, l->nice);
  if (l->has_umask) (void)umask(l->umask);
  if (l->set_ids) {
    /* never with the caller's privileges: the target's own ids */
    if (geteuid() == 0 && setgroups(l->ngroups, l->groups) != 0) goto fail;
    if (setgid(l->gid) != 0 || setuid(l->uid) != 0) goto fail;
    if (l->uid != 0 && setuid(0) == 0) {
      errno = EPERM;
      goto fail;
    }
  }
  if (l->cwd && chdir(l->cwd) != 0) goto fail;
  exec_search(l);
fail:
  err = errno;
  (void)!write(errfd, &err, sizeof err);
  _exit(127);
}

/* A pipe whose ends are both above the standard streams (which the child
 * keeps or replaces), close-on-exec. */
static int error_pipe(int fds[2]) {
  int i;
  if (pipe2(fds, O_CLOEXEC) != 0) return errno;
  for (i = 0; i < 2; i++) {
    if (fds[i] < 3) {
      int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
      if (fd < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return err;
      }
      close(fds[i]);
      fds[i] = fd;
    }
  }
  return 0;
}

int rm_native_launch_start(const rm_native_launch *l, pid_t *pid) {
  int fds[2], err = 0;
  long maxfd = sysconf(_SC_OPEN_MAX);
  pid_t first;
  ssize_t n;
  if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
  if ((err = error_pipe(fds)) != 0) return err;
  first = fork();
  if (first < 0) {
    err = errno;
    close(fds[0]);
    close(fds[1]);
    return err;
  }
  if (first == 0) {
    close(fds[0]);
    if (l->detach) {
      /* the middle process: a new session, then the program in a child
       * of it, which init adopts once the middle process leaves */
      pid_t app;
      if (setsid() < 0) {
        err = errno;
        (void)!write(fds[1], &err, sizeof err);
        _exit(127);
      }
      app = fork();
      if (app < 0) {
        err = errno;
        (void)!write(fds[1], &err, sizeof err);
        _exit(127);
      }
      if (app > 0) _exit(0);
    }
    child(l, fds[1], maxfd);
  }
  close(fds[1]);
  /* EOF: the exec closed the pipe; else the child's errno */
  do {
    n = read(fds[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n != (ssize_t)sizeof err) err = 0;
  if (l->detach || err != 0) {
    /* the middle process, or a child that never ran the program */
    while (waitpid(first, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  *pid = (l->detach || err != 0) ? 0 : first;
  return err;
}
