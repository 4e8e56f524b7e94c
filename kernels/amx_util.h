/* amx_util.h - the tile configuration shared by the *_amx.c kernel files
 * (include it only from files compiled with -mamx-tile). */
#ifndef LF_AMX_UTIL_H
#define LF_AMX_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* LDTILECFG's 64-byte operand (palette 1). */
struct tile_config {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* The layout both AMX kernels use: tiles 0, 1 (accumulators) and 4 (A)
 * hold r0 tokens, tiles 2, 3 and 5 r1 tokens (0: unused), tiles 6 and 7
 * the 16 rows of a B tile; every used tile is 64 bytes wide. */
static inline void amx_tile_setup(int r0, int r1)
{
    struct tile_config c __attribute__((aligned(64)));
    memset(&c, 0, sizeof c);
    c.palette = 1;
    const int rows[8] = {r0, r0, r1, r1, r0, r1, 16, 16};
    for (int i = 0; i < 8; i++) {
        c.rows[i] = (uint8_t)rows[i];
        c.colsb[i] = rows[i] ? 64 : 0;
    }
    /* in assembly with c as a memory operand: GCC 12's _tile_loadconfig
     * does not tell the compiler it reads c, and with constant shapes it
     * dropped the stores above (tiles left unconfigured: SIGILL) */
    __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

/* The shape of the token pair starting `left` tokens before the end of a
 * batch (r0 = tokens of its first tile, r1 of its second, 0 if none), with
 * the configuration loaded only when it differs from cur, the shape loaded
 * last (start from {-1, -1}). */
static inline void amx_pair_shape(int64_t left, int cur[2], int *r0, int *r1)
{
    *r0 = left < 16 ? (int)left : 16;
    *r1 = left <= 16 ? 0 : left < 32 ? (int)(left - 16) : 16;
    if (*r0 != cur[0] || *r1 != cur[1]) {
        amx_tile_setup(*r0, *r1);
        cur[0] = *r0, cur[1] = *r1;
    }
}

#endif
