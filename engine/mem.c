/* mem.c - huge-page-advised anonymous mappings (see mem.h). */
#include "engine/mem.h"

#include <stdint.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *lf_big_alloc(size_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX - HUGE_PAGE) return NULL;
    if (bytes < HUGE_PAGE) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    /* Map one huge page more and trim both ends, so that the block starts
     * on a huge-page boundary and munmap(p, bytes) releases all of it. */
    const size_t span = bytes + HUGE_PAGE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *p = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw) (void)munmap(raw, (size_t)(p - raw));
    const size_t tail = (size_t)(raw + span - (p + bytes));
    if (tail) (void)munmap(p + bytes, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void lf_big_free(void *p, size_t bytes)
{
    if (p) (void)munmap(p, bytes);
}
