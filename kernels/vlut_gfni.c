/* vlut_gfni.c - the AVX-512 PANEL multiply-add kernel with GFNI.
 *
 * Compiled with the AVX-512 flags and -mgfni, and reached only through
 * kern_ops() when the CPU has GFNI (kernels.c). vgf2p8affineqb multiplies
 * each byte, as a bit vector, by an 8 x 8 bit matrix: with the matrix that
 * moves bits 2q and 2q+1 to bits 0 and 1 and drops the rest, one instruction
 * unpacks a quarter of a panel block (a shift and a mask otherwise: a
 * quarter of the kernel's non-multiply instructions). */
#include "kernels/vlut.h"

#include <immintrin.h>

/* Output bit i of vgf2p8affineqb is the parity of (matrix byte 7-i) AND the
 * input byte: byte 7 selects bit 2q into bit 0, byte 6 bit 2q+1 into bit 1. */
static inline __attribute__((always_inline)) __m512i panel_quarter(__m512i p, const int q)
{
    if (q == 0) return _mm512_and_si512(p, _mm512_set1_epi8(3));
    const uint64_t m = (uint64_t)(1u << (2 * q)) << 56 | (uint64_t)(1u << (2 * q + 1)) << 48;
    return _mm512_gf2p8affine_epi64_epi8(p, _mm512_set1_epi64((long long)m), 0);
}
#define PANELS_FN vlut_mad_panels_gfni
#include "kernels/vlut_panels_avx512.h"
