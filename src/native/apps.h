/*
 * Describing apps: what RmGetList says about a process the scan found (its
 * name, type, service, login session, whether it may be restarted) and the
 * reboot reasons it brings.
 */
#ifndef RESTARTMANAGER_NATIVE_APPS_H
#define RESTARTMANAGER_NATIVE_APPS_H

#include <stdint.h>

#include "backend.h"
#include "services.h"
#include "restartreg.h"
#include "scan.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* 1 when systemd runs the machine (its services are then named). */
int rm_native_systemd_running(void);

/* Fills a for the process h (procfd: a descriptor of /proc) and returns
 * its reboot reasons (RM_REBOOT_* bits). sv: the calling thread's view of
 * the services (services.h), NULL where systemd does not run (no process
 * is a service then). cache: the calling thread's cache of restart
 * registrations (restartreg.h), or NULL. */
uint32_t rm_native_describe(int procfd, const rm_native_hit *h,
                            rm_native_services *sv,
                            rm_native_restart_cache *cache, rm_app *a);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
