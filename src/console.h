/*
 * The program's own command line, console and file names, where the C
 * runtime falls short: src/windows/console.c and src/native/console.c. On Windows the C
 * runtime's argv holds the arguments in the ANSI code page, which cannot
 * hold every character ("è" in a path, on a system whose code page lacks
 * it, arrives as "?"); the command line itself is UTF-16, and the console
 * shows UTF-8 once asked to. On POSIX argv is already the bytes the
 * program got.
 */
#ifndef RESTARTMANAGER_CONSOLE_H
#define RESTARTMANAGER_CONSOLE_H

#include <stddef.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* The process's arguments as UTF-8, *argv a malloc'd array of *argc
 * malloc'd strings (free with rm_console_free), the program's name first.
 * RM_E_INVALID_FUNCTION where argv needs no such reading (POSIX). */
unsigned rm_console_arguments(size_t *argc, char ***argv);
void rm_console_free(size_t argc, char **argv);

/* Has the console show UTF-8 output (RM_OK where nothing is needed). */
unsigned rm_console_utf8_output(void);

/* Whether the file or directory path (UTF-8) exists, through the W
 * functions: the C runtime's fopen takes its name in the ANSI code page.
 * A path that cannot be looked at counts as existing. RM_E_INVALID_FUNCTION
 * where the C runtime reaches every name (POSIX). */
unsigned rm_console_path_exists(const char *path, int *exists);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
