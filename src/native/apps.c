/*
 * Describing apps (apps.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps.h"
#include "procfs.h"
#include "restartreg.h"

/* Copies src into buf, cut to fit. */
static void copy_str(char *buf, size_t size, const char *src) {
  size_t n = strlen(src);
  if (n >= size) n = size - 1;
  memcpy(buf, src, n);
  buf[n] = '\0';
}

/* The executable's base name, else the command name from stat. */
static void app_name(int procfd, const rm_native_hit *h, char *buf,
                     size_t size) {
  char path[4096];
  size_t n;
  if (rm_native_proc_link(procfd, h->pid, "exe", path, sizeof path, &n) ==
          0 &&
      n > 0) {
    const char *base = strrchr(path, '/');
    copy_str(buf, size, base ? base + 1 : path);
  } else {
    copy_str(buf, size, h->st.comm);
  }
}

static int32_t login_session(int procfd, uint32_t pid) {
  rm_native_buf b = {0};
  unsigned long v = 0x7FFFFFFFul;
  if (rm_native_proc_read(procfd, pid, "sessionid", &b) == 0 && b.len)
    v = strtoul(b.p, NULL, 10);
  free(b.p);
  return v >= 0x7FFFFFFFul ? -1 : (int32_t)v;
}

int rm_native_systemd_running(void) {
  struct stat st;
  return stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

uint32_t rm_native_describe(int procfd, const rm_native_hit *h,
                            rm_native_services *sv,
                            rm_native_restart_cache *cache, rm_app *a) {
  uint32_t reasons = 0;
  memset(a, 0, sizeof *a);
  a->process.pid = h->pid;
  a->process.start_time = h->st.start_time;
  app_name(procfd, h, a->name, sizeof a->name);
  a->status = RM_STATUS_RUNNING;
  if (h->pid == (uint32_t)getpid()) {
    a->type = RM_APP_CRITICAL;
    reasons |= RM_REBOOT_DETECTED_SELF;
  } else if (h->pid == 1) {
    a->type = RM_APP_CRITICAL;
    reasons |= RM_REBOOT_CRITICAL_PROCESS;
  } else if (kill((pid_t)h->pid, 0) != 0 && errno == EPERM) {
    a->type = RM_APP_CRITICAL;
    reasons |= RM_REBOOT_PERMISSION_DENIED;
  } else if (sv && rm_native_services_describe(sv, procfd, h->pid, a,
                                              &reasons)) {
    /* a service: systemd starts it whether or not it registered; where
     * systemd cannot be used, it is restarted as any process */
    if (a->type != RM_APP_CRITICAL) a->session_id = login_session(procfd, h->pid);
    if (a->control != RM_CONTROL_SYSTEMD)
      a->restartable =
          rm_native_restartable_in(procfd, cache, h->pid, &h->st);
    return reasons;
  } else if (h->st.tty != 0) {
    a->type = RM_APP_CONSOLE;
  } else {
    a->type = RM_APP_UNKNOWN;
  }
  if (a->type == RM_APP_CRITICAL) {
    a->session_id = -1;
    a->restartable = 0;
  } else {
    a->session_id = login_session(procfd, h->pid);
    a->restartable =
        rm_native_restartable_in(procfd, cache, h->pid, &h->st);
  }
  return reasons;
}
