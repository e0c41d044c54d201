/*
 * Regroup component coefficients into the (H8, W8, 192) channel grid,
 * channels first, writing only the selected channels.
 *
 * Chroma alignment (a component sampled f_h x f_v times more coarsely than
 * luma; f = luma sampling factor / component sampling factor, 1..4):
 *
 *  FL_CHROMA_NEAREST: block replication; luma block (y, x) takes chroma
 *    block (y / f_v, x / f_h) as it is.
 *
 *  FL_CHROMA_DCT: the exact 8x8 DCT of the chroma plane upsampled f_h x f_v
 *    in pixels with a separable linear-interpolation filter between sample
 *    centres, edges replicated at the component's block-grid border. In one
 *    dimension, upsampled sample p sits at t = (p + 1/2) / f - 1/2 in chroma
 *    samples and is (1 - a) x[floor t] + a x[floor t + 1], a = t - floor t.
 *    For f = 2 this is libjpeg's "fancy" triangle filter (3/4, 1/4). It is
 *    computed in the DCT domain: each output coefficient is a linear map of
 *    its chroma block plus the edge sample of each neighbour (an 8-point
 *    inverse DCT of one row or column), so no pixels are ever formed. Values
 *    are rounded to nearest; without dequantisation they are divided back by
 *    the component's quant table (output in quantisation steps).
 */
#include "fl_core.h"
#include "fl_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_FACTOR 4

/* up[f-1]: A[j][u][r] (output block j of f, output freq u, input freq r),
 * P[j][u] / N[j][u]: weights of the previous / next block's edge sample. */
typedef struct {
  float A[MAX_FACTOR][8][8];
  float P[MAX_FACTOR][8];
  float N[MAX_FACTOR][8];
} upsample_table;

static upsample_table up_tables[MAX_FACTOR];
static float edge_first[8]; /* sample 0 of a block from its coefficients */
static float edge_last[8];  /* sample 7 */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
  const double *C = fl_dct_basis(); /* C[8 * k + n] */
  int f, j, u, r, p, i;
  for (r = 0; r < 8; r++) {
    edge_first[r] = (float)C[8 * r];
    edge_last[r] = (float)C[8 * r + 7];
  }
  for (f = 1; f <= MAX_FACTOR; f++) {
    upsample_table *t = &up_tables[f - 1];
    for (j = 0; j < f; j++) {
      /* M[p][i]: output sample p of block j from extended input i
       * (i = 0: previous block's last sample, 1..8: x[0..7], 9: next's first) */
      double M[8][10];
      memset(M, 0, sizeof M);
      for (p = 0; p < 8; p++) {
        double pos = (8.0 * j + p + 0.5) / f - 0.5;
        int i0 = (int)floor(pos);
        double a = pos - i0;
        M[p][i0 + 1] += 1.0 - a;
        if (a > 0) M[p][i0 + 2] += a;
      }
      for (u = 0; u < 8; u++) {
        double pv = 0, nv = 0;
        for (p = 0; p < 8; p++) {
          pv += C[8 * u + p] * M[p][0];
          nv += C[8 * u + p] * M[p][9];
        }
        t->P[j][u] = (float)pv;
        t->N[j][u] = (float)nv;
        for (r = 0; r < 8; r++) {
          double s = 0;
          for (p = 0; p < 8; p++)
            for (i = 0; i < 8; i++) s += C[8 * u + p] * M[p][i + 1] * C[8 * r + i];
          t->A[j][u][r] = (float)s;
        }
      }
    }
  }
}

static inline int16_t saturate_int(int v) {
  return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

static inline int16_t saturate_round(float v) {
  float r = v >= 0.0f ? v + 0.5f : v - 0.5f;
  if (r >= 32767.0f) return 32767;
  if (r <= -32768.0f) return -32768;
  return (int16_t)r;
}

/* the selected channels of one component */
typedef struct {
  int n;
  int coef[64];  /* raster index 8*u + w */
  int plane[64]; /* output channel */
} selection;

/* Luma, full-resolution chroma, and FL_CHROMA_NEAREST: block (y / fv, x / fh). */
#ifdef __SSE2__
/* Eight blocks at a time: the selected coefficients that fall in the 4-int16
 * window [k0, k0 + 3] of each block are loaded as one 64-bit word per block,
 * transposed into one vector per coefficient (8 blocks side by side),
 * multiplied by the quant step in 32 bits and packed back with int16
 * saturation: the same values as saturate_int(coef * scale). Needs every scale
 * to fit int16 (8-bit baseline tables always do). */
static int write_window_sse2(const int16_t *row, int k0, const int *lane, const int *scale,
                             int16_t *const *dst, int nsel, int W) {
  __m128i sv[4];
  int ox, j;
  for (j = 0; j < nsel; j++) sv[j] = _mm_set1_epi16((short)scale[j]);
  for (ox = 0; ox + 8 <= W; ox += 8) {
    const int16_t *b = row + (ptrdiff_t)ox * 64 + k0;
    __m128i r0 = _mm_loadl_epi64((const __m128i *)(b + 0 * 64));
    __m128i r1 = _mm_loadl_epi64((const __m128i *)(b + 1 * 64));
    __m128i r2 = _mm_loadl_epi64((const __m128i *)(b + 2 * 64));
    __m128i r3 = _mm_loadl_epi64((const __m128i *)(b + 3 * 64));
    __m128i r4 = _mm_loadl_epi64((const __m128i *)(b + 4 * 64));
    __m128i r5 = _mm_loadl_epi64((const __m128i *)(b + 5 * 64));
    __m128i r6 = _mm_loadl_epi64((const __m128i *)(b + 6 * 64));
    __m128i r7 = _mm_loadl_epi64((const __m128i *)(b + 7 * 64));
    __m128i t0 = _mm_unpacklo_epi16(r0, r1), t1 = _mm_unpacklo_epi16(r2, r3);
    __m128i t2 = _mm_unpacklo_epi16(r4, r5), t3 = _mm_unpacklo_epi16(r6, r7);
    __m128i u0 = _mm_unpacklo_epi32(t0, t1), u1 = _mm_unpackhi_epi32(t0, t1);
    __m128i u2 = _mm_unpacklo_epi32(t2, t3), u3 = _mm_unpackhi_epi32(t2, t3);
    __m128i v[4];
    v[0] = _mm_unpacklo_epi64(u0, u2);
    v[1] = _mm_unpackhi_epi64(u0, u2);
    v[2] = _mm_unpacklo_epi64(u1, u3);
    v[3] = _mm_unpackhi_epi64(u1, u3);
    for (j = 0; j < nsel; j++) {
      __m128i x = v[lane[j]];
      __m128i lo = _mm_mullo_epi16(x, sv[j]), hi = _mm_mulhi_epi16(x, sv[j]);
      __m128i p = _mm_packs_epi32(_mm_unpacklo_epi16(lo, hi), _mm_unpackhi_epi16(lo, hi));
      _mm_storeu_si128((__m128i *)(dst[j] + ox), p);
    }
  }
  return ox;
}
#endif

/* Luma, full-resolution chroma, and FL_CHROMA_NEAREST: block (y / fv, x / fh). */
static void write_replicated(const fl_coef_view *v, const selection *s,
                             int dequantize, int fh, int fv, const fl_out *out,
                             int H, int W) {
  int i, oy, ox;
  int done[64] = {0};
#ifdef __SSE2__
  /* groups of selected coefficients within one 4-int16 window of the block */
  if (fh == 1 && W <= v->blocks_w) {
    for (i = 0; i < s->n; i++) {
      int k0 = s->coef[i] <= 60 ? s->coef[i] : 60, lane[4], scale[4], plane[4], nsel = 0, j;
      int16_t *dst[4];
      if (done[i]) continue;
      for (j = i; j < s->n && nsel < 4; j++) {
        int k = s->coef[j];
        int sc = dequantize ? v->quant[k] : 1;
        if (done[j] || k < k0 || k > k0 + 3 || sc > 32767) continue;
        lane[nsel] = k - k0;
        scale[nsel] = sc;
        plane[nsel] = s->plane[j];
        done[j] = 1;
        nsel++;
      }
      if (nsel == 0) continue; /* scale too large: the scalar loop below */
      for (oy = 0; oy < H; oy++) {
        int cy = oy / fv < v->blocks_h ? oy / fv : v->blocks_h - 1;
        const int16_t *row = v->data + (ptrdiff_t)cy * v->row_stride;
        for (j = 0; j < nsel; j++)
          dst[j] = out->data + (ptrdiff_t)plane[j] * out->plane_stride +
                   (ptrdiff_t)oy * out->row_stride;
        ox = write_window_sse2(row, k0, lane, scale, dst, nsel, W);
        for (; ox < W; ox++)
          for (j = 0; j < nsel; j++)
            dst[j][ox] = saturate_int(row[(ptrdiff_t)ox * 64 + k0 + lane[j]] * scale[j]);
      }
    }
  }
#endif
  /* channel by channel: each output row is written sequentially while the
   * component's blocks (a few hundred kB for a photo) stay in cache */
  for (i = 0; i < s->n; i++) {
    const int k = s->coef[i];
    const int scale = dequantize ? v->quant[k] : 1;
    int16_t *dst_plane = out->data + (ptrdiff_t)s->plane[i] * out->plane_stride;
    if (done[i]) continue;
    for (oy = 0; oy < H; oy++) {
      int cy = oy / fv < v->blocks_h ? oy / fv : v->blocks_h - 1;
      const int16_t *src = v->data + (ptrdiff_t)cy * v->row_stride + k;
      int16_t *dst = dst_plane + (ptrdiff_t)oy * out->row_stride;
      if (fh == 1 && W <= v->blocks_w) {
        for (ox = 0; ox < W; ox++) dst[ox] = saturate_int(src[(ptrdiff_t)ox * 64] * scale);
      } else {
        int cx = 0, jx = 0; /* ox / fh (clamped to the grid), kept incrementally */
        for (ox = 0; ox < W; ox++) {
          dst[ox] = saturate_int(src[(ptrdiff_t)cx * 64] * scale);
          if (++jx == fh) {
            jx = 0;
            if (cx < v->blocks_w - 1) cx++;
          }
        }
      }
    }
  }
}

/* The FL_CHROMA_DCT path below works on one chroma block row at a time, with
 * the blocks of the row side by side: every array is [something][cx], so each
 * step is one loop over cx that the compiler vectorises. Each output value
 * still goes through exactly the operations of the definition, in the same
 * order (lanes are blocks, never terms of one sum), which is what
 * freqload/regroup.py repeats in torch. FL_VECTOR_CLONES: fl_internal.h. */
/* X[k * S + cx] = coefficient k of block cx, dequantised; lanes Wc..S-1 zero */
static void dequantize_row(const int16_t *row, const uint16_t *q, int Wc, int S, float *X) {
  int cx = 0, k;
#ifdef __SSE2__
  /* eight blocks at a time: an 8x8 int16 transpose per eight coefficients */
  for (; cx + 8 <= Wc; cx += 8) {
    const int16_t *b = row + (ptrdiff_t)cx * 64;
    for (k = 0; k < 64; k += 8) {
      __m128i r[8], t[8], u[8], v[8];
      int j;
      for (j = 0; j < 8; j++) r[j] = _mm_loadu_si128((const __m128i *)(b + j * 64 + k));
      for (j = 0; j < 4; j++) {
        t[2 * j] = _mm_unpacklo_epi16(r[2 * j], r[2 * j + 1]);
        t[2 * j + 1] = _mm_unpackhi_epi16(r[2 * j], r[2 * j + 1]);
      }
      for (j = 0; j < 2; j++) {
        u[4 * j + 0] = _mm_unpacklo_epi32(t[4 * j + 0], t[4 * j + 2]);
        u[4 * j + 1] = _mm_unpackhi_epi32(t[4 * j + 0], t[4 * j + 2]);
        u[4 * j + 2] = _mm_unpacklo_epi32(t[4 * j + 1], t[4 * j + 3]);
        u[4 * j + 3] = _mm_unpackhi_epi32(t[4 * j + 1], t[4 * j + 3]);
      }
      for (j = 0; j < 4; j++) {
        v[2 * j] = _mm_unpacklo_epi64(u[j], u[4 + j]);      /* coefficient k + 2j */
        v[2 * j + 1] = _mm_unpackhi_epi64(u[j], u[4 + j]);  /* coefficient k + 2j + 1 */
      }
      for (j = 0; j < 8; j++) {
        const __m128 qk = _mm_set1_ps((float)q[k + j]);
        const __m128i sign = _mm_srai_epi16(v[j], 15);
        const __m128 lo = _mm_cvtepi32_ps(_mm_unpacklo_epi16(v[j], sign));
        const __m128 hi = _mm_cvtepi32_ps(_mm_unpackhi_epi16(v[j], sign));
        float *x = X + (size_t)(k + j) * S + cx;
        _mm_storeu_ps(x, _mm_mul_ps(lo, qk));
        _mm_storeu_ps(x + 4, _mm_mul_ps(hi, qk));
      }
    }
  }
#endif
  for (; cx < Wc; cx++) {
    const int16_t *b = row + (ptrdiff_t)cx * 64;
    for (k = 0; k < 64; k++) X[(size_t)k * S + cx] = (float)b[k] * (float)q[k];
  }
  for (; cx < S; cx++) /* padding lanes: zeros, so every later step may run over all S */
    for (k = 0; k < 64; k++) X[(size_t)k * S + cx] = 0.0f;
}

/* E[h * S + cx] = sum_r w[r] * X[(8r + h) * S + cx], summed from zero in r order:
 * sample row 0 (w = edge_first) or 7 (edge_last) of each block, per column h */
FL_VECTOR_CLONES
static void edge_rows(const float *w, const float *X, int n, int S, float *E) {
  int r, h, cx;
  for (h = 0; h < 8; h++) {
    float *e = E + (size_t)h * S;
    for (cx = 0; cx < n; cx++) e[cx] = 0.0f;
    for (r = 0; r < 8; r++) {
      const float *x = X + (size_t)(8 * r + h) * S;
      const float wr = w[r];
      for (cx = 0; cx < n; cx++) e[cx] = e[cx] + wr * x[cx];
    }
  }
}

/* E[cx] = sum_h w[h] * T[h * S + cx], summed from zero in h order: sample 0
 * (w = edge_first) or 7 (edge_last) of one output row of each block */
FL_VECTOR_CLONES
static void edge_rows_1(const float *w, const float *T, int n, int S, float *E) {
  int h, cx;
  for (cx = 0; cx < n; cx++) E[cx] = 0.0f;
  for (h = 0; h < 8; h++) {
    const float *t = T + (size_t)h * S;
    const float wh = w[h];
    for (cx = 0; cx < n; cx++) E[cx] = E[cx] + wh * t[cx];
  }
}

/* Vertical pass for output row u of block row jy:
 * T[h][cx] = pw Sp[h][cx] + nw Sn[h][cx] + sum_r A[r] X[8r + h][cx] (r in order) */
FL_VECTOR_CLONES
static void vertical_rows(const float *A, float pw, float nw, const float *Sp, const float *Sn,
                          const float *X, int n, int S, float *T) {
  int r, h, cx;
  for (h = 0; h < 8; h++) {
    float *t = T + (size_t)h * S;
    const float *sp = Sp + (size_t)h * S, *sn = Sn + (size_t)h * S;
    for (cx = 0; cx < n; cx++) t[cx] = pw * sp[cx] + nw * sn[cx];
    for (r = 0; r < 8; r++) {
      const float *x = X + (size_t)(8 * r + h) * S;
      const float ar = A[r];
      for (cx = 0; cx < n; cx++) t[cx] = t[cx] + ar * x[cx];
    }
  }
}

/* One output frequency w of every block in the row, rounded to int16:
 * fh == 1: T[w][cx]; else pw left[cx] + nw right[cx] + sum_h A[h] T[h][cx] */
FL_VECTOR_CLONES
static void horizontal_out(const float *A, float pw, float nw, const float *left,
                           const float *right, const float *T, int w, int fh, int n, int S,
                           int divide, float qk, float *val, int16_t *res) {
  int h, cx;
  if (fh == 1) {
    for (cx = 0; cx < n; cx++) val[cx] = T[(size_t)w * S + cx];
  } else {
    for (cx = 0; cx < n; cx++) val[cx] = pw * left[cx] + nw * right[cx];
    for (h = 0; h < 8; h++) {
      const float *t = T + (size_t)h * S;
      const float ah = A[h];
      for (cx = 0; cx < n; cx++) val[cx] = val[cx] + ah * t[cx];
    }
  }
  if (divide)
    for (cx = 0; cx < n; cx++) val[cx] = val[cx] / qk;
  cx = 0;
#ifdef __SSE2__
  { /* saturate_round, four at a time: v + copysign(0.5, v) is v + 0.5 or v - 0.5 (for
       v = -0 both truncate to 0), clamped, truncated */
    const __m128 sign = _mm_set1_ps(-0.0f), half = _mm_set1_ps(0.5f);
    const __m128 top = _mm_set1_ps(32767.0f), bottom = _mm_set1_ps(-32768.0f);
    for (; cx + 8 <= n; cx += 8) {
      __m128 a = _mm_loadu_ps(val + cx), b = _mm_loadu_ps(val + cx + 4);
      a = _mm_add_ps(a, _mm_or_ps(_mm_and_ps(a, sign), half));
      b = _mm_add_ps(b, _mm_or_ps(_mm_and_ps(b, sign), half));
      a = _mm_min_ps(_mm_max_ps(a, bottom), top);
      b = _mm_min_ps(_mm_max_ps(b, bottom), top);
      _mm_storeu_si128((__m128i *)(res + cx),
                       _mm_packs_epi32(_mm_cvttps_epi32(a), _mm_cvttps_epi32(b)));
    }
  }
#endif
  for (; cx < n; cx++) res[cx] = saturate_round(val[cx]);
}

/* FL_CHROMA_DCT with fh * fv > 1: see the top of this file. One chroma block
 * row at a time, dequantised once; the edge sample rows a block gives its
 * neighbours above and below are computed once per block. Every step runs
 * over S (a multiple of 8) lanes; lanes past Wc hold zeros and are never
 * written out. */
static fl_status write_upsampled(const fl_coef_view *v, const selection *s,
                                 int dequantize, int fh, int fv, const fl_out *out,
                                 int H, int W) {
  const upsample_table *tv = &up_tables[fv - 1];
  const upsample_table *th = &up_tables[fh - 1];
  const int Wc = v->blocks_w, Hc = v->blocks_h;
  const int S = (Wc + 7) & ~7; /* row stride of every [.][cx] array */
  int need_u[8] = {0}, ui[8], us[8], nu = 0;
  float *buf, *Xrow[2], *F[3], *L[3], *T, *TF, *TL, *left, *right, *val;
  int16_t *res;
  int i, u, oy, ox, cy, jy, jx;

  for (i = 0; i < s->n; i++) need_u[s->coef[i] >> 3] = 1;
  for (u = 0; u < 8; u++)
    if (need_u[u]) {
      ui[u] = nu;
      us[nu++] = u;
    }

  /* X: 2 rows x 64; F, L: 3 rows x 8; T: nu x 8; TF, TL, left, right: 8 each; val: 1 */
  buf = (float *)malloc(sizeof(float) * (size_t)S * (2 * 64 + 6 * 8 + 8 * nu + 4 * 8 + 1) +
                        sizeof(int16_t) * (size_t)S * MAX_FACTOR);
  if (buf == NULL) return FL_ERR_NOMEM;
  Xrow[0] = buf;
  Xrow[1] = Xrow[0] + (size_t)64 * S;
  for (i = 0; i < 3; i++) {
    F[i] = Xrow[1] + (size_t)64 * S + (size_t)16 * S * i; /* first sample row of each block */
    L[i] = F[i] + (size_t)8 * S;                          /* last sample row */
  }
  T = F[2] + (size_t)16 * S; /* [ui][h][cx] */
  TF = T + (size_t)8 * nu * S; /* [ui][cx]: first / last sample of T along h */
  TL = TF + (size_t)8 * S;
  left = TL + (size_t)8 * S;   /* [ui][cx]: the left / right neighbour's edge sample */
  right = left + (size_t)8 * S;
  val = right + (size_t)8 * S;
  res = (int16_t *)(val + S); /* [jx][cx] */

  if (Hc > 0 && H > 0) {
    dequantize_row(v->data, v->quant, Wc, S, Xrow[0]);
    if (fv > 1) {
      edge_rows(edge_first, Xrow[0], S, S, F[0]);
      edge_rows(edge_last, Xrow[0], S, S, L[0]);
    }
  }
  for (cy = 0; cy * fv < H && cy < Hc; cy++) {
    /* rows cy - 1, cy, cy + 1 of the edges live in slots (cy + 2) % 3, cy % 3, (cy + 1) % 3 */
    const float *X = Xrow[cy & 1];
    const float *Sp = NULL, *Sn = NULL;
    if (cy + 1 < Hc && (fv > 1 || (cy + 1) * fv < H)) {
      float *Xn = Xrow[(cy + 1) & 1];
      dequantize_row(v->data + (ptrdiff_t)(cy + 1) * v->row_stride, v->quant, Wc, S, Xn);
      if (fv > 1) {
        edge_rows(edge_first, Xn, S, S, F[(cy + 1) % 3]);
        edge_rows(edge_last, Xn, S, S, L[(cy + 1) % 3]);
      }
    }
    if (fv > 1) {
      Sp = cy > 0 ? L[(cy + 2) % 3] : F[cy % 3];      /* replicate: x[-1] = x[0] */
      Sn = cy < Hc - 1 ? F[(cy + 1) % 3] : L[cy % 3]; /* replicate: x[8] = x[7] */
    }
    for (jy = 0; jy < fv && (oy = cy * fv + jy) < H; jy++) {
      for (i = 0; i < nu; i++) {
        float *t = T + (size_t)8 * i * S;
        if (fv == 1) {
          memcpy(t, X + (size_t)8 * us[i] * S, sizeof(float) * 8 * (size_t)S);
          continue;
        }
        vertical_rows(tv->A[jy][us[i]], tv->P[jy][us[i]], tv->N[jy][us[i]], Sp, Sn, X, S,
                      S, t);
      }
      if (fh > 1) {
        for (i = 0; i < nu; i++) {
          const float *t = T + (size_t)8 * i * S;
          float *tf = TF + (size_t)i * S, *tl = TL + (size_t)i * S;
          float *lf = left + (size_t)i * S, *rt = right + (size_t)i * S;
          int cx;
          /* the first / last sample of each block along h, and its neighbours' */
          edge_rows_1(edge_first, t, S, S, tf);
          edge_rows_1(edge_last, t, S, S, tl);
          for (cx = 0; cx < Wc; cx++) {
            lf[cx] = cx > 0 ? tl[cx - 1] : tf[0];
            rt[cx] = cx < Wc - 1 ? tf[cx + 1] : tl[Wc - 1];
          }
          for (; cx < S; cx++) lf[cx] = rt[cx] = 0.0f;
        }
      }
      for (i = 0; i < s->n; i++) {
        const int k = s->coef[i], w = k & 7, iu = ui[k >> 3];
        const float *t = T + (size_t)8 * iu * S;
        int16_t *dst = out->data + (ptrdiff_t)s->plane[i] * out->plane_stride +
                       (ptrdiff_t)oy * out->row_stride;
        for (jx = 0; jx < fh; jx++)
          horizontal_out(th->A[jx][w], th->P[jx][w], th->N[jx][w], left + (size_t)iu * S,
                         right + (size_t)iu * S, t, w, fh, S, S, !dequantize,
                         (float)v->quant[k], val, res + (size_t)jx * S);
        if (fh == 1) {
          const int n = W < Wc ? W : Wc;
          memcpy(dst, res, (size_t)n * sizeof(int16_t));
          for (ox = n; ox < W; ox++) dst[ox] = res[Wc - 1];
        } else if (fh == 2) {
          const int n = W < 2 * Wc ? W : 2 * Wc;
          for (ox = 0; ox + 1 < n; ox += 2) {
            dst[ox] = res[ox >> 1];
            dst[ox + 1] = res[S + (ox >> 1)];
          }
          for (; ox < W; ox++) { /* past the chroma grid: its last block, ox % fh */
            const int cx = ox / 2 < Wc ? ox / 2 : Wc - 1;
            dst[ox] = res[(size_t)(ox & 1) * S + cx];
          }
        } else {
          for (ox = 0; ox < W; ox++) {
            const int cx = ox / fh < Wc ? ox / fh : Wc - 1;
            dst[ox] = res[(size_t)(ox % fh) * S + cx];
          }
        }
      }
    }
  }
  /* luma rows beyond the chroma grid (never in a valid JPEG): last chroma row */
  for (oy = Hc * fv; oy < H; oy++)
    for (i = 0; i < s->n; i++) {
      int16_t *p = out->data + (ptrdiff_t)s->plane[i] * out->plane_stride +
                   (ptrdiff_t)oy * out->row_stride;
      memcpy(p, p - out->row_stride, (size_t)W * sizeof(int16_t));
    }
  free(buf);
  return FL_OK;
}

void fl_upsample_tables(int f, float A[4][8][8], float P[4][8], float N[4][8],
                        float first[8], float last[8]) {
  pthread_once(&tables_once, build_tables);
  if (f < 1 || f > MAX_FACTOR) f = 1;
  memcpy(A, up_tables[f - 1].A, sizeof up_tables[f - 1].A);
  memcpy(P, up_tables[f - 1].P, sizeof up_tables[f - 1].P);
  memcpy(N, up_tables[f - 1].N, sizeof up_tables[f - 1].N);
  memcpy(first, edge_first, sizeof edge_first);
  memcpy(last, edge_last, sizeof edge_last);
}

fl_status fl_to_channels(const fl_coef_view *comps, int num_components,
                         const uint8_t *component, const uint8_t *coef,
                         int count, int dequantize, int chroma, const fl_out *out,
                         char *message, size_t message_size) {
  selection sel[3];
  int H, W, c, i, y;
  if (num_components < 1 || num_components > 3 || comps[0].blocks_h < 1 ||
      comps[0].blocks_w < 1) {
    snprintf(message, message_size, "need 1 to 3 components with at least one block");
    return FL_ERR_ARGUMENT;
  }
  if (chroma != FL_CHROMA_DCT && chroma != FL_CHROMA_NEAREST) {
    snprintf(message, message_size, "unknown chroma mode %d", chroma);
    return FL_ERR_ARGUMENT;
  }
  pthread_once(&tables_once, build_tables);
  H = comps[0].blocks_h;
  W = comps[0].blocks_w;
  memset(sel, 0, sizeof sel);
  for (i = 0; i < count; i++) {
    if (component[i] > 2 || coef[i] > 63) {
      snprintf(message, message_size, "channel %d: component %d, coefficient %d out of range",
               i, component[i], coef[i]);
      return FL_ERR_ARGUMENT;
    }
    if (component[i] >= num_components) { /* greyscale: neutral chroma */
      for (y = 0; y < H; y++)
        memset(out->data + (ptrdiff_t)i * out->plane_stride + (ptrdiff_t)y * out->row_stride, 0,
               (size_t)W * sizeof(int16_t));
      continue;
    }
    selection *s = &sel[component[i]];
    if (s->n == 64) {
      snprintf(message, message_size, "channel %d selected twice", component[i] * 64 + coef[i]);
      return FL_ERR_ARGUMENT;
    }
    s->coef[s->n] = coef[i];
    s->plane[s->n] = i;
    s->n++;
  }
  for (c = 0; c < num_components; c++) {
    const fl_coef_view *v = &comps[c];
    int fh, fv;
    fl_status st = FL_OK;
    if (sel[c].n == 0) continue;
    if (v->h_samp < 1 || v->v_samp < 1 || comps[0].h_samp % v->h_samp != 0 ||
        comps[0].v_samp % v->v_samp != 0 || v->blocks_h < 1 || v->blocks_w < 1) {
      snprintf(message, message_size,
               "component %d is sampled %dx%d against luma %dx%d: only whole-number "
               "chroma upsampling factors are supported",
               c, v->h_samp, v->v_samp, comps[0].h_samp, comps[0].v_samp);
      return FL_ERR_UNSUPPORTED;
    }
    fh = comps[0].h_samp / v->h_samp;
    fv = comps[0].v_samp / v->v_samp;
    if (fh > MAX_FACTOR || fv > MAX_FACTOR) {
      snprintf(message, message_size, "chroma upsampling factor %dx%d is over 4", fh, fv);
      return FL_ERR_UNSUPPORTED;
    }
    if (chroma == FL_CHROMA_NEAREST || (fh == 1 && fv == 1))
      write_replicated(v, &sel[c], dequantize, fh, fv, out, H, W);
    else
      st = write_upsampled(v, &sel[c], dequantize, fh, fv, out, H, W);
    if (st != FL_OK) {
      snprintf(message, message_size, "out of memory");
      return st;
    }
  }
  return FL_OK;
}
