/*
 * The Windows backend's engines. backend.c implements backend.h once and
 * hands every session call to the engine that runs:
 *
 *   rstrtmgr.c  the Restart Manager of rstrtmgr.dll (rm_win_rstrtmgr)
 *   w32_*.c     a user-mode engine over plain Win32 (rm_win_w32), for where
 *               rstrtmgr.dll is only stubs (Wine, Proton)
 *
 * An engine's session is its own opaque object; the calls mirror backend.h
 * with that object in place of rm_session.
 */
#ifndef RESTARTMANAGER_WIN_ENGINE_H
#define RESTARTMANAGER_WIN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "../backend.h"

typedef struct rm_win_engine {
  const char *name; /* what core.backend_info() reports as `engine` */
  unsigned (*start)(void **out, char key[RM_KEY_LEN + 1]);
  unsigned (*join)(void **out, const char *key);
  unsigned (*end)(void *s);
  unsigned (*register_resources)(void *s, size_t nfiles,
                                 const char *const *files, size_t nprocs,
                                 const rm_unique_process *procs, size_t nsvcs,
                                 const char *const *svcs);
  unsigned (*get_list)(void *s, unsigned *needed, unsigned *count,
                       rm_app *apps, uint32_t *reasons);
  unsigned (*shutdown)(void *s, uint32_t flags, unsigned timeout_ms,
                       rm_progress_fn fn, void *ctx);
  unsigned (*restart)(void *s, rm_progress_fn fn, void *ctx);
  unsigned (*cancel)(void *s);
  unsigned (*cancel_key)(const char *key);
  unsigned (*add_filter)(void *s, const rm_filter *f);
  unsigned (*remove_filter)(void *s, const rm_filter *f);
  unsigned (*get_filter_list)(void *s, void *buf, size_t size,
                              size_t *needed, unsigned *count);
  /* Restart registration beside RegisterApplicationRestart, which the
   * top file always calls too; NULL when the engine keeps none. */
  unsigned (*register_restart)(size_t argc, const char *const *argv,
                               uint32_t flags);
  unsigned (*unregister_restart)(void);
} rm_win_engine;

extern const rm_win_engine rm_win_rstrtmgr;
extern const rm_win_engine rm_win_w32;

/* Whether rstrtmgr.dll answers RmStartSession with a session key (a probe
 * session, ended at once): Wine's stubs leave the key unwritten. */
int rm_win_rstrtmgr_gives_key(void);

#endif
