/*
 * Progress reports (progress.h).
 */
#include "progress.h"

void rm_reporter_init(rm_reporter *r, rm_progress_fn fn, void *ctx) {
  r->fn = fn;
  r->ctx = ctx;
  r->last = -1;
  r->stop = 0;
}

void rm_reporter_report(rm_reporter *r, unsigned pct) {
  if (r->stop || !r->fn || (int)pct <= r->last) return;
  r->last = (int)pct;
  if (r->fn(r->ctx, pct) != 0) r->stop = 1;
}

void rm_reporter_tick(rm_reporter *r) {
  if (r->stop || !r->fn || r->last < 0) return;
  if (r->fn(r->ctx, (unsigned)r->last) != 0) r->stop = 1;
}
