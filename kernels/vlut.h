/* vlut.h - ternary GEMM: weight packing and the Vec-LUT / multiply-add kernels.
 *
 * Computes Y = X . W^T exactly in int32, where W is M x K ternary (trits in
 * {-1,0,+1}) and X is N x K int8 (one row per token, e.g. absmax-quantized
 * activations). Scales are the caller's business: this module is integers only.
 *
 * Three packed layouts of the same weights (the caller chooses which to build;
 * vlut_gemm uses whichever the batch width favours among those present):
 *   LUT  base-3 codes, VLUT_G = 4 weights per byte (81 codes, 2 bits/weight):
 *        row m has G = vlut_lut_row_bytes(K) = ceil(K/4) codes, code j holding
 *        weights 4j..4j+3 as code = sum_i (w[4j+i]+1) * 3^i; weights past K
 *        are zeros (digit 1). The codes are stored in sub-tiles of VLUT_SUB
 *        codes (the kernel's unit of table building), sub-tile after
 *        sub-tile, rows one after another inside a sub-tile: the sub-tile
 *        starting at code s (a multiple of VLUT_SUB) begins at byte s * M and
 *        holds sub = min(VLUT_SUB, G - s) codes per row, so code j of row m
 *        is at byte s*M + m*sub + (j - s). The kernel sweeps a sub-tile's
 *        rows in one contiguous stream. Feeds the Vec-LUT kernel (wide
 *        batches).
 *   MAD  2-bit codes w+1 in {0,1,2}, in 256-weight blocks of 64 bytes: byte p of
 *        a block holds weights p, p+64, p+128, p+192 at bit shifts 6, 4, 2, 0.
 *        Row m is vlut_mad_row_bytes(K) = ceil(K/256)*64 bytes; weights past K
 *        are zeros. Feeds the row multiply-add kernels (reference and AVX2; a
 *        model packs PANELs instead on AVX2 and AVX-512).
 *   PANEL the MAD codes w+1 regrouped for a broadcast multiply-add: rows in
 *        panels of VLUT_PANEL_ROWS = 16 (M rounded up; rows past M are
 *        zeros), each panel nkb = vlut_mad_row_bytes(K)/4 blocks of 16
 *        columns, 64 bytes per block: byte 4r+j of block b of panel p holds,
 *        at bits 2q..2q+1 for q = 0..3, the code of row 16p+r, column
 *        16b+4q+j (zeros past K). Quarter q of a block is then 16 rows x 4
 *        columns, one 32-bit lane per row - what vpdpbusd multiplies by 4
 *        activations of a token broadcast to every lane - so lane r of the
 *        accumulator is row r and no horizontal sum is needed. Feeds the
 *        AVX2 and AVX-512 multiply-add kernels (the q8 head's layout, q8.h,
 *        at 2 bits).
 *        vlut_panel_bytes(M, K) bytes.
 * Any two layouts together cost 4 bits per weight; one alone, 2.
 *
 * Output: y[n*M + m] for n in [0,N), m in [m0,m1) - row-major per token, so a
 * thread pool splits the output rows [0,M) into ranges and each thread writes
 * only its own columns of y. The kernels never allocate and take no locks; each
 * thread passes its own workspace (64-byte aligned, vlut_workspace_size bytes).
 * The algorithms, the overflow bounds and the tiling are described at the top
 * of vlut.c.
 */
#ifndef LF_VLUT_H
#define LF_VLUT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLUT_G 4          /* weights per LUT code byte */
#define VLUT_CODES 81     /* 3^VLUT_G table rows */
#define VLUT_CODE_ZERO 40 /* code of VLUT_G zero weights (all digits 1) */
#define VLUT_LANES 32     /* int16 lanes per table row = tokens per N-tile */
/* Lookups that may be summed in int16 before flushing to int32: a table entry
 * is a sum of VLUT_G terms x*w with |x| <= 128 (int8 reaches -128) and
 * |w| <= 1, so |entry| <= 128*VLUT_G = 512, and L lookups stay within int16
 * while 512*L <= 32767, i.e. L <= floor(32767/512) = 63. */
#define VLUT_FLUSH_LOOKUPS (32767 / (128 * VLUT_G))
/* Groups of VLUT_G weights per K-tile (192 activations): the unit of the
 * tiled code layout and of the int32 flush - each output row widens its
 * int16 partial sums once per K-tile, so it must be <= VLUT_FLUSH_LOOKUPS.
 * (With tables per K-tile, measured on the earlier Zen 4 machine at N=32,
 * 2560x2560, GMAC/s avx512 / avx2: KT=4 167/110, 8 205/141, 16 229/153,
 * 32 215/157, 48 212/187, 63 197/183; the tables are now built per
 * VLUT_SUB sub-tile.) */
#define VLUT_KT 48
/* Groups per table build (a sub-tile of a K-tile): 8 groups' tables are
 * 8 * 81 rows * 64 B = 41.5 KiB, which stays in a 48 KiB L1. Each row sums
 * a sub-tile's lookups into an int16 accumulator kept in the workspace
 * (acc16) and flushes it to int32 once per K-tile, so the flush cost stays
 * that of VLUT_KT while the lookups hit L1 (~20-30% faster than 48-group
 * tables in L2, measured with a micro-benchmark on the development machine). */
#define VLUT_SUB 8
_Static_assert(VLUT_KT % VLUT_SUB == 0, "K-tiles are whole sub-tiles");
#define VLUT_MAD_BLOCK 256      /* weights per MAD block */
#define VLUT_MAD_BLOCK_BYTES 64 /* bytes per MAD block */
#define VLUT_PANEL_ROWS 16      /* rows per PANEL-layout panel */
/* Which kernel takes which tokens (when both layouts are present): the
 * Vec-LUT kernel works on 32-lane tiles, and a tile costs about the same
 * however many of its lanes are used, so vlut_gemm runs the LUT kernel on
 * the whole 32-token tiles of a batch and the multiply-add kernel on the rest
 * - unless the rest is at least the crossover width, where a LUT tile beats
 * the multiply-add kernel. The crossover is measured per ISA with
 * `bench_kernels --sweep` (one thread, medians, development machine: 2-core
 * Xeon VM, AVX-512 VNNI): AVX2 18 (LUT ~150 at N = 32, maddubs MAD ~95);
 * AVX-512 was 26 with the 4 x 4-tiled VNNI kernel at 100-180 GMAC/s.
 * Below VLUT_LUT_MIN tokens the multiply-add kernel takes the whole batch.
 * On AVX-512 that is 64: once vpdpbusd was written so that GCC keeps the
 * accumulators in place (avx512_util.h), the tiled multiply-add kernel ran
 * at 350-500 GMAC/s for N = 16-32 on two threads against the LUT's 250-290
 * (bench_kernels), and in the forward pass (SMALL, 32 sequences, three
 * paired runs) at 1,280-1,551 tok/s against 1,052-1,087 with a LUT tile,
 * whose tables both threads build when one tile is split by rows; from
 * 48-64 tokens up the two measured within noise of each other (a repeat of
 * the 32-sequence comparison, 9 alternating runs: 1,047 MAD against 1,029
 * LUT). With that multiply-add kernel a partly filled LUT tile never wins
 * on AVX-512, so its crossover is a whole tile. AVX2 then: 0 (now 128,
 * see the end of this comment).
 * Then the forward pass ran the multiply-add kernel on 32-token blocks
 * (each block's activations in L1/L2 while the rows pass over them, chunks
 * shared out as the workers come for them), and on AVX-512 it beat the
 * LUT at every width measured (SMALL, 2 threads, medians of alternating
 * runs): 64 sequences 1,495 against 1,168 tok/s, 128 sequences 1,401
 * against 1,343, prefill of 512 tokens 1,429 against 1,282 (every run),
 * BitNet-2B prefill of 128 104-143 against 89-111. So AVX-512 never sends
 * tokens to the LUT (VLUT_LUT_NEVER); the LUT kernel stays built, tested
 * on every ISA and benchmarked (bench_kernels), and AVX2 uses it for
 * prompts. (The
 * row-layout AVX-512 kernel measured here has since been replaced by the
 * PANEL kernel, faster again: vlut_panels_avx512.h.)
 * AVX2 got its own PANEL kernel later (vlut_avx2.c); on a 2-core AMD EPYC
 * Zen 3 VM (AVX2 only), one thread, `bench_kernels --sweep --isa avx2`
 * medians, GMAC/s LUT / PANEL: 2560x2560 N = 16 74 / 133, 28 129 / 135,
 * 30 138 / 137, 32 136 / 132, 34 77 / 125, 40 88 / 138 - a partly filled
 * tile loses everywhere, so AVX2's crossover is a whole tile too. In the
 * forward pass there (SMALL, 2 threads, medians of 7 alternating runs)
 * the PANEL kernel in 32-token blocks also beat whole LUT tiles when
 * decoding 64 sequences, 932 against 802 tok/s (every pair), and 32
 * (three --profile runs: every matmul phase 10-25% shorter), while a
 * 512-token prefill measured a tie (1,007 against 962, 4 of 7 pairs). So
 * AVX2 sends a batch to the LUT only from VLUT_LUT_MIN_AVX2 = 128 tokens
 * (prompts, where the tables are built once for many rows and tiles), and
 * the reference ISA from any width (so that the forward pass's LUT path is
 * tested against the reference at the widths test_model runs). */
#define VLUT_LUT_NEVER INT_MAX
#define VLUT_CROSSOVER_AVX512 32
#define VLUT_CROSSOVER_AVX2 32
#define VLUT_LUT_MIN_AVX512 VLUT_LUT_NEVER
#define VLUT_LUT_MIN_AVX2 128
#define VLUT_LUT_MIN_REF 0

/* The constants above are the built-in choice. The commands that run a
 * model replace VLUT_LUT_MIN by a measurement on the machine they run on
 * (kern_tune, kernels.h): vlut_tune_measure times the Vec-LUT and the
 * multiply-add kernel on one TUNE_M x TUNE_K matrix (vlut_tune.c) at each
 * width of VLUT_TUNE_WIDTHS (64, 128, 256 tokens), on the calling thread and
 * the selected ISA, and vlut_tune_decide picks the narrowest width from
 * which the LUT took at most VLUT_TUNE_MARGIN of the multiply-add kernel's
 * time at that width and every wider one (VLUT_LUT_NEVER if none): the LUT
 * copy of the weights costs 2 bits per weight of memory, so a tie does not
 * buy it. */
#define VLUT_TUNE_WIDTHS 3
#define VLUT_TUNE_MARGIN 0.9
struct vlut_tune {
    int64_t rows, cols; /* the matrix timed */
    int widths[VLUT_TUNE_WIDTHS];
    double lut_gmacs[VLUT_TUNE_WIDTHS], mad_gmacs[VLUT_TUNE_WIDTHS];
    int lut_min; /* the choice */
};
/* The choice from times lut_s[i], mad_s[i] at widths[i] (ascending). */
int vlut_tune_decide(const int *widths, const double *lut_s, const double *mad_s, int n);
/* Measure (about 50 ms) and fill *t. Returns 0 or LF_ERR_NOMEM. */
int vlut_tune_measure(struct vlut_tune *t, char *err, size_t err_len);
/* Reproducible test data: nw random trits into w, then nx random int8
 * activations into x, from one generator seeded with seed. */
void vlut_fill_random(int8_t *w, int64_t nw, int8_t *x, int64_t nx, uint64_t seed);

/* A packed ternary matrix: a borrowed view of caller-owned bytes. Any
 * layout pointer may be NULL (not built); at least one must be set. The
 * multiply-add kernel reads the PANEL layout when it is present, else MAD. */
struct vlut_weights {
    int64_t rows;         /* M */
    int64_t cols;         /* K */
    const uint8_t *lut;   /* M x vlut_lut_row_bytes(K), or NULL */
    const uint8_t *mad;   /* M x vlut_mad_row_bytes(K), or NULL */
    const uint8_t *panel; /* vlut_panel_bytes(M, K), or NULL */
};

/* Bytes of one packed row in each layout (K >= 1). */
int64_t vlut_lut_row_bytes(int64_t K);
int64_t vlut_mad_row_bytes(int64_t K);
/* Bytes of an M x K matrix in the PANEL layout. */
int64_t vlut_panel_bytes(int64_t M, int64_t K);

/* Pack one row of K trits into dst (vlut_lut_row_bytes(K) or
 * vlut_mad_row_bytes(K) bytes). The LUT codes come out in row order (code j
 * at byte j), the MAD bytes exactly as row m of the matrix layout. Returns 0,
 * or LF_ERR_INVALID if a value is not in {-1,0,1} or K < 1 (dst is then
 * partly written). */
int vlut_pack_lut_row(const int8_t *w, int64_t K, uint8_t *dst);
int vlut_pack_mad_row(const int8_t *w, int64_t K, uint8_t *dst);
/* Pack row m of an M x K matrix into its place in the tiled LUT layout at
 * dst (M * vlut_lut_row_bytes(K) bytes). Same errors as above. */
int vlut_pack_lut_matrix_row(const int8_t *w, int64_t M, int64_t K, int64_t m, uint8_t *dst);
/* Pack row m (K trits at w) into its place in the PANEL layout at dst
 * (vlut_panel_bytes(M, K) bytes, every byte of which the caller set to
 * VLUT_PANEL_ZERO first: all codes 1, the zero weight). Same errors. */
#define VLUT_PANEL_ZERO 0x55
int vlut_pack_panel_row(const int8_t *w, int64_t M, int64_t K, int64_t m, uint8_t *dst);

/* Pack an M x K row-major trit matrix into either or both layouts (a NULL dst
 * skips that layout). Returns 0 or LF_ERR_INVALID (bad value or shape). */
int vlut_pack(const int8_t *trits, int64_t M, int64_t K, uint8_t *lut_dst, uint8_t *mad_dst);
/* The same into the PANEL layout (padding included). */
int vlut_pack_panels(const int8_t *trits, int64_t M, int64_t K, uint8_t *dst);

/* Workspace bytes for any of the GEMM entry points below at batch width N,
 * depth K and at most `rows` output rows per call (m1 - m0 <= rows). The
 * workspace must be 64-byte aligned (aligned_alloc(64, round up to 64)). */
size_t vlut_workspace_size(int64_t N, int64_t K, int64_t rows);

/* How many leading tokens of a batch of N vlut_gemm sends through the
 * Vec-LUT kernel when both layouts are present (0, a multiple of 32, or N;
 * the rest go through the multiply-add kernel), on the selected ISA. */
int64_t vlut_lut_tokens(int64_t N);

/* y[n*M + m] = sum_k x[n*K + k] * W[m][k] for n in [0,N), m in [m0,m1), exact.
 * x is N x K int8, row-major. Splits the tokens between the kernels
 * (vlut_lut_tokens) among the layouts present in w, through the dispatch
 * table (kernels.h). Any thread
 * may call it concurrently with its own ws and a disjoint [m0,m1). Programmer
 * errors (0 <= m0 <= m1 <= M violated, N < 1, ws too small or misaligned) abort
 * with a message. */
void vlut_gemm(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
               int64_t m1, void *ws, size_t ws_size);
/* Several matrices of the same K over the same activations (q, k and v;
 * gate and up), each part writing rows [m0, m1) of its own y (N x w->rows)
 * as vlut_gemm does: through the Vec-LUT kernel, with the tables of each
 * K-tile built once for all parts. Every part must have the LUT layout; ws
 * must hold vlut_workspace_size(N, K, sum of the parts' rows). */
#define VLUT_MAX_PARTS 4
struct vlut_part {
    const struct vlut_weights *w;
    int32_t *y;
    int64_t m0, m1;
};
void vlut_gemm_multi(const struct vlut_part *parts, int n_parts, const int8_t *x, int64_t N,
                     void *ws, size_t ws_size);

/* The same through one kernel; w must hold that kernel's layout. */
void vlut_gemm_lut(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
                   int64_t m1, void *ws, size_t ws_size);
void vlut_gemm_mad(const struct vlut_weights *w, const int8_t *x, int64_t N, int32_t *y, int64_t m0,
                   int64_t m1, void *ws, size_t ws_size);
/* Activations as the multiply-add kernels read them: row t (of N) at
 * x + t * stride, 64-byte aligned, stride a multiple of VLUT_MAD_BLOCK and
 * at least K rounded up to one, zeros from K on; xsum[t] is row t's sum. */
struct vlut_mad_x {
    const int8_t *x;
    int64_t stride;
    const int32_t *xsum;
};
/* vlut_gemm_mad in two steps, for a caller that runs several row ranges (or
 * matrices of the same K) over the same activations: vlut_mad_prepare pads
 * x (N x K) into ws once and returns where; vlut_mad_run then computes rows
 * [m0, m1) of y from it, as vlut_gemm_mad would. ws must stay untouched in
 * between (vlut_mad_run only reads it). When vlut_mad_direct(K), rows of K
 * int8 stored back to back already are such rows (if 64-byte aligned), and
 * a caller that has their sums (vlut_mad_pad with no xpad) can skip the
 * copy. */
bool vlut_mad_direct(int64_t K);
struct vlut_mad_x vlut_mad_prepare(const int8_t *x, int64_t N, int64_t K, void *ws, size_t ws_size);
void vlut_mad_run(const struct vlut_weights *w, int64_t N, int32_t *y, int64_t m0, int64_t m1,
                  const struct vlut_mad_x *a);
/* vlut_mad_run with act_dequant fused (PANEL layout only: w->panel set):
 * y[n*ldy + m] = ((float)dot(n, m) * rs[m]) * d[n] for m in [m0, m1), the
 * floats act_dequant would give from vlut_mad_run's int32 results. */
void vlut_mad_run_dequant(const struct vlut_weights *w, int64_t N, const float *rs, const float *d,
                          float *y, int64_t ldy, int64_t m0, int64_t m1,
                          const struct vlut_mad_x *a);
/* vlut_mad_run_dequant with the output shifted to start at row m0 (a
 * multiple of VLUT_PANEL_ROWS): y[n*ldy + m - m0], rs still indexed by m.
 * For a small buffer that holds one range of rows for all N tokens. */
void vlut_mad_run_dequant_at(const struct vlut_weights *w, int64_t N, const float *rs,
                             const float *d, float *y, int64_t ldy, int64_t m0, int64_t m1,
                             const struct vlut_mad_x *a);

/* The float epilogue of vlut_mad_panels and vlut_mad_run_dequant: row
 * scales (indexed by output row), per-token factors d[t] = scale / xs[t]
 * (act.h), and the float output. */
struct vlut_epilogue {
    const float *rs;
    const float *d;
    float *y;
};

/* ---- Per-ISA pieces, called only through kern_ops() (kernels.h). ----
 *
 * vlut_lut_tables: xg holds kt groups of VLUT_G activation vectors of
 *   VLUT_LANES int16 each (xg[(j*VLUT_G + i)*VLUT_LANES + lane] is activation
 *   4j+i of the tile for token `lane`). Writes tables[j][c][lane] (kt x 81 x
 *   VLUT_LANES int16, 64-byte aligned) = sum_i (digit_i(c) - 1) * xg[j][i][lane].
 *   Needs kt <= VLUT_SUB (the workspace holds one sub-tile's tables).
 * vlut_lut_tile: one sub-tile over `rows` output rows: for r in [0,rows),
 *   s[lane] = (flags & VLUT_LOAD16 ? acc16[r][lane] : 0) + sum_{j<kt}
 *   tables[j][codes[r*code_stride + j]][lane] in int16; then with
 *   VLUT_FLUSH acc32[r][lane] = s (VLUT_FIRST32) or += s, widened to int32,
 *   else acc16[r][lane] = s. acc16 is rows x VLUT_LANES int16, acc32 rows x
 *   VLUT_LANES int32, both 64-byte aligned. Needs kt <= VLUT_SUB; the caller
 *   keeps the lookups between flushes <= VLUT_FLUSH_LOOKUPS.
 * vlut_lut_gather: xg[i*VLUT_LANES + lane] = x[lane*K + k0 + i] for i in
 *   [0, 4*kt) and lane in [0, VLUT_LANES): the int16 activations of one K-tile,
 *   token-interleaved, 0 where lane >= nt or k0 + i >= K.
 * vlut_lut_store: y[lane*ldy + r] = acc[r*VLUT_LANES + lane] for r in
 *   [0,rows), lane in [0,nt): the int32 accumulators back in token-major rows.
 * vlut_mad_rows: for r in [0,rows), t in [0,n): y[t*y_stride + r] =
 *   sum over nblocks MAD blocks of code(r,k) * xpad[t*x_stride + k] - xsum[t],
 *   where codes of row r start at codes + r*code_stride, xpad rows are
 *   nblocks*256 int8 (64-byte aligned, zero past K) and xsum[t] is the sum of
 *   token t's activations.
 * vlut_mad_panels: for r in [m0,m1), t in [0,n): y[t*y_stride + r] = sum
 *   over the nkb blocks of each PANEL panel of code(r,k) * xpad[t*x_stride +
 *   k] - xsum[t], the codes of the whole matrix at panels, xpad and xsum as
 *   for vlut_mad_rows (rows nkb*16 int8). With ep set, the results go out
 *   as floats instead, ep->y[t*y_stride + r] = ((float)dot * ep->rs[r]) *
 *   ep->d[t] (y unused): act_dequant's operations, fused so that the int32
 *   results never reach memory. The AVX-512 version unpacks the
 *   quarters with shifts; the _gfni one with one vgf2p8affineqb each (GFNI,
 *   chosen at start when the CPU has it).
 * vlut_mad_pad: xpad[k] = x[k] for k < K, 0 for K <= k < xs (xs a multiple
 *   of 64, xpad 64-byte aligned); returns the sum of x[0..K). With xpad
 *   NULL, only the sum (xs = K). */
void vlut_lut_gather_ref(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg);
void vlut_lut_store_ref(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy);
void vlut_lut_gather_avx2(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg);
void vlut_lut_store_avx2(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy);
void vlut_lut_gather_avx512(const int8_t *x, int64_t K, int nt, int64_t k0, int kt, int16_t *xg);
void vlut_lut_store_avx512(const int32_t *acc, int64_t rows, int nt, int32_t *y, int64_t ldy);
void vlut_lut_tables_ref(const int16_t *xg, int kt, int16_t *tables);
#define VLUT_LOAD16 1  /* start from acc16 */
#define VLUT_FLUSH 2   /* end: widen into acc32 (else store acc16) */
#define VLUT_FIRST32 4 /* with VLUT_FLUSH: acc32 = s instead of += s */
void vlut_lut_tile_ref(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                       const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags);
void vlut_mad_rows_ref(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                       const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                       int32_t *y, int64_t y_stride);
int32_t vlut_mad_pad_ref(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad);
void vlut_mad_panels_ref(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                         const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                         int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
void vlut_mad_panels_avx2(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
void vlut_mad_panels_avx512(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                            const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                            int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
void vlut_mad_panels_gfni(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
/* AMX (vlut_amx.c): vlut_mad_panels_amx runs the tiles at any n; the
 * table's entry, vlut_mad_panels_amx_wide, sends batches narrower than
 * VLUT_AMX_MIN_TOKENS to vlut_mad_panels_gfni instead (a B tile unpacked
 * for fewer tokens does not pay for itself; see vlut_amx.c). Only for a
 * thread of a process that kern_amx_usable() said yes to. */
#define VLUT_AMX_MIN_TOKENS 16
void vlut_mad_panels_amx(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                         const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                         int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
void vlut_mad_panels_amx_wide(const uint8_t *panels, int64_t nkb, int64_t m0, int64_t m1,
                              const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                              int32_t *y, int64_t y_stride, const struct vlut_epilogue *ep);
int32_t vlut_mad_pad_avx2(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad);
int32_t vlut_mad_pad_avx512(const int8_t *x, int64_t K, int64_t xs, int8_t *xpad);
void vlut_lut_tables_avx2(const int16_t *xg, int kt, int16_t *tables);
void vlut_lut_tile_avx2(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                        const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags);
void vlut_mad_rows_avx2(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                        const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                        int32_t *y, int64_t y_stride);
void vlut_lut_tables_avx512(const int16_t *xg, int kt, int16_t *tables);
void vlut_lut_tile_avx512(const uint8_t *codes, int64_t code_stride, int64_t rows, int kt,
                          const int16_t *tables, int16_t *acc16, int32_t *acc32, int flags);
void vlut_mad_rows_avx512(const uint8_t *codes, int64_t code_stride, int64_t nblocks, int64_t rows,
                          const int8_t *xpad, int64_t x_stride, int64_t n, const int32_t *xsum,
                          int32_t *y, int64_t y_stride);

#endif
