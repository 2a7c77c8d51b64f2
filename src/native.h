/*
 * Internals of the native (Linux) backend, shared by native_store.c (sessions
 * and the per-user store), native_scan.c (who uses what) and
 * native_control.c (shutdown, restart, filters, restart registration).
 */
#ifndef RESTARTMANAGER_NATIVE_H
#define RESTARTMANAGER_NATIVE_H

#include <sys/types.h>

#include "backend.h"

struct rm_session {
  int primary;
  int storefd; /* the per-user store directory */
  int dirfd;   /* this session's directory in it */
  int lockfd;  /* primary: the lock file, held for the session's lifetime */
  char key[RM_KEY_LEN + 1];
  struct native_control *control; /* primary only; NULL until needed */
};

/* Opens (creating it 0700 if needed) the calling user's store directory and
 * checks that it is a real directory, owned by the caller, with no access for
 * group or others. Returns the directory's descriptor or -1 with *rc set. */
int native_store_open(unsigned *rc);

/* The store directory's path for the calling user, into buf. 0 on success. */
int native_store_path(char *buf, size_t size);

/* RM_OK while the session's primary is alive and the session exists,
 * RM_E_INVALID_HANDLE once it has ended or its primary died. */
unsigned native_session_check(rm_session *s);

/* Releases control-side state (native_control.c). */
void native_control_free(struct native_control *c);

#endif
