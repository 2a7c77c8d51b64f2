/*
 * A service for the systemd specs.
 *
 *   unitd FILE REPORT [trap]
 *                       keeps FILE open, appends its first line (its
 *                       "version") and its pid to REPORT, tells systemd it is
 *                       ready (sd_notify READY=1 through NOTIFY_SOCKET, when
 *                       set) and waits; with a listening socket from systemd
 *                       (LISTEN_FDS=1, descriptor 3) it answers every
 *                       connection with that version; with trap it
 *                       catches SIGTERM and exits 143, as JVMs and shell
 *                       traps do
 *   unitd connect PATH  connects to the stream socket PATH and prints the
 *                       answer, or "refused" when nobody listens
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(path);
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (n >= sizeof sa->sun_path) return -1;
  memcpy(sa->sun_path, path, n);
  if (sa->sun_path[0] == '@') sa->sun_path[0] = '\0'; /* abstract */
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  return 0;
}

static int client(const char *path) {
  struct sockaddr_un sa;
  socklen_t len;
  char buf[256];
  ssize_t n;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || unix_addr(path, &sa, &len) != 0) return 2;
  if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) {
      puts("refused");
      return 0;
    }
    perror("connect");
    return 2;
  }
  n = read(fd, buf, sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n] = '\0';
  fputs(buf, stdout);
  close(fd);
  return 0;
}

static void exit_143(int sig) {
  (void)sig;
  _exit(143);
}

static void notify_ready(void) {
  const char *path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa;
  socklen_t len;
  int fd;
  if (!path || unix_addr(path, &sa, &len) != 0) return;
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&sa, len);
  close(fd);
}

int main(int argc, char **argv) {
  char version[128];
  const char *fds = getenv("LISTEN_FDS");
  ssize_t n;
  int fd, listening;
  FILE *report;
  if (argc == 3 && strcmp(argv[1], "connect") == 0) return client(argv[2]);
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "trap") == 0)) {
    fprintf(stderr, "usage: unitd FILE REPORT [trap] | unitd connect PATH\n");
    return 2;
  }
  if (argc == 4) signal(SIGTERM, exit_143);
  fd = open(argv[1], O_RDONLY); /* held for the process's life */
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  n = pread(fd, version, sizeof version - 1, 0);
  if (n < 0) n = 0;
  version[n] = '\0';
  version[strcspn(version, "\n")] = '\0';
  report = fopen(argv[2], "a");
  if (!report) {
    perror(argv[2]);
    return 1;
  }
  fprintf(report, "%s %ld\n", version, (long)getpid());
  fclose(report);
  listening = fds && strcmp(fds, "1") == 0;
  notify_ready();
  for (;;) {
    if (listening) {
      int c = accept(3, NULL, NULL);
      if (c >= 0) {
        dprintf(c, "%s\n", version);
        close(c);
      }
    } else {
      pause();
    }
  }
}
