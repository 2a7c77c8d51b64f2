/*
 * A program the specs start to stand for a root process that works under
 * another user's identity: its real uid stays 0, its effective uid is UID,
 * and it stays dumpable, so that /proc/PID belongs to UID.
 *
 *   euid_holder UID PATH
 *
 * opens PATH (as root), switches its effective uid to UID, prints
 * "ready <pid>" and waits for a signal.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int fd;
  uid_t uid;
  if (argc != 3) {
    fprintf(stderr, "usage: euid_holder UID PATH\n");
    return 2;
  }
  uid = (uid_t)strtoul(argv[1], NULL, 10);
  fd = open(argv[2], O_RDONLY);
  if (fd < 0) {
    perror("euid_holder: open");
    return 2;
  }
  if (setresuid((uid_t)-1, uid, (uid_t)-1) != 0 ||
      prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
    perror("euid_holder: setresuid");
    return 2;
  }
  printf("ready %ld\n", (long)getpid());
  fflush(stdout);
  for (;;) pause();
}
