/* Native operations not built yet: they answer ERROR_CALL_NOT_IMPLEMENTED. */
#include "native.h"

#define NOT_IMPLEMENTED 120u

static unsigned conductor_only(rm_session *s) {
  unsigned rc = native_session_check(s);
  if (rc != RM_OK) return rc;
  return s->primary ? NOT_IMPLEMENTED : RM_E_SESSION_CREDENTIAL_CONFLICT;
}

unsigned rmb_shutdown(rm_session *s, uint32_t flags, unsigned timeout_ms,
                      rm_progress_fn fn, void *ctx) {
  (void)flags; (void)timeout_ms; (void)fn; (void)ctx;
  return conductor_only(s);
}
unsigned rmb_restart(rm_session *s, rm_progress_fn fn, void *ctx) {
  (void)fn; (void)ctx;
  return conductor_only(s);
}
unsigned rmb_cancel(rm_session *s) { return conductor_only(s); }
unsigned rmb_add_filter(rm_session *s, const rm_filter *f) {
  (void)f;
  return conductor_only(s);
}
unsigned rmb_remove_filter(rm_session *s, const rm_filter *f) {
  (void)f;
  return conductor_only(s);
}
unsigned rmb_get_filter_list(rm_session *s, void *buf, size_t size,
                             size_t *needed, unsigned *count) {
  (void)buf; (void)size; *needed = 0; *count = 0;
  return conductor_only(s);
}
unsigned rmb_register_restart(size_t argc, const char *const *argv,
                              uint32_t flags) {
  (void)argc; (void)argv; (void)flags;
  return NOT_IMPLEMENTED;
}
unsigned rmb_unregister_restart(void) { return NOT_IMPLEMENTED; }
void native_control_free(struct native_control *c) { (void)c; }
int native_restartable(uint32_t pid, uint64_t start_time) {
  (void)pid; (void)start_time;
  return 0;
}
