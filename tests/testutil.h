/* testutil.h - shared helpers for the cmocka test programs.
 *
 * Tests run from the repository root, so third-party test data is found at
 * ../shared/testdata (override with LUTFUSE_TESTDATA). Temporary files go to
 * a per-process directory under $TMPDIR.
 */
#ifndef LF_TESTUTIL_H
#define LF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Path of a file under the test data folder (static buffer per call site is
 * not needed: returns a malloc'd string the caller frees). */
char *tu_data_path(const char *rel);
/* Read a whole file; returns malloc'd bytes (NUL-terminated for convenience)
 * and sets *len; NULL if it cannot be read. */
char *tu_read_file(const char *path, size_t *len);
/* A fresh temporary file path (malloc'd) in a per-process scratch directory,
 * removed by tu_cleanup() (call from a group teardown or at exit). */
char *tu_tmp_path(const char *name);
/* Path of the built lutfuse binary ($(BUILD)/lutfuse), from LUTFUSE_BIN or
 * "build/lutfuse". Borrowed. */
const char *tu_lutfuse_bin(void);

#endif
