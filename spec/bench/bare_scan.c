/*
 * The benchmarks' yardstick: a bare two-thread scanner for "who uses these
 * files", the least a program can do to answer the question by device and
 * inode, with none of restartmanager's sessions, records or descriptions.
 *
 *   bare_scan LIST     LIST: a file of paths, one a line; prints the pid of
 *                      every process that uses one of them
 *
 * It stats every name into a (device, inode) hash, lists /proc, and splits
 * the processes in two halves, one a thread. For each process: one fstatat
 * per descriptor relative to its /proc/PID/fd directory (readdir), stopping
 * at the first match; then one read of /proc/PID/maps, parsed; then its
 * executable.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static uint64_t *hdev, *hino;
static size_t hmask;
static int procfd;

static size_t slot(uint64_t dev, uint64_t ino) {
  uint64_t h = dev * 0x9E3779B97F4A7C15ull ^ ino;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 29;
  return (size_t)h & hmask;
}

static void add(uint64_t dev, uint64_t ino) {
  size_t i = slot(dev, ino);
  while (hino[i]) {
    if (hino[i] == ino && hdev[i] == dev) return;
    i = (i + 1) & hmask;
  }
  hdev[i] = dev;
  hino[i] = ino;
}

static int has(uint64_t dev, uint64_t ino) {
  size_t i = slot(dev, ino);
  while (hino[i]) {
    if (hino[i] == ino && hdev[i] == dev) return 1;
    i = (i + 1) & hmask;
  }
  return 0;
}

static int uses_fd(unsigned long pid) {
  char name[64];
  int fd, found = 0;
  DIR *d;
  struct dirent *e;
  snprintf(name, sizeof name, "%lu/fd", pid);
  fd = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  while (!found && (e = readdir(d)) != NULL) {
    struct stat st;
    if (e->d_name[0] == '.') continue;
    if (fstatat(fd, e->d_name, &st, 0) == 0 &&
        has((uint64_t)st.st_dev, (uint64_t)st.st_ino))
      found = 1;
  }
  closedir(d);
  return found;
}

typedef struct job {
  const unsigned long *pids;
  size_t n;
  unsigned long *hits;
  size_t nhits;
  char *buf;
  size_t size;
} job;

static int uses_map(job *j, unsigned long pid) {
  char name[64], *line, *next;
  size_t total = 0;
  int fd;
  snprintf(name, sizeof name, "%lu/maps", pid);
  fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  for (;;) {
    ssize_t n;
    if (j->size - total < 4096) {
      j->size = j->size ? j->size * 2 : 65536;
      j->buf = (char *)realloc(j->buf, j->size);
      if (!j->buf) abort();
    }
    n = read(fd, j->buf + total, j->size - total - 1);
    if (n <= 0) break;
    total += (size_t)n;
  }
  close(fd);
  j->buf[total] = '\0';
  for (line = j->buf; *line; line = next) {
    /* start-end perms offset major:minor inode [path] */
    unsigned long maj, min;
    unsigned long long ino;
    char *p = line;
    int k;
    next = strchr(line, '\n');
    next = next ? next + 1 : line + strlen(line);
    for (k = 0; k < 3; k++) {
      while (*p && *p != ' ' && *p != '\n') p++;
      while (*p == ' ') p++;
    }
    maj = strtoul(p, &p, 16);
    if (*p != ':') continue;
    min = strtoul(p + 1, &p, 16);
    ino = strtoull(p, &p, 10);
    if (ino && has((uint64_t)makedev(maj, min), (uint64_t)ino)) return 1;
  }
  return 0;
}

static void *run(void *arg) {
  job *j = (job *)arg;
  size_t i;
  for (i = 0; i < j->n; i++) {
    unsigned long pid = j->pids[i];
    char name[64];
    struct stat st;
    int found = uses_fd(pid) || uses_map(j, pid);
    if (!found) {
      snprintf(name, sizeof name, "%lu/exe", pid);
      found = fstatat(procfd, name, &st, 0) == 0 &&
              has((uint64_t)st.st_dev, (uint64_t)st.st_ino);
    }
    if (found) j->hits[j->nhits++] = pid;
  }
  return NULL;
}

int main(int argc, char **argv) {
  FILE *f;
  char line[4096];
  size_t nnames = 0, cap = 16, npids = 0, pcap = 1024, i;
  unsigned long *pids;
  DIR *d;
  struct dirent *e;
  job jobs[2];
  pthread_t th;
  if (argc != 2 || !(f = fopen(argv[1], "r"))) {
    fprintf(stderr, "usage: bare_scan LIST\n");
    return 2;
  }
  while (fgets(line, sizeof line, f)) nnames++;
  while (cap < nnames * 2) cap <<= 1;
  hdev = (uint64_t *)calloc(cap, sizeof *hdev);
  hino = (uint64_t *)calloc(cap, sizeof *hino);
  hmask = cap - 1;
  rewind(f);
  while (fgets(line, sizeof line, f)) {
    struct stat st;
    line[strcspn(line, "\n")] = '\0';
    if (stat(line, &st) == 0) add((uint64_t)st.st_dev, (uint64_t)st.st_ino);
  }
  fclose(f);
  procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  pids = (unsigned long *)malloc(pcap * sizeof *pids);
  d = opendir("/proc");
  if (procfd < 0 || !pids || !hdev || !hino || !d) return 1;
  while ((e = readdir(d)) != NULL) {
    char *end;
    unsigned long v = strtoul(e->d_name, &end, 10);
    if (*end || end == e->d_name) continue;
    if (npids == pcap) {
      pcap *= 2;
      pids = (unsigned long *)realloc(pids, pcap * sizeof *pids);
      if (!pids) return 1;
    }
    pids[npids++] = v;
  }
  closedir(d);
  memset(jobs, 0, sizeof jobs);
  for (i = 0; i < 2; i++) {
    size_t lo = npids * i / 2, hi = npids * (i + 1) / 2;
    jobs[i].pids = pids + lo;
    jobs[i].n = hi - lo;
    jobs[i].hits = (unsigned long *)malloc((hi - lo + 1) * sizeof *pids);
    if (!jobs[i].hits) return 1;
  }
  if (pthread_create(&th, NULL, run, &jobs[1]) != 0) return 1;
  run(&jobs[0]);
  pthread_join(th, NULL);
  for (i = 0; i < 2; i++) {
    size_t k;
    for (k = 0; k < jobs[i].nhits; k++) printf("%lu\n", jobs[i].hits[k]);
  }
  return 0;
}
