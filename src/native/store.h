/*
 * The per-user session store: one directory per user, mode 0700:
 * $XDG_RUNTIME_DIR/restartmanager; without XDG_RUNTIME_DIR, for root
 * /run/restartmanager, for another user /run/user/UID/restartmanager when
 * that runtime directory exists, else /tmp/restartmanager-UID (which
 * another user can take in advance: the store is then refused), holding one directory per session, named by its key. A session's
 * primary holds an exclusive flock on the session's "lock" file for as long
 * as the session lives, so a session whose lock can be taken has lost its
 * primary and is stale. Creating and joining take a lock on the store
 * directory itself while they look at or change the set of sessions.
 *
 * Knows directories and keys, not sessions: the caller (backend.c) keeps
 * the descriptors these functions hand out.
 */
#ifndef RESTARTMANAGER_NATIVE_STORE_H
#define RESTARTMANAGER_NATIVE_STORE_H

#include <stddef.h>
#include <sys/types.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* The store directory's path for the calling user, into buf. 0 on success. */
int rm_native_store_path(char *buf, size_t size);

/* The store directory's path of user uid whose XDG_RUNTIME_DIR is xdg (NULL
 * or relative: none), into buf. 0 on success. In order: XDG_RUNTIME_DIR's
 * restartmanager; for root, /run/restartmanager; /run/user/UID's when
 * that directory is uid's; <home>/.restartmanager when the home directory
 * the password database gives is uid's and no one else may write into it;
 * else /tmp/restartmanager-UID. */
int rm_native_store_path_for(uid_t uid, const char *xdg, char *buf,
                             size_t size);

/* Opens (creating it 0700 if needed) the calling user's store directory and
 * checks that it is a real directory, owned by the caller, with no access for
 * group or others. Returns the directory's descriptor or -1 with *rc set. */
int rm_native_store_open(unsigned *rc);

/* 1 when key is a well-formed session key: exactly RM_KEY_LEN lowercase
 * hexadecimal characters, then the NUL. Reads no further than the first NUL
 * or the character after the key. */
int rm_native_valid_key(const char *key);

/* A fresh random key (for a session that is not in the store). */
unsigned rm_native_new_key(char key[RM_KEY_LEN + 1]);

/* Both sweep the store: on_stale (may be NULL) sees each stale session's
 * directory, with ctx, before it is removed (recovery.h).
 * A new session in the store storefd: removes stale sessions, refuses when
 * the user has too many live ones, creates the session's directory with a
 * fresh random key and takes its lock. key, *dirfd and *lockfd (held for
 * the session's lifetime) on success. */
unsigned rm_native_store_create(int storefd, char key[RM_KEY_LEN + 1],
                                int *dirfd, int *lockfd,
                                void (*on_stale)(int dirfd, void *ctx),
                                void *ctx);

/* Opens the live session key of the store: *dirfd on success,
 * RM_E_SESSION_CREDENTIAL_CONFLICT when there is none (or it is stale, or
 * another user's). */
unsigned rm_native_store_join(int storefd, const char *key, int *dirfd,
                              void (*on_stale)(int dirfd, void *ctx),
                              void *ctx);

/* Only sweeps the store storefd (as create and join do): on_stale sees
 * each stale session's directory, with ctx, before it is removed. */
unsigned rm_native_store_sweep(int storefd,
                               void (*on_stale)(int dirfd, void *ctx),
                               void *ctx);

/* RM_OK while the session directory dirfd exists and has its primary,
 * RM_E_INVALID_HANDLE once it has ended or its primary died. */
unsigned rm_native_store_check(int dirfd);

/* Removes the session key from the store (its primary ends it). */
void rm_native_store_remove(int storefd, const char *key);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
