/*
 * The per-user session store (store.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define MAX_SESSIONS 64
#define STORE_LOCK_TIMEOUT_MS 5000
#define LOCK_NAME "lock"

/* 1 when path is a directory that belongs to uid and that no one else may
 * write into. */
static int own_dir(const char *path, uid_t uid) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
         (st.st_mode & 022) == 0;
}

/* The store in the home directory of uid (from the password database,
 * never $HOME, so that a root installer looking for that user's restart
 * registrations finds the same place): <home>/.restartmanager, when the
 * home is a directory of uid that no one else may write into, so that no
 * one else can create anything there. 0 on success. */
static int home_store(uid_t uid, char *buf, size_t size) {
  struct passwd pw, *res = NULL;
  struct stat st;
  char *pwbuf;
  long max = sysconf(_SC_GETPW_R_SIZE_MAX);
  size_t cap = max > 0 ? (size_t)max : 16384;
  int n = -1, err;
  for (;;) {
    pwbuf = (char *)malloc(cap);
    if (!pwbuf) return -1;
    err = getpwuid_r(uid, &pw, pwbuf, cap, &res);
    if (err != ERANGE || cap >= 1 << 20) break;
    free(pwbuf);
    cap *= 2;
  }
  if (err == 0 && res && pw.pw_dir && pw.pw_dir[0] == '/' &&
      stat(pw.pw_dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
      (st.st_mode & 022) == 0)
    n = snprintf(buf, size, "%s%s.restartmanager", pw.pw_dir,
                 pw.pw_dir[strlen(pw.pw_dir) - 1] == '/' ? "" : "/");
  free(pwbuf);
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int rm_native_store_path_for(uid_t uid, const char *xdg, char *buf,
                             size_t size) {
  char run[64];
  int n;
  snprintf(run, sizeof run, "/run/user/%lu", (unsigned long)uid);
  if (xdg && xdg[0] == '/')
    n = snprintf(buf, size, "%s/restartmanager", xdg);
  else if (uid == 0 && own_dir("/run", 0))
    /* no one else can create anything in /run: root's store cannot be
     * taken in advance, as /tmp/restartmanager-0 could */
    n = snprintf(buf, size, "/run/restartmanager");
  else if (uid != 0 && own_dir(run, uid))
    n = snprintf(buf, size, "%s/restartmanager", run);
  else if (home_store(uid, buf, size) == 0)
    return 0;
  else
    /* a user without a home of its own (nobody, most system users): the
     * last resort, which someone else can take in advance; the store is
     * then refused (5), never used */
    n = snprintf(buf, size, "/tmp/restartmanager-%lu", (unsigned long)uid);
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int rm_native_store_path(char *buf, size_t size) {
  return rm_native_store_path_for(geteuid(), getenv("XDG_RUNTIME_DIR"), buf,
                                  size);
}

int rm_native_store_open(unsigned *rc) {
  char path[4096];
  struct stat st;
  int fd;
  if (rm_native_store_path(path, sizeof path) != 0) {
    *rc = RM_E_WRITE_FAULT;
    return -1;
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    *rc = errno == EACCES ? RM_E_ACCESS_DENIED
                          : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    return -1;
  }
  fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    /* ELOOP or ENOTDIR: a symlink or a file where the store should be */
    *rc = (errno == ELOOP || errno == ENOTDIR || errno == EACCES)
              ? RM_E_ACCESS_DENIED
              : rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    return -1;
  }
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    close(fd);
    *rc = RM_E_ACCESS_DENIED;
    return -1;
  }
  return fd;
}

int rm_native_valid_key(const char *key) {
  size_t i;
  for (i = 0; i < RM_KEY_LEN; i++)
    if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
      return 0;
  return key[RM_KEY_LEN] == '\0';
}

/* Removes a session directory and everything in it (one level deep: a
 * session holds only files). */
static void remove_session_dir(int storefd, const char *key) {
  int fd = openat(storefd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                    O_CLOEXEC);
  if (fd >= 0) {
    DIR *d = fdopendir(fd);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        (void)unlinkat(fd, e->d_name, 0);
      }
      closedir(d); /* closes fd */
    } else {
      close(fd);
    }
  }
  (void)unlinkat(storefd, key, AT_REMOVEDIR);
}

/* 1 when the session dir at dirfd has a live primary, 0 when it is stale,
 * -1 (errno set) when that cannot be known: out of descriptors or memory, a
 * live session is never taken for a stale one. */
static int session_alive(int dirfd) {
  /* O_NONBLOCK: a FIFO in place of the lock must not block; a lock that
   * is not a regular file is no session's */
  int fd = openat(dirfd, LOCK_NAME,
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int alive, err;
  if (fd < 0) return rm_native_errno_code(errno, 0) ? -1 : 0;
  if (!rm_native_regular(fd)) {
    close(fd);
    return 0;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == 0)
    alive = 0;
  else
    alive = errno == EWOULDBLOCK ? 1 : -1;
  err = errno;
  close(fd); /* drops the lock if we took it */
  errno = err;
  return alive;
}

/* With the store locked: removes stale sessions (on_stale sees each
 * first), returns how many live. */
static int sweep(int storefd, void (*on_stale)(int dirfd, void *ctx),
                 void *ctx) {
  int dupfd = dup(storefd), live = 0;
  DIR *d;
  struct dirent *e;
  char stale[MAX_SESSIONS * 4][RM_KEY_LEN + 1];
  int nstale = 0, i;
  if (dupfd < 0) return -1;
  d = fdopendir(dupfd);
  if (!d) {
    close(dupfd);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    int fd;
    if (!rm_native_valid_key(e->d_name)) continue;
    fd = openat(storefd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
    if (fd < 0) {
      /* out of descriptors: it may well be live */
      if (rm_native_errno_code(errno, 0)) live++;
      continue;
    }
    if (session_alive(fd) != 0) /* alive, or not known to be dead */
      live++;
    else if (nstale < (int)(sizeof stale / sizeof stale[0]))
      memcpy(stale[nstale++], e->d_name, RM_KEY_LEN + 1);
    close(fd);
  }
  closedir(d);
  for (i = 0; i < nstale; i++) {
    if (on_stale) {
      int fd = openat(storefd, stale[i],
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) {
        on_stale(fd, ctx);
        close(fd);
      }
    }
    remove_session_dir(storefd, stale[i]);
  }
  return live;
}

static void hex_key(const unsigned char *raw, char *key) {
  static const char hex[] = "0123456789abcdef";
  int i;
  for (i = 0; i < RM_KEY_LEN / 2; i++) {
    key[2 * i] = hex[raw[i] >> 4];
    key[2 * i + 1] = hex[raw[i] & 15];
  }
  key[RM_KEY_LEN] = '\0';
}

static unsigned random_bytes(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return RM_E_WRITE_FAULT;
    }
    got += (size_t)r;
  }
  return RM_OK;
}

/* Creates a new session directory with its lock held, store locked. */
unsigned rm_native_new_key(char key[RM_KEY_LEN + 1]) {
  unsigned char raw[RM_KEY_LEN / 2];
  unsigned rc = random_bytes(raw, sizeof raw);
  if (rc == RM_OK) hex_key(raw, key);
  return rc;
}

static unsigned create_session(int storefd, char *key, int *dirfd,
                               int *lockfd) {
  int tries;
  for (tries = 0; tries < 8; tries++) {
    unsigned char raw[RM_KEY_LEN / 2];
    unsigned rc = random_bytes(raw, sizeof raw);
    if (rc != RM_OK) return rc;
    hex_key(raw, key);
    if (mkdirat(storefd, key, 0700) != 0) {
      if (errno == EEXIST) continue;
      return rm_native_errno_code(errno, RM_E_WRITE_FAULT);
    }
    *dirfd = openat(storefd, key,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*dirfd >= 0)
      *lockfd = openat(*dirfd, LOCK_NAME,
                       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600);
    if (*lockfd < 0 || flock(*lockfd, LOCK_EX | LOCK_NB) != 0) {
      unsigned code = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
      if (*lockfd >= 0) close(*lockfd);
      if (*dirfd >= 0) close(*dirfd);
      *lockfd = *dirfd = -1;
      remove_session_dir(storefd, key);
      return code;
    }
    return RM_OK;
  }
  return RM_E_WRITE_FAULT;
}

unsigned rm_native_store_create(int storefd, char key[RM_KEY_LEN + 1],
                                int *dirfd, int *lockfd,
                                void (*on_stale)(int dirfd, void *ctx),
                                void *ctx) {
  unsigned rc = rm_native_lock_within(storefd, STORE_LOCK_TIMEOUT_MS);
  int live;
  *dirfd = *lockfd = -1;
  if (rc != RM_OK) return rc;
  live = sweep(storefd, on_stale, ctx);
  if (live < 0)
    rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  else if (live >= MAX_SESSIONS)
    rc = RM_E_MAX_SESSIONS_REACHED;
  else
    rc = create_session(storefd, key, dirfd, lockfd);
  (void)flock(storefd, LOCK_UN);
  return rc;
}

unsigned rm_native_store_sweep(int storefd,
                               void (*on_stale)(int dirfd, void *ctx),
                               void *ctx) {
  unsigned rc = rm_native_lock_within(storefd, STORE_LOCK_TIMEOUT_MS);
  if (rc != RM_OK) return rc;
  if (sweep(storefd, on_stale, ctx) < 0)
    rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  (void)flock(storefd, LOCK_UN);
  return rc;
}

unsigned rm_native_store_join(int storefd, const char *key, int *dirfd,
                              void (*on_stale)(int dirfd, void *ctx),
                              void *ctx) {
  struct stat st;
  unsigned rc = rm_native_lock_within(storefd, STORE_LOCK_TIMEOUT_MS);
  *dirfd = -1;
  if (rc != RM_OK) return rc;
  (void)sweep(storefd, on_stale, ctx);
  rc = RM_E_SESSION_CREDENTIAL_CONFLICT;
  *dirfd = openat(storefd, key,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*dirfd < 0) {
    rc = rm_native_errno_code(errno, rc);
  } else if (fstat(*dirfd, &st) == 0 && st.st_uid == geteuid()) {
    int alive = session_alive(*dirfd);
    if (alive > 0) rc = RM_OK;
    else if (alive < 0) rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  }
  (void)flock(storefd, LOCK_UN);
  if (rc != RM_OK && *dirfd >= 0) {
    close(*dirfd);
    *dirfd = -1;
  }
  return rc;
}

unsigned rm_native_store_check(int dirfd) {
  struct stat st;
  int alive;
  if (fstat(dirfd, &st) != 0 || st.st_nlink == 0) return RM_E_INVALID_HANDLE;
  alive = session_alive(dirfd);
  if (alive < 0) return rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  return alive ? RM_OK : RM_E_INVALID_HANDLE;
}

void rm_native_store_remove(int storefd, const char *key) {
  /* The store lock keeps a concurrent join from finding a half-removed
   * session; without it (timeout) the removal is still safe. */
  unsigned lrc = rm_native_lock_within(storefd, STORE_LOCK_TIMEOUT_MS);
  remove_session_dir(storefd, key);
  if (lrc == RM_OK) (void)flock(storefd, LOCK_UN);
}
