/*
 * Native backend: sessions and the per-user session store.
 *
 * The store is one directory per user ($XDG_RUNTIME_DIR/restartmanager, else
 * /tmp/restartmanager-UID), mode 0700. A session is a subdirectory named by
 * its key; its primary holds an exclusive flock on the session's "lock" file
 * for as long as the session lives, so a session whose lock can be taken has
 * lost its primary and is stale. Start and join take a lock on the store
 * directory itself while they look at or change the set of sessions.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

#define MAX_SESSIONS 64
#define STORE_LOCK_TIMEOUT_MS 5000
#define LOCK_NAME "lock"

const char rmb_name[] = "linux";
/* file names are bytes on Linux */
const int rmb_needs_utf8 = 0;

int native_store_path(char *buf, size_t size) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (xdg && xdg[0] == '/')
    n = snprintf(buf, size, "%s/restartmanager", xdg);
  else
    n = snprintf(buf, size, "/tmp/restartmanager-%lu",
                 (unsigned long)geteuid());
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int native_store_open(unsigned *rc) {
  char path[4096];
  struct stat st;
  int fd;
  if (native_store_path(path, sizeof path) != 0) {
    *rc = RM_E_WRITE_FAULT;
    return -1;
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    *rc = errno == EACCES ? RM_E_ACCESS_DENIED : RM_E_WRITE_FAULT;
    return -1;
  }
  fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    /* ELOOP or ENOTDIR: a symlink or a file where the store should be */
    *rc = (errno == ELOOP || errno == ENOTDIR || errno == EACCES)
              ? RM_E_ACCESS_DENIED
              : RM_E_WRITE_FAULT;
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

static int valid_key(const char *key) {
  size_t i;
  for (i = 0; i < RM_KEY_LEN; i++)
    if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
      return 0;
  return key[RM_KEY_LEN] == '\0';
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* An exclusive lock on fd, waiting at most timeout_ms. */
static unsigned lock_within(int fd, long timeout_ms) {
  long waited = 0, step = 1;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return RM_OK;
    if (errno != EWOULDBLOCK && errno != EINTR) return RM_E_WRITE_FAULT;
    if (waited >= timeout_ms) return RM_E_SEM_TIMEOUT;
    sleep_ms(step);
    waited += step;
    if (step < 16) step *= 2;
  }
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

/* 1 when the session dir at dirfd has a live primary, 0 when it is stale. */
static int session_alive(int dirfd) {
  int fd = openat(dirfd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int alive;
  if (fd < 0) return 0;
  alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd); /* drops the lock if we took it */
  return alive;
}

/* With the store locked: removes stale sessions, returns how many live. */
static int sweep(int storefd) {
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
    if (!valid_key(e->d_name)) continue;
    fd = openat(storefd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                        O_CLOEXEC);
    if (fd < 0) continue;
    if (session_alive(fd))
      live++;
    else if (nstale < (int)(sizeof stale / sizeof stale[0]))
      memcpy(stale[nstale++], e->d_name, RM_KEY_LEN + 1);
    close(fd);
  }
  closedir(d);
  for (i = 0; i < nstale; i++) remove_session_dir(storefd, stale[i]);
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

static rm_session *new_session(void) {
  rm_session *s = (rm_session *)calloc(1, sizeof *s);
  if (s) s->storefd = s->dirfd = s->lockfd = -1;
  return s;
}

static void free_session(rm_session *s) {
  if (s->control) native_control_free(s->control);
  if (s->dirfd >= 0) close(s->dirfd);
  if (s->lockfd >= 0) close(s->lockfd);
  if (s->storefd >= 0) close(s->storefd);
  free(s);
}

/* Creates a new session directory with its lock held, store locked. */
static unsigned create_session(rm_session *s) {
  int tries;
  for (tries = 0; tries < 8; tries++) {
    unsigned char raw[RM_KEY_LEN / 2];
    unsigned rc = random_bytes(raw, sizeof raw);
    if (rc != RM_OK) return rc;
    hex_key(raw, s->key);
    if (mkdirat(s->storefd, s->key, 0700) != 0) {
      if (errno == EEXIST) continue;
      return RM_E_WRITE_FAULT;
    }
    s->dirfd = openat(s->storefd, s->key,
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->dirfd >= 0)
      s->lockfd = openat(s->dirfd, LOCK_NAME,
                         O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
      remove_session_dir(s->storefd, s->key);
      return RM_E_WRITE_FAULT;
    }
    return RM_OK;
  }
  return RM_E_WRITE_FAULT;
}

unsigned rmb_start(rm_session **out, char key[RM_KEY_LEN + 1]) {
  rm_session *s = new_session();
  unsigned rc;
  int live;
  *out = NULL;
  if (!s) return RM_E_OUTOFMEMORY;
  s->primary = 1;
  s->storefd = native_store_open(&rc);
  if (s->storefd < 0) goto fail;
  rc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
  if (rc != RM_OK) goto fail;
  live = sweep(s->storefd);
  if (live < 0)
    rc = RM_E_WRITE_FAULT;
  else if (live >= MAX_SESSIONS)
    rc = RM_E_MAX_SESSIONS_REACHED;
  else
    rc = create_session(s);
  (void)flock(s->storefd, LOCK_UN);
  if (rc != RM_OK) goto fail;
  memcpy(key, s->key, RM_KEY_LEN + 1);
  *out = s;
  return RM_OK;
fail:
  free_session(s);
  return rc;
}

unsigned rmb_join(rm_session **out, const char *key) {
  rm_session *s;
  struct stat st;
  unsigned rc;
  *out = NULL;
  /* a malformed key never reaches the file system */
  if (strlen(key) != RM_KEY_LEN || !valid_key(key))
    return RM_E_SESSION_CREDENTIAL_CONFLICT;
  s = new_session();
  if (!s) return RM_E_OUTOFMEMORY;
  memcpy(s->key, key, RM_KEY_LEN + 1);
  s->storefd = native_store_open(&rc);
  if (s->storefd < 0) goto fail;
  rc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
  if (rc != RM_OK) goto fail;
  (void)sweep(s->storefd);
  rc = RM_E_SESSION_CREDENTIAL_CONFLICT;
  s->dirfd = openat(s->storefd, key,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (s->dirfd >= 0 && fstat(s->dirfd, &st) == 0 &&
      st.st_uid == geteuid() && session_alive(s->dirfd))
    rc = RM_OK;
  (void)flock(s->storefd, LOCK_UN);
  if (rc != RM_OK) goto fail;
  *out = s;
  return RM_OK;
fail:
  free_session(s);
  return rc;
}

int rmb_is_primary(const rm_session *s) { return s->primary; }

unsigned native_session_check(rm_session *s) {
  struct stat st;
  if (s->primary) return RM_OK;
  if (fstat(s->dirfd, &st) != 0 || st.st_nlink == 0 ||
      !session_alive(s->dirfd))
    return RM_E_INVALID_HANDLE;
  return RM_OK;
}

unsigned rmb_end(rm_session *s) {
  unsigned rc = RM_OK;
  if (s->primary) {
    /* The store lock keeps a concurrent join from finding a half-removed
     * session; without it (timeout) the removal is still safe. */
    unsigned lrc = lock_within(s->storefd, STORE_LOCK_TIMEOUT_MS);
    remove_session_dir(s->storefd, s->key);
    if (lrc == RM_OK) (void)flock(s->storefd, LOCK_UN);
  } else {
    rc = native_session_check(s);
  }
  free_session(s);
  return rc;
}

void rmb_error_text(unsigned code, char *buf, size_t size) {
  const char *t;
  switch (code) {
  case RM_OK: t = "the operation completed successfully"; break;
  case RM_E_FILE_NOT_FOUND: t = "no such filter"; break;
  case RM_E_ACCESS_DENIED:
    t = "access denied (a registered path is a directory, or the session "
        "store is not a private directory of the calling user)";
    break;
  case RM_E_INVALID_HANDLE:
    t = "the session is no longer valid (its primary ended it or died)";
    break;
  case RM_E_OUTOFMEMORY: t = "not enough memory"; break;
  case RM_E_WRITE_FAULT: t = "reading or writing the session store failed"; break;
  case RM_E_SEM_TIMEOUT: t = "timed out waiting for the session store's lock"; break;
  case RM_E_BAD_ARGUMENTS: t = "invalid arguments"; break;
  case RM_E_MORE_DATA: t = "more data is available: the capacity is too small"; break;
  case RM_E_FAIL_NOACTION_REBOOT:
    t = "a reboot is needed: nothing was shut down";
    break;
  case RM_E_FAIL_SHUTDOWN: t = "some applications could not be shut down"; break;
  case RM_E_FAIL_RESTART: t = "some applications could not be restarted"; break;
  case RM_E_MAX_SESSIONS_REACHED:
    t = "the maximum number of sessions (64 per user) is reached";
    break;
  case RM_E_REQUEST_OUT_OF_SEQUENCE:
    t = "restart was called before shutdown";
    break;
  case RM_E_SESSION_CREDENTIAL_CONFLICT:
    t = "the session key is unknown, belongs to another user, or the call is "
        "reserved to the primary installer";
    break;
  case RM_E_CANCELLED: t = "the operation was cancelled"; break;
  default: t = "unknown error"; break;
  }
  snprintf(buf, size, "%s", t);
}
