/*
 * The native (Linux) backend, in layers. backend.c is the one
 * implementation of backend.h and the only file that knows a session; each
 * file below it does one job, takes plain arguments (descriptors, buffers,
 * apps) and calls only files further down this list, never one above it:
 *
 *   backend.c     backend.h: sessions, and every call, by the layers below
 *   control.h     shutdown and restart of listed apps, cancel
 *   recovery.h    what a shutdown stopped, kept so that a primary that
 *                 dies before its restart loses no application
 *   filters.h     what a session's filters need of Linux: a file's
 *                 identity, who uses it, which unit a service name names
 *                 (the list and its rules: src/filters.h, shared with the
 *                 win32 engine)
 *   apps.h        describing a process the scan found (name, type, ...)
 *   scan.h        who uses a set of files, processes and services
 *   services.h    services through systemd: which processes are services,
 *                 what their managers say of them, stopping and starting
 *                 their units
 *   restartreg.h  restart registrations (RegisterApplicationRestart)
 *   records.h     registration records: the format of what a session
 *                 registered
 *   store.h       the per-user session store: directories, keys, locks
 *   capture.h     what restarting a program that never registered needs
 *                 (capture.c), and starting a program where it outlives
 *                 the installer: the user's systemd manager, a cgroup
 *                 beside the installer's (relaunch.c)
 *   procfs.h      the one /proc reader
 *   launch.h      starting a program with nothing inherited (also used by
 *                 process.c, the process interface of src/process.h)
 *   util.h        the errno map, the growable buffer, " (deleted)"
 *   systemd.h     systemd itself: units from cgroup paths, service names,
 *                 sd-bus (libsystemd loaded at run time) and a manager's
 *                 jobs; nothing of this backend
 *
 * This header gathers them for backend.c; a layer includes only the
 * headers of the layers it uses. Code that is the same on every platform
 * lives beside the interfaces in src/ and calls nothing of a backend; the
 * layers here may call it:
 *
 *   src/filters.h   a session's filter list, its rules and its layout
 *   src/progress.h  progress reports that never fall (control.c)
 */
#ifndef RESTARTMANAGER_NATIVE_H
#define RESTARTMANAGER_NATIVE_H

#include "backend.h"

#include "control.h"
#include "filters.h"
#include "apps.h"
#include "scan.h"
#include "services.h"
#include "restartreg.h"
#include "records.h"
#include "store.h"
#include "capture.h"
#include "procfs.h"
#include "launch.h"
#include "recovery.h"
#include "util.h"
#include "systemd.h"

#endif
