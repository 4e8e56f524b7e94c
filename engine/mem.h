/* mem.h - large allocations backed by transparent huge pages where the
 * kernel allows it.
 *
 * The KV cache and the repacked weights are hundreds of MiB streamed again
 * at every step; on 4 KiB pages each step walks tens of thousands of TLB
 * misses. These blocks are mmap'd (page-aligned, zero-filled) and advised
 * MADV_HUGEPAGE, which takes effect when
 * /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise" and
 * is harmless otherwise.
 */
#ifndef LF_MEM_H
#define LF_MEM_H

#include <stddef.h>

/* Zeroed memory of `bytes` (> 0), or NULL. */
void *lf_big_alloc(size_t bytes);
/* Free a block from lf_big_alloc of the same size; NULL is a no-op. */
void lf_big_free(void *p, size_t bytes);

#endif
