/*
 * Augmentation in the DCT domain: crop boxes (RandomResizedCrop, eval resize +
 * centre crop), and any pixel box of a component resized onto the output
 * block grid, computed from the coefficients without an inverse DCT.
 *
 * The definition (what a pixel-domain reference computes): each component's
 * plane, at its own resolution, is resized with Pillow's BILINEAR filter
 * (triangle, support 1 scaled by the reduction factor when downscaling, taps
 * clipped to the plane and renormalised) from the box, mapped into the
 * component's coordinates (box * samp / max_samp), onto out_h*8 x out_w*8
 * pixels; then the 8x8 orthonormal DCT of every output block. That whole map
 * is linear and separable, so per axis it is one banded matrix from source
 * coefficients (block b, frequency k) to output coefficients (block o,
 * frequency j):
 *
 *     T[o, j; b, k] = sum_p C[j][p] * sum_q R[8o + p, 8b + q] * C[k][q]
 *
 * (R: the 1-D resize weights, C: the 8-point DCT-II). Only the rows j the mask
 * needs are built and applied: out = Tv X Th^T on the dequantised coefficient
 * grid X. No frequency is dropped, so the result equals the reference up to
 * float rounding. A horizontal flip mirrors the output block columns and
 * negates odd horizontal frequencies (exact).
 */
#include "fl_core.h"
#include "fl_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- random crop boxes ---------------------------------------------- */

int fl_random_resized_crop(uint64_t key, int height, int width, const fl_transform *t,
                           fl_box *box) {
  uint64_t s = key;
  const double area = (double)height * width;
  const double lr0 = log(t->ratio_min), lr1 = log(t->ratio_max);
  int attempt, flip;
  for (attempt = 0; attempt < 10; attempt++) {
    double target = area * (t->scale_min + (t->scale_max - t->scale_min) * fl_uniform(&s));
    double aspect = exp(lr0 + (lr1 - lr0) * fl_uniform(&s));
    double w = nearbyint(sqrt(target * aspect)); /* Python's round(): half to even */
    double h = nearbyint(sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      box->top = floor(fl_uniform(&s) * (height - h + 1));
      box->left = floor(fl_uniform(&s) * (width - w + 1));
      box->height = h;
      box->width = w;
      goto done;
    }
  }
  { /* torchvision's fallback: the whole image, clamped to the ratio range, centred */
    double in_ratio = (double)width / height, w = width, h = height;
    if (in_ratio < t->ratio_min)
      h = nearbyint(w / t->ratio_min);
    else if (in_ratio > t->ratio_max)
      w = nearbyint(h * t->ratio_max);
    box->height = h;
    box->width = w;
    box->top = floor((height - h) / 2);
    box->left = floor((width - w) / 2);
  }
done:
  flip = fl_uniform(&s) < t->flip_p;
  return flip;
}

void fl_eval_box(int height, int width, int out_h, int out_w, double crop_ratio, fl_box *box) {
  const double side = 8.0 * (out_h > out_w ? out_h : out_w) / crop_ratio;
  const double f = side / (height < width ? height : width); /* resize factor */
  box->height = 8.0 * out_h / f;
  box->width = 8.0 * out_w / f;
  box->top = (height - box->height) / 2;
  box->left = (width - box->width) / 2;
}

/* ---- the per-axis operator ------------------------------------------ */

#define FL_TAPS_MAX 4096

/* Pillow's BILINEAR taps of output pixel i: first source pixel and weights. */
typedef struct {
  double start, scale, support, ss;
  int n;
} taps_geom;

/* n_px source pixels (start, length) onto out_blocks * 8 output pixels */
static void taps_init(taps_geom *g, int n_px, int out_blocks, double start, double length) {
  g->scale = length / (out_blocks * 8);
  g->support = g->scale > 1.0 ? g->scale : 1.0;
  g->ss = 1.0 / g->support;
  g->start = start;
  g->n = n_px;
}

/* most taps one output pixel has */
static int taps_cap(const taps_geom *g) {
  int wcap = (int)ceil(2 * g->support) + 2;
  return wcap > FL_TAPS_MAX ? FL_TAPS_MAX : wcap;
}

/* Output pixel i reads source pixels [*lo, *lo + return). */
static int tap_span(const taps_geom *g, int i, int wcap, int *lo_out, double *centre_out) {
  const double centre = g->start + (i + 0.5) * g->scale;
  int lo = (int)(centre - g->support + 0.5), hi = (int)(centre + g->support + 0.5);
  if (lo < 0) lo = 0;
  if (hi > g->n) hi = g->n;
  if (hi <= lo) { /* the pixel's centre lies off the plane: take its nearest edge */
    lo = centre < 0 ? 0 : g->n - 1;
    hi = lo + 1;
  }
  *lo_out = lo;
  *centre_out = centre;
  return hi - lo > wcap ? wcap : hi - lo;
}

/* inlined into build_axis, so its divisions take the AVX2 clone's 4-wide ones there (each
 * still the one IEEE-rounded quotient) */
static inline __attribute__((always_inline)) int pixel_taps(const taps_geom *g, int i, int *xmin,
                                                            double *w, int wcap) {
  double centre, sum = 0;
  int lo, x;
  const int n = tap_span(g, i, wcap, &lo, &centre);
  for (x = 0; x < n; x++) {
    double t = fabs((x + lo - centre + 0.5) * g->ss);
    w[x] = t < 1.0 ? 1.0 - t : 0.0;
    sum += w[x];
  }
  if (sum != 0.0)
    for (x = 0; x < n; x++) w[x] /= sum;
  else
    for (x = 0; x < n; x++) w[x] = 1.0 / n;
  *xmin = lo;
  return n;
}

/* One axis: output block o reads source blocks [b0[o], b0[o] + nb[o]) with the
 * weights w[((o * stride) + t) * lanes + jj], t = 8 * (b - b0[o]) + k (source
 * frequency k), jj < nj (output frequency j[jj]; lanes >= nj, padded with 0).
 * Source block b (lo <= b < hi) feeds output blocks [first[b - lo], last[b - lo]), a
 * run; the same weights by source block: sw[((b - lo) * 8 + k) * sstride + (o -
 * first) * lanes + jj], so one block's contributions to all its outputs are contiguous.
 * An operator holds one of the two (build_axis): the vertical pass reads w, the horizontal
 * pass sw. */
typedef struct {
  int out_blocks, nj, j[8], lanes, stride;
  int lo, hi;
  int *b0, *nb, *first, *last;
  float *w;
  float *sw;
  int sstride;
} axis_op;

/* Bump allocation from the workspace arena (reset per sample). */
struct fl_workspace {
  unsigned char *buf;
  size_t cap, used, want;
  /* outside the arena: the transposed output's first pass, and oriented planes */
  void *tbuf, *obuf;
  size_t tcap, ocap;
  uint16_t oquant[3][64]; /* the oriented planes' quant tables */
};

fl_workspace *fl_workspace_new(void) { return (fl_workspace *)calloc(1, sizeof(fl_workspace)); }

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free(ws->buf);
  free(ws->tbuf);
  free(ws->obuf);
  free(ws);
}

/* *p grown to at least `need` bytes (contents not kept); NULL when out of memory */
static void *grow(void **p, size_t *cap, size_t need) {
  if (need > *cap) {
    void *q = malloc(need);
    if (!q) return NULL;
    free(*p);
    *p = q;
    *cap = need;
  }
  return *p;
}

/* Start a sample: make room for what the last too-small round asked for. */
static int ws_reset(fl_workspace *ws, size_t need) {
  if (need > ws->cap) {
    unsigned char *p = (unsigned char *)malloc(need);
    if (!p) return 0;
    free(ws->buf);
    ws->buf = p;
    ws->cap = need;
  }
  ws->used = 0;
  ws->want = 0;
  return 1;
}

/* NULL once the arena is full; every later call is NULL too (used only grows), and
 * `want` records how much the sample needed so far. */
static void *ws_alloc(fl_workspace *ws, size_t bytes) {
  size_t at = (ws->used + 63) & ~(size_t)63;
  ws->used = at + bytes;
  if (ws->used > ws->want) ws->want = ws->used;
  return ws->used <= ws->cap ? ws->buf + at : NULL;
}

/* four doubles; alignment 8, so any double's address serves */
typedef double v4d __attribute__((vector_size(32), aligned(8)));

/* by_source: build sw (the horizontal pass reads it), else w (the vertical pass reads it);
 * the other stays NULL. */
FL_VECTOR_CLONES
static int build_axis(fl_workspace *ws, int n_px, int out_blocks, double start, double length,
                      unsigned jmask, int by_source, axis_op *op) {
  const double *C = fl_dct_basis(); /* C[8 * k + n]: the DCT-II basis */
  taps_geom g;
  int o, p, x, jj, b, nb_max = 0, wcap;
  double *taps, *row, *acc, Ct[64]; /* Ct[8 * r + k] = C[8 * k + r] */
  int *tlo, *tn;
  const int M = out_blocks * 8;
  taps_init(&g, n_px, out_blocks, start, length);
  for (p = 0; p < 64; p++) Ct[p] = C[8 * (p % 8) + p / 8];
  op->out_blocks = out_blocks;
  op->nj = 0;
  for (jj = 0; jj < 8; jj++)
    if (jmask & (1u << jj)) op->j[op->nj++] = jj;
  op->lanes = op->nj <= 4 ? 4 : 8;
  wcap = taps_cap(&g);
  op->b0 = (int *)ws_alloc(ws, sizeof(int) * out_blocks);
  op->nb = (int *)ws_alloc(ws, sizeof(int) * out_blocks);
  tlo = (int *)ws_alloc(ws, sizeof(int) * M);
  tn = (int *)ws_alloc(ws, sizeof(int) * M);
  taps = (double *)ws_alloc(ws, sizeof(double) * (size_t)M * wcap);
  if (!taps) return 0; /* the arena fills up in order: earlier ones failed too */
  for (p = 0; p < M; p++) tn[p] = pixel_taps(&g, p, &tlo[p], taps + (size_t)p * wcap, wcap);
  op->lo = 1 << 30;
  op->hi = 0;
  for (o = 0; o < out_blocks; o++) {
    int first = 1 << 30, last = 0;
    for (p = 8 * o; p < 8 * o + 8; p++) {
      if (tlo[p] < first) first = tlo[p];
      if (tlo[p] + tn[p] > last) last = tlo[p] + tn[p];
    }
    op->b0[o] = first / 8;
    op->nb[o] = (last + 7) / 8 - first / 8;
    if (op->nb[o] > nb_max) nb_max = op->nb[o];
    if (op->b0[o] < op->lo) op->lo = op->b0[o];
    if (op->b0[o] + op->nb[o] > op->hi) op->hi = op->b0[o] + op->nb[o];
  }
  op->stride = 8 * nb_max;
  op->first = (int *)ws_alloc(ws, sizeof(int) * (op->hi - op->lo));
  op->last = (int *)ws_alloc(ws, sizeof(int) * (op->hi - op->lo));
  op->w = by_source ? NULL
                   : (float *)ws_alloc(ws, sizeof(float) * (size_t)out_blocks * op->stride *
                                               op->lanes);
  row = (double *)ws_alloc(ws, sizeof(double) * 8 * op->stride);
  acc = (double *)ws_alloc(ws, sizeof(double) * op->stride);
  if (!acc) return 0;
  for (b = 0; b < op->hi - op->lo; b++) {
    op->first[b] = out_blocks;
    op->last[b] = 0;
  }
  for (o = 0; o < out_blocks; o++)
    for (b = op->b0[o]; b < op->b0[o] + op->nb[o]; b++) {
      if (o < op->first[b - op->lo]) op->first[b - op->lo] = o;
      if (o + 1 > op->last[b - op->lo]) op->last[b - op->lo] = o + 1;
    }
  {
    int fed = 1;
    for (b = 0; b < op->hi - op->lo; b++)
      if (op->last[b] - op->first[b] > fed) fed = op->last[b] - op->first[b];
    op->sstride = (fed * op->lanes + 7) / 8 * 8;
  }
  op->sw = NULL;
  if (by_source) {
    op->sw = (float *)ws_alloc(ws, sizeof(float) * (size_t)(op->hi - op->lo) * 8 * op->sstride);
    if (!op->sw) return 0;
    memset(op->sw, 0, sizeof(float) * (size_t)(op->hi - op->lo) * 8 * op->sstride);
  } else if (!op->w) {
    return 0;
  }
  for (o = 0; o < out_blocks; o++) {
    const int base = 8 * op->b0[o], span = 8 * op->nb[o];
    float *dst = by_source ? NULL : op->w + (size_t)o * op->stride * op->lanes;
    int t;
    /* row[p][t]: output pixel 8o+p against source coefficient t = 8(b-b0)+k */
    memset(row, 0, sizeof(double) * 8 * op->stride);
    for (p = 0; p < 8; p++) {
      const int q = 8 * o + p;
      const double *w = taps + (size_t)q * wcap;
      for (x = 0; x < tn[q]; x++) {
        const int src = tlo[q] + x - base, k0 = src / 8 * 8, r = src % 8;
        v4d *out = (v4d *)(row + p * op->stride + k0);
        if (w[x] == 0.0) continue;
        out[0] += w[x] * ((const v4d *)(Ct + 8 * r))[0];
        out[1] += w[x] * ((const v4d *)(Ct + 8 * r))[1];
      }
    }
    if (dst) memset(dst, 0, sizeof(float) * op->stride * op->lanes);
    /* acc[t] = sum over p in order of C[j][p] row[p][t], four t at a time (span and
     * stride are multiples of 8; each lane adds in the scalar order) */
    for (jj = 0; jj < op->nj; jj++) {
      const double *c = C + 8 * op->j[jj];
      for (t = 0; t < span; t += 4) {
        v4d a = {0, 0, 0, 0};
        for (p = 0; p < 8; p++) a += c[p] * *(const v4d *)(row + p * op->stride + t);
        *(v4d *)(acc + t) = a;
      }
      if (dst) {
        for (t = 0; t < span; t++) dst[t * op->lanes + jj] = (float)acc[t];
      } else {
        for (t = 0; t < span; t++) {
          const int bl = op->b0[o] + t / 8 - op->lo; /* the source block, frequency t % 8 */
          op->sw[((size_t)bl * 8 + t % 8) * op->sstride +
                 (size_t)(o - op->first[bl]) * op->lanes + jj] = (float)acc[t];
        }
      }
    }
  }
  return 1;
}

/* ---- applying it ------------------------------------------------------ */

typedef float v4f __attribute__((vector_size(16), aligned(4)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* Bit i set where blk[i] != 0. */
static inline uint64_t nonzero_mask(const int16_t *blk) {
#ifdef __SSE2__
  const __m128i zero = _mm_setzero_si128();
  uint64_t zeros = 0;
  int i;
  for (i = 0; i < 4; i++) {
    __m128i a = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(blk + 16 * i)), zero);
    __m128i b = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(blk + 16 * i + 8)), zero);
    zeros |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_packs_epi16(a, b)) << (16 * i);
  }
  return ~zeros;
#else
  uint64_t m = 0;
  int i;
  for (i = 0; i < 64; i++) m |= (uint64_t)(blk[i] != 0) << i;
  return m;
#endif
}

/* h[0..len) += sum over k < kn of vu[k] * wb[k * ss + ..], 8 floats at a time, each float
 * getting its terms in order k (kn a constant where it is inlined). */
static inline __attribute__((always_inline)) void row_terms(float *h, const float *vu,
                                                            const float *wb, size_t ss, int len,
                                                            const int kn) {
  int x, k;
  for (x = 0; x + 8 <= len; x += 8) {
    v8f a = *(const v8f *)(h + x);
    for (k = 0; k < kn; k++) a += vu[k] * *(const v8f *)(wb + k * ss + x);
    *(v8f *)(h + x) = a;
  }
  if (x < len) { /* 4 left: lanes == 4 */
    v4f a = *(const v4f *)(h + x);
    for (k = 0; k < kn; k++) a += vu[k] * *(const v4f *)(wb + k * ss + x);
    *(v4f *)(h + x) = a;
  }
}

/* A block's non-zero rows u (m's bytes) added with their first kn terms. */
static inline __attribute__((always_inline)) void block_terms(uint64_t m, const float *val,
                                                              const float *wb, size_t ss,
                                                              float *h, size_t hstride, int len,
                                                              unsigned char nz[8],
                                                              const int kn) {
  int u;
  for (u = 0; u < 8; u++) {
    if (!((m >> (8 * u)) & 0xffu)) continue;
    nz[u] = 1;
    row_terms(h + (size_t)u * hstride, val + 8 * u, wb, ss, len, kn);
  }
}

/* Pass 1, one source block row. JPEG blocks are mostly zeros, so all-zero
 * blocks and all-zero block rows u are skipped; a row u with a non-zero
 * coefficient adds, to every output block ox it feeds,
 * sum_k value(u, k) * w[ox][8 (bx - b0[ox]) + k] into
 * H[u * hstride + ox * lanes + jj]. H must start at zero. The outputs one block feeds are
 * contiguous in H and in op->sw, so they go 8 floats at a time; each float still gets its
 * terms in order k = 0..7, as a scalar loop would add them, except a row's trailing zero
 * coefficients (k past its last non-zero one), whose terms are skipped: each would add a
 * zero to a sum that starts at +0 and so is never -0, which leaves it as it is (bit for
 * bit). nz[u] is set where row u of some block was added (an H row never set stays zero:
 * packs keep only the mask's frequencies, so their high rows are). */
FL_VECTOR_CLONES
static void horizontal_pass(const axis_op *op, const int16_t *row, const float *qf, float *H,
                            size_t hstride, unsigned char nz[8]) {
  int bx;
  const int lanes = op->lanes;
  const size_t ss = (size_t)op->sstride;
  float val[64];
  for (bx = op->lo; bx < op->hi; bx++) {
    const int16_t *blk = row + (ptrdiff_t)bx * 64;
    const int o0 = op->first[bx - op->lo], o1 = op->last[bx - op->lo];
    const int len = (o1 - o0) * lanes;
    const float *wb = op->sw + (size_t)(bx - op->lo) * 8 * ss;
    float *const h = H + (size_t)o0 * lanes;
    const uint64_t m = nonzero_mask(blk);
    uint64_t cols;
    int i;
    if (!m) continue;
    for (i = 0; i < 64; i++) val[i] = (float)blk[i] * qf[i];
    /* one term count for the block (its widest row), a branch that predicts well */
    cols = m | m >> 32;
    cols |= cols >> 16;
    cols |= cols >> 8;
    if (!(cols & 0xfc)) block_terms(m, val, wb, ss, h, hstride, len, nz, 2);
    else if (!(cols & 0xf0)) block_terms(m, val, wb, ss, h, hstride, len, nz, 4);
    else block_terms(m, val, wb, ss, h, hstride, len, nz, 8);
  }
}

/* Pass 2 for one output block row and frequency: acc[0..len) = sum over i < n of
 * w[i] * H row t[i] (the rows in increasing order: the non-zero terms of the sum over all
 * rows, in that sum's order). */
FL_VECTOR_CLONES
static void vertical_pass(const float *w, const int *t, int n, const float *H, size_t hstride,
                          int len, float *acc) {
  int i, x;
  const int vec = len / 8 * 8;
  /* four columns of vectors at a time: four independent sums, each in order t */
  for (x = 0; x + 32 <= vec; x += 32) {
    v8f a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    for (i = 0; i < n; i++) {
      const float *h = H + (size_t)t[i] * hstride + x;
      a0 += w[i] * *(const v8f *)h;
      a1 += w[i] * *(const v8f *)(h + 8);
      a2 += w[i] * *(const v8f *)(h + 16);
      a3 += w[i] * *(const v8f *)(h + 24);
    }
    memcpy(acc + x, &a0, sizeof a0);
    memcpy(acc + x + 8, &a1, sizeof a1);
    memcpy(acc + x + 16, &a2, sizeof a2);
    memcpy(acc + x + 24, &a3, sizeof a3);
  }
  for (; x < vec; x += 8) {
    v8f a = {0, 0, 0, 0, 0, 0, 0, 0};
    for (i = 0; i < n; i++) a += w[i] * *(const v8f *)(H + (size_t)t[i] * hstride + x);
    memcpy(acc + x, &a, sizeof a);
  }
  for (; x < len; x++) {
    float a = 0;
    for (i = 0; i < n; i++) a += w[i] * H[(size_t)t[i] * hstride + x];
    acc[x] = a;
  }
}

/* Round to nearest (ties to even, the FPU's default mode) and saturate to int16. */
static inline int16_t round_sat(float v) {
  v = v < -32768.0f ? -32768.0f : (v > 32767.0f ? 32767.0f : v);
#ifdef __SSE2__
  return (int16_t)_mm_cvtss_si32(_mm_set_ss(v));
#else
  return (int16_t)nearbyintf(v);
#endif
}

/* Write one output row of every wanted channel from acc[ox * lanes + jj]:
 * dst[jj] (NULL: not wanted) gets acc's lane jj, negated where neg[jj], mirrored
 * when flip. */
static void write_rows(const float *acc, int lanes, int out_w, int flip, int16_t *const dst16[8],
                       float *const dst32[8], const int neg[8]) {
  int jj, ox = 0;
#ifdef __SSE2__
  if (lanes == 4 && !dst32[0] && !dst32[1] && !dst32[2] && !dst32[3]) {
    const __m128 lo = _mm_set1_ps(-32768.0f), hi = _mm_set1_ps(32767.0f);
    for (; ox + 4 <= out_w; ox += 4) {
      __m128 r0 = _mm_loadu_ps(acc + 4 * ox), r1 = _mm_loadu_ps(acc + 4 * ox + 4);
      __m128 r2 = _mm_loadu_ps(acc + 4 * ox + 8), r3 = _mm_loadu_ps(acc + 4 * ox + 12);
      __m128 c[4];
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3); /* now r_jj = lane jj of 4 columns */
      c[0] = r0;
      c[1] = r1;
      c[2] = r2;
      c[3] = r3;
      for (jj = 0; jj < 4; jj++) {
        __m128 x;
        __m128i q;
        if (!dst16[jj]) continue;
        x = neg[jj] ? _mm_sub_ps(_mm_setzero_ps(), c[jj]) : c[jj];
        x = _mm_min_ps(_mm_max_ps(x, lo), hi);
        q = _mm_cvtps_epi32(x);
        q = _mm_packs_epi32(q, q);
        if (flip) {
          q = _mm_shufflelo_epi16(q, _MM_SHUFFLE(0, 1, 2, 3));
          _mm_storel_epi64((__m128i *)(dst16[jj] + out_w - 4 - ox), q);
        } else {
          _mm_storel_epi64((__m128i *)(dst16[jj] + ox), q);
        }
      }
    }
  }
#endif
  for (jj = 0; jj < lanes; jj++) {
    const float sign = neg[jj] ? -1.0f : 1.0f;
    int x;
    if (dst16[jj])
      for (x = ox; x < out_w; x++)
        dst16[jj][flip ? out_w - 1 - x : x] = round_sat(sign * acc[(size_t)x * lanes + jj]);
    else if (dst32[jj])
      for (x = ox; x < out_w; x++)
        dst32[jj][flip ? out_w - 1 - x : x] = sign * acc[(size_t)x * lanes + jj];
  }
}

static int index_of(const axis_op *op, int j) {
  int jj;
  for (jj = 0; jj < op->nj; jj++)
    if (op->j[jj] == j) return jj;
  return -1;
}

/* One component through its axis operators: the channels sel_k[8u + v] >= 0
 * (the output channel of frequency (u, v)). */
static fl_status resize_component(fl_workspace *ws, const fl_coef_view *v, const axis_op *ov,
                                  const axis_op *oh, int flip, int flip_v, const int sel_k[64],
                                  int out_h, int out_w, int16_t *out16, float *out32) {
  int k, by, u, oy, t;
  float *H, *acc, *wv, qf[64];
  unsigned char *nz; /* nz[t]: H row t has a non-zero term */
  int *tv;
  const size_t hstride = (size_t)out_w * oh->lanes, plane = (size_t)out_h * out_w;
  const size_t hrows = 8 * (size_t)(ov->hi - ov->lo);
  if (ov->hi > v->blocks_h || oh->hi > v->blocks_w) return FL_ERR_ARGUMENT;
  H = (float *)ws_alloc(ws, sizeof(float) * hrows * hstride);
  acc = (float *)ws_alloc(ws, sizeof(float) * hstride);
  wv = (float *)ws_alloc(ws, sizeof(float) * ov->stride);
  tv = (int *)ws_alloc(ws, sizeof(int) * ov->stride);
  if (!tv) return FL_ERR_NOMEM;
  for (k = 0; k < 64; k++) qf[k] = (float)v->quant[k];
  nz = (unsigned char *)ws_alloc(ws, hrows);
  if (!nz) return FL_ERR_NOMEM;
  memset(H, 0, sizeof(float) * hrows * hstride);
  memset(nz, 0, hrows);
  for (by = ov->lo; by < ov->hi; by++)
    horizontal_pass(oh, v->data + (ptrdiff_t)by * v->row_stride, qf,
                    H + (size_t)(by - ov->lo) * 8 * hstride, hstride, nz + 8 * (by - ov->lo));
  for (u = 0; u < 8; u++) {
    const int ju = index_of(ov, u);
    int vv, any = 0;
    for (vv = 0; vv < 8; vv++) any |= sel_k[8 * u + vv] >= 0;
    if (!any) continue;
    for (oy = 0; oy < out_h; oy++) {
      const float *Hrow = H + (size_t)(ov->b0[oy] - ov->lo) * 8 * hstride;
      const unsigned char *nzrow = nz + (size_t)(ov->b0[oy] - ov->lo) * 8;
      const int span = 8 * ov->nb[oy], lanes = ov->lanes;
      const float *wrow = ov->w + (size_t)oy * ov->stride * lanes + ju;
      int n = 0;
      /* the terms left out (a zero weight, or an all-zero H row) would add zeros to sums
       * that start at +0 (so are never -0): leaving them out changes no bit */
      for (t = 0; t < span; t++) {
        const float w = wrow[(size_t)t * lanes];
        wv[n] = w;
        tv[n] = t;
        n += (w != 0.0f) & nzrow[t]; /* nz is 0 or 1 */
      }
      vertical_pass(wv, tv, n, Hrow, hstride, (int)hstride, acc);
      {
        int16_t *d16[8] = {0};
        float *d32[8] = {0};
        int neg[8] = {0};
        const size_t row = (size_t)(flip_v ? out_h - 1 - oy : oy) * out_w;
        for (vv = 0; vv < 8; vv++) {
          const int ch = sel_k[8 * u + vv], jv = index_of(oh, vv);
          if (ch < 0) continue;
          if (out16) d16[jv] = out16 + ch * plane + row;
          else d32[jv] = out32 + ch * plane + row;
          neg[jv] = (flip && (vv & 1)) ^ (flip_v && (u & 1));
        }
        write_rows(acc, oh->lanes, out_w, flip, d16, d32, neg);
      }
    }
  }
  return FL_OK;
}

/* a component's pixel size, as libjpeg's downsampled_height/width */
static int component_pixels(int size, int samp, int max_samp) {
  return (int)(((long long)size * samp + max_samp - 1) / max_samp);
}

/* The source blocks [*first, *end) that build_axis's operator for these arguments spans
 * (its lo and hi). An output pixel's taps start and end at source pixels that never
 * decrease with the pixel (tap_span: the centre grows with i, the support is fixed, the
 * clamps and the cap keep the order), so the first pixel's start and the last one's end
 * bound them all. */
static void block_span(int n_px, int out_blocks, double start, double length, int *first,
                       int *end) {
  taps_geom g;
  double centre;
  int wcap, lo, n;
  taps_init(&g, n_px, out_blocks, start, length);
  wcap = taps_cap(&g);
  tap_span(&g, 0, wcap, &lo, &centre);
  *first = lo / 8;
  n = tap_span(&g, out_blocks * 8 - 1, wcap, &lo, &centre);
  *end = (lo + n + 7) / 8;
}

void fl_resize_region(int num_components, const int *h_samp, const int *v_samp, int width,
                      int height, int out_h, int out_w, const fl_box *box,
                      fl_block_region *region) {
  int c, max_h = 1, max_v = 1;
  for (c = 0; c < num_components; c++) {
    if (h_samp[c] > max_h) max_h = h_samp[c];
    if (v_samp[c] > max_v) max_v = v_samp[c];
  }
  for (c = 0; c < num_components; c++) { /* as fl_resize_channels builds the operators */
    const double fy = (double)v_samp[c] / max_v, fx = (double)h_samp[c] / max_h;
    block_span(component_pixels(height, v_samp[c], max_v), out_h, box->top * fy,
               box->height * fy, &region[c].top, &region[c].bottom);
    block_span(component_pixels(width, h_samp[c], max_h), out_w, box->left * fx,
               box->width * fx, &region[c].left, &region[c].right);
  }
}

/* FL_TRANSPOSE: the resize onto the transposed grid (frequencies (u, v) -> (v, u)) into
 * the workspace, then each channel's plane transposed into the output. */
static fl_status resize_transposed(const fl_coef_view *comps, int num_components, int width,
                                   int height, const fl_box *box, int flags,
                                   const fl_channel_spec *spec, fl_workspace *ws,
                                   int16_t *out16, float *out32, char *message,
                                   size_t message_size) {
  fl_channel_spec t = *spec;
  uint8_t coef[FL_MAX_CHANNELS];
  const size_t plane = (size_t)spec->out_h * spec->out_w, elem = out16 ? 2 : 4;
  void *tmp;
  fl_status st;
  int k, y, x;
  if (spec->count < 0 || spec->count > FL_MAX_CHANNELS) {
    snprintf(message, message_size, "resize: bad arguments");
    return FL_ERR_ARGUMENT;
  }
  for (k = 0; k < spec->count; k++) coef[k] = (uint8_t)(spec->coef[k] % 8 * 8 + spec->coef[k] / 8);
  t.coef = coef;
  t.out_h = spec->out_w;
  t.out_w = spec->out_h;
  tmp = grow(&ws->tbuf, &ws->tcap, plane * elem * (size_t)(spec->count ? spec->count : 1));
  if (!tmp) {
    snprintf(message, message_size, "resize: out of memory");
    return FL_ERR_NOMEM;
  }
  st = fl_resize_channels(comps, num_components, width, height, box, flags & ~FL_TRANSPOSE, &t,
                          ws, out16 ? (int16_t *)tmp : NULL, out32 ? (float *)tmp : NULL,
                          message, message_size);
  if (st != FL_OK) return st;
  for (k = 0; k < spec->count; k++) /* out[k][y][x] = tmp[k][x][y] */
    for (y = 0; y < spec->out_h; y++)
      for (x = 0; x < spec->out_w; x++) {
        const size_t from = k * plane + (size_t)x * spec->out_h + y, to = k * plane +
                            (size_t)y * spec->out_w + x;
        if (out16) out16[to] = ((const int16_t *)tmp)[from];
        else out32[to] = ((const float *)tmp)[from];
      }
  return FL_OK;
}

fl_status fl_resize_channels(const fl_coef_view *comps, int num_components, int width,
                             int height, const fl_box *box, int flags,
                             const fl_channel_spec *spec, fl_workspace *ws, int16_t *out16,
                             float *out32, char *message, size_t message_size) {
  int c, k, max_h = 1, max_v = 1, round;
  const int flip = (flags & FL_MIRROR_H) != 0, flip_v = (flags & FL_MIRROR_V) != 0;
  int sel[3][64];
  unsigned umask[3], vmask[3];
  const size_t plane = (size_t)spec->out_h * spec->out_w;
  if (num_components < 1 || num_components > 3 || spec->out_h < 1 || spec->out_w < 1 ||
      width < 1 || height < 1 || (!out16 == !out32)) {
    snprintf(message, message_size, "resize: bad arguments");
    return FL_ERR_ARGUMENT;
  }
  if (!ws) {
    snprintf(message, message_size, "resize: out of memory");
    return FL_ERR_NOMEM;
  }
  if (!(box->height > 0 && box->width > 0)) {
    snprintf(message, message_size, "resize: the box must have a positive size, got %gx%g",
             box->height, box->width);
    return FL_ERR_ARGUMENT;
  }
  if (flags & FL_TRANSPOSE)
    return resize_transposed(comps, num_components, width, height, box, flags, spec, ws, out16,
                             out32, message, message_size);
  memset(sel, -1, sizeof sel);
  for (k = 0; k < spec->count; k++) {
    if (spec->component[k] > 2 || spec->coef[k] > 63) {
      snprintf(message, message_size, "channel %d is out of range", k);
      return FL_ERR_ARGUMENT;
    }
    if (spec->component[k] >= num_components) { /* greyscale: no chroma */
      if (out16) memset(out16 + k * plane, 0, plane * sizeof(int16_t));
      else memset(out32 + k * plane, 0, plane * sizeof(float));
    } else {
      sel[spec->component[k]][spec->coef[k]] = k;
    }
  }
  for (c = 0; c < num_components; c++) {
    if (comps[c].h_samp > max_h) max_h = comps[c].h_samp;
    if (comps[c].v_samp > max_v) max_v = comps[c].v_samp;
  }
  for (c = 0; c < num_components; c++) { /* the frequencies each component needs */
    umask[c] = vmask[c] = 0;
    for (k = 0; k < 64; k++)
      if (sel[c][k] >= 0) {
        umask[c] |= 1u << (k / 8);
        vmask[c] |= 1u << (k % 8);
      }
  }
  /* Try with the arena as it is; when too small, grow it to what was asked and redo. */
  for (round = 0; round < 8; round++) {
    fl_status st = FL_OK;
    axis_op ov[3], oh[3];
    int owner[3]; /* the component whose operators component c uses */
    if (!ws_reset(ws, ws->want > ws->cap ? ws->want * 2 : 0)) return FL_ERR_NOMEM;
    for (c = 0; c < num_components && st == FL_OK; c++) {
      const fl_coef_view *v = &comps[c];
      int c2;
      owner[c] = c;
      if (!umask[c]) continue;
      for (c2 = 0; c2 < c; c2++) /* same sampling: same operators (built for all of them) */
        if (umask[c2] && comps[c2].h_samp == v->h_samp && comps[c2].v_samp == v->v_samp) {
          owner[c] = owner[c2];
          break;
        }
      if (owner[c] == c) {
        const double fy = (double)v->v_samp / max_v, fx = (double)v->h_samp / max_h;
        const int n_h = component_pixels(height, v->v_samp, max_v);
        const int n_w = component_pixels(width, v->h_samp, max_h);
        unsigned um = 0, vm = 0;
        for (c2 = c; c2 < num_components; c2++)
          if (comps[c2].h_samp == v->h_samp && comps[c2].v_samp == v->v_samp) {
            um |= umask[c2];
            vm |= vmask[c2];
          }
        if (!build_axis(ws, n_h, spec->out_h, box->top * fy, box->height * fy, um, 0, &ov[c]) ||
            !build_axis(ws, n_w, spec->out_w, box->left * fx, box->width * fx, vm, 1, &oh[c])) {
          st = FL_ERR_NOMEM;
          break;
        }
      }
      st = resize_component(ws, v, &ov[owner[c]], &oh[owner[c]], flip, flip_v, sel[c],
                            spec->out_h, spec->out_w, out16, out32);
      if (st == FL_ERR_ARGUMENT) {
        snprintf(message, message_size,
                 "resize: component %d has %dx%d blocks, fewer than its pixels need", c,
                 v->blocks_h, v->blocks_w);
        return st;
      }
    }
    if (st == FL_OK) return FL_OK;
    if (ws->want <= ws->cap) break; /* not a room problem */
  }
  snprintf(message, message_size, "resize: out of memory");
  return FL_ERR_NOMEM;
}

fl_status fl_orient_views(const fl_coef_view *comps, int num_components, int *width,
                          int *height, int orientation, fl_workspace *ws, fl_coef_view *views,
                          char *message, size_t message_size) {
  fl_oriented g;
  fl_plane planes[3];
  size_t total = 0, at = 0;
  int16_t *base;
  int c;
  fl_status st = fl_orient_plan(comps, num_components, *width, *height, orientation, &g,
                                message, message_size);
  if (st != FL_OK) return st;
  for (c = 0; c < num_components; c++) total += (size_t)g.alloc_h[c] * g.alloc_w[c] * 64;
  base = (int16_t *)grow(&ws->obuf, &ws->ocap, total * sizeof(int16_t));
  if (!base) {
    snprintf(message, message_size, "orient: out of memory");
    return FL_ERR_NOMEM;
  }
  for (c = 0; c < num_components; c++) {
    planes[c].data = base + at;
    planes[c].rows = g.alloc_h[c];
    planes[c].cols = g.alloc_w[c];
    planes[c].row_stride = (ptrdiff_t)g.alloc_w[c] * 64;
    at += (size_t)g.alloc_h[c] * g.alloc_w[c] * 64;
  }
  fl_orient_fill(comps, &g, planes, ws->oquant);
  for (c = 0; c < num_components; c++) {
    views[c].data = planes[c].data;
    views[c].row_stride = planes[c].row_stride;
    views[c].blocks_h = g.blocks_h[c];
    views[c].blocks_w = g.blocks_w[c];
    views[c].h_samp = g.h_samp[c];
    views[c].v_samp = g.v_samp[c];
    views[c].quant = ws->oquant[c];
  }
  *width = g.width;
  *height = g.height;
  return FL_OK;
}
