/*
 * The process interface (process.h) on POSIX systems with /proc: starting
 * a program through the shared launcher (launch.h), waiting for it,
 * naming its executable and telling whether it still runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "launch.h"
#include "procfs.h"
#include "util.h"

extern char **environ;

/* the search list posix_spawnp and execvp use when PATH is unset */
#define DEFAULT_PATH "/bin:/usr/bin"

static unsigned fail_errno(int err, char *msg, const char *what,
                           const char *arg) {
  snprintf(msg, RM_PROCESS_MSG_SIZE, what, arg);
  /* "cannot start 'x'" then ": reason", cut to fit */
  {
    size_t n = strlen(msg);
    snprintf(msg + n, RM_PROCESS_MSG_SIZE - n, ": %s", strerror(err));
  }
  return rm_native_errno_win32(err);
}

static int valid_name(const char *name) {
  return name && name[0] && !strchr(name, '=');
}

/* Whether environ entry e ("NAME=value") is named by a change. */
static int changed(const char *e, size_t nchanges,
                   const rm_env_change *changes) {
  const char *eq = strchr(e, '=');
  size_t i, n;
  if (!eq) return 0;
  n = (size_t)(eq - e);
  for (i = 0; i < nchanges; i++)
    if (strlen(changes[i].name) == n && memcmp(changes[i].name, e, n) == 0)
      return 1;
  return 0;
}

/* The child's environment in one allocation: environ without the changed
 * names, then "NAME=value" for every change that sets a value. NULL when
 * memory ran out. */
static char **build_env(size_t nchanges, const rm_env_change *changes) {
  size_t n = 0, bytes = 0, i, k = 0;
  char **envp, *text;
  for (i = 0; environ && environ[i]; i++) n++;
  for (i = 0; i < nchanges; i++)
    if (changes[i].value) {
      n++;
      bytes += strlen(changes[i].name) + strlen(changes[i].value) + 2;
    }
  envp = (char **)malloc((n + 1) * sizeof *envp + bytes);
  if (!envp) return NULL;
  text = (char *)(envp + n + 1);
  for (i = 0; environ && environ[i]; i++)
    if (!changed(environ[i], nchanges, changes)) envp[k++] = environ[i];
  for (i = 0; i < nchanges; i++)
    if (changes[i].value) {
      size_t ln = strlen(changes[i].name), lv = strlen(changes[i].value);
      envp[k++] = text;
      memcpy(text, changes[i].name, ln);
      text[ln] = '=';
      memcpy(text + ln + 1, changes[i].value, lv + 1);
      text += ln + lv + 2;
    }
  envp[k] = NULL;
  return envp;
}

unsigned rm_process_spawn(size_t argc, const char *const *argv,
                          size_t nchanges, const rm_env_change *changes,
                          rm_child *out, char msg[RM_PROCESS_MSG_SIZE]) {
  rm_native_launch l;
  char **args, **envp = environ;
  const char *path = getenv("PATH");
  pid_t pid = 0;
  size_t i;
  int err;
  msg[0] = '\0';
  if (argc == 0 || !argv || !argv[0]) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "the program is missing");
    return RM_E_INVALID_PARAMETER;
  }
  for (i = 0; i < nchanges; i++)
    if (!valid_name(changes[i].name)) {
      snprintf(msg, RM_PROCESS_MSG_SIZE, "bad environment name '%s'",
               changes[i].name ? changes[i].name : "(null)");
      return RM_E_INVALID_PARAMETER;
    }
  args = (char **)malloc((argc + 1) * sizeof *args);
  if (!args) return fail_errno(ENOMEM, msg, "cannot start '%s'", argv[0]);
  for (i = 0; i < argc; i++) args[i] = (char *)argv[i];
  args[argc] = NULL;
  if (nchanges && !(envp = build_env(nchanges, changes))) {
    free(args);
    return fail_errno(ENOMEM, msg, "cannot start '%s'", argv[0]);
  }
  memset(&l, 0, sizeof l);
  l.file = argv[0];
  l.search_path = path ? path : DEFAULT_PATH;
  l.argv = args;
  l.envp = envp;
  err = rm_native_launch_start(&l, &pid);
  if (envp != environ) free(envp);
  free(args);
  if (err) return fail_errno(err, msg, "cannot start '%s'", argv[0]);
  out->pid = (uint32_t)pid;
  out->handle = NULL;
  return RM_OK;
}

unsigned rm_process_wait(rm_child *c, int nohang, int *state, int *value,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  int status = 0;
  pid_t r;
  char num[24];
  msg[0] = '\0';
  if (c->pid == 0 || c->pid > INT_MAX) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "pid must be a positive pid");
    return RM_E_INVALID_PARAMETER;
  }
  do {
    r = waitpid((pid_t)c->pid, &status, nohang ? WNOHANG : 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    snprintf(num, sizeof num, "%lu", (unsigned long)c->pid);
    return fail_errno(errno, msg, "cannot wait for %s", num);
  }
  if (r == 0) {
    *state = RM_CHILD_RUNNING;
    *value = 0;
  } else if (WIFSIGNALED(status)) {
    *state = RM_CHILD_SIGNALED;
    *value = WTERMSIG(status);
  } else {
    *state = RM_CHILD_EXITED;
    *value = WEXITSTATUS(status);
  }
  return RM_OK;
}

void rm_process_release(rm_child *c) { c->handle = NULL; }

unsigned rm_process_executable(uint32_t pid, char *buf, size_t size,
                               size_t *len, char msg[RM_PROCESS_MSG_SIZE]) {
  char path[PATH_MAX + 16], num[24];
  int procfd = rm_native_proc_open(), err;
  size_t n = 0;
  msg[0] = '\0';
  snprintf(num, sizeof num, "%lu", (unsigned long)pid);
  if (procfd < 0)
    return fail_errno(errno, msg, "cannot read the executable of %s", num);
  err = rm_native_proc_link(procfd, pid, "exe", path, sizeof path, &n);
  close(procfd);
  if (err) return fail_errno(err, msg, "cannot read the executable of %s", num);
  *len = n;
  if (n + 1 > size) {
    *len = n + 1;
    snprintf(msg, RM_PROCESS_MSG_SIZE, "the buffer is too small");
    return RM_E_MORE_DATA;
  }
  memcpy(buf, path, n + 1);
  return RM_OK;
}

unsigned rm_process_running(const rm_unique_process *p, int *running) {
  rm_native_stat st;
  rm_native_buf scratch = {0};
  int procfd = rm_native_proc_open(), err;
  *running = 0;
  if (procfd < 0) return rm_native_errno_code(errno, RM_E_ACCESS_DENIED);
  err = rm_native_proc_stat(procfd, p->pid, &scratch, &st);
  close(procfd);
  free(scratch.p);
  if (err == ENOENT || err == ESRCH) return RM_OK; /* gone */
  if (err) return rm_native_errno_code(err, RM_E_INVALID_PARAMETER);
  /* a zombie has ended, unless it is a main thread that exited while
   * other threads of the process run on (their count includes it) */
  *running = st.start_time == p->start_time &&
             ((st.state != 'Z' && st.state != 'X') ||
              (st.state == 'Z' && st.threads > 1));
  return RM_OK;
}
