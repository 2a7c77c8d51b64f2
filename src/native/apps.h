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

#endif
