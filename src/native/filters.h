/*
 * What a session's filters (src/filters.h, the one list every engine keeps)
 * need of Linux: a file filter's identity (device and inode) when it is
 * added, whether a process uses a filtered file (its descriptors, maps or
 * executable in /proc), whether a filter's service name names an app's
 * unit.
 */
#ifndef RESTARTMANAGER_NATIVE_FILTERS_H
#define RESTARTMANAGER_NATIVE_FILTERS_H

#include "backend.h"
#include "../filters.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Adds f to l (rm_filters_add), a file filter with the identity its path
 * has now. */
unsigned rm_native_filters_add(rm_filters *l, const rm_filter *f);

/* The strongest action that applies to a (0 for none), as
 * rm_filters_action says. procfd: a descriptor of /proc. A file's use is
 * not known when the app's files cannot be read. */
int rm_native_filters_action(const rm_filters *l, int procfd,
                             const rm_app *a);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
