/*
 * Helpers of the Windows restart registration that need no Windows header,
 * so that the backend and a test program share them: the quoting of an
 * argument vector into one command line, and the mapping of an HRESULT to a
 * Win32 error code.
 */
#ifndef RESTARTMANAGER_WIN_RESTART_H
#define RESTARTMANAGER_WIN_RESTART_H

#include <stddef.h>
#include <stdint.h>

/* Quotes argv[0..argc) into one command line that CommandLineToArgvW (and
 * the C runtime's parser) splits back into the same arguments, separated by
 * single spaces. Strings are UTF-8: the characters that matter (space, tab,
 * quote, backslash) are single bytes there and never part of a longer
 * sequence.
 *
 * Writes at most size bytes into buf (always NUL-terminated when size > 0)
 * and returns the length of the full line without its NUL, so that a call
 * with size 0 (buf may then be NULL) measures it. */
size_t rm_win_cmdline_quote(size_t argc, const char *const *argv, char *buf,
                         size_t size);

/* The Win32 error code an HRESULT stands for:
 *   S_OK and every other success (bit 31 clear)  -> 0
 *   0x8007xxxx (HRESULT_FROM_WIN32, facility 7)  -> xxxx, so E_INVALIDARG
 *                                                   (0x80070057) -> 87 and
 *                                                   E_OUTOFMEMORY -> 14
 *   E_FAIL (0x80004005) and any other failure    -> 1627,
 *                                                   ERROR_FUNCTION_FAILED */
unsigned rm_win_hresult_to_error(uint32_t hr);

#define WIN_ERROR_FUNCTION_FAILED 1627u

#endif
