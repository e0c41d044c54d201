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

static double dct_basis(int k, int n) { /* orthonormal 8-point DCT-II */
  double c = (k == 0) ? sqrt(0.125) : 0.5;
  return c * cos((2 * n + 1) * k * M_PI / 16.0);
}

static void build_tables(void) {
  int f, j, u, r, p, i;
  for (r = 0; r < 8; r++) {
    edge_first[r] = (float)dct_basis(r, 0);
    edge_last[r] = (float)dct_basis(r, 7);
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
          pv += dct_basis(u, p) * M[p][0];
          nv += dct_basis(u, p) * M[p][9];
        }
        t->P[j][u] = (float)pv;
        t->N[j][u] = (float)nv;
        for (r = 0; r < 8; r++) {
          double s = 0;
          for (p = 0; p < 8; p++)
            for (i = 0; i < 8; i++) s += dct_basis(u, p) * M[p][i + 1] * dct_basis(r, i);
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

/* acc[h] (8 lanes) += w[r] * m[r * 8 + h] for r = 0..7 in order: the same
 * rounded multiplies and adds per lane as the scalar loop, four lanes at once
 * (no reassociation, no fused multiply-add: freqload/regroup.py repeats it) */
static inline void accumulate_rows(const float *w, const float *m, float *acc) {
#ifdef __SSE2__
  __m128 lo = _mm_loadu_ps(acc), hi = _mm_loadu_ps(acc + 4);
  int r;
  for (r = 0; r < 8; r++) {
    __m128 wr = _mm_set1_ps(w[r]);
    lo = _mm_add_ps(lo, _mm_mul_ps(wr, _mm_loadu_ps(m + r * 8)));
    hi = _mm_add_ps(hi, _mm_mul_ps(wr, _mm_loadu_ps(m + r * 8 + 4)));
  }
  _mm_storeu_ps(acc, lo);
  _mm_storeu_ps(acc + 4, hi);
#else
  int r, h;
  for (h = 0; h < 8; h++) {
    float a = acc[h];
    for (r = 0; r < 8; r++) a += w[r] * m[r * 8 + h];
    acc[h] = a;
  }
#endif
}

static void dequantize_block(const int16_t *blk, const uint16_t *q, float *x) {
  int i;
  for (i = 0; i < 64; i++) x[i] = (float)blk[i] * (float)q[i];
}

/* FL_CHROMA_DCT with fh * fv > 1: see the top of this file. Works one chroma
 * block row at a time: its blocks are dequantised and their vertical edge
 * samples computed once, then reused for the fv luma rows it covers. */
static fl_status write_upsampled(const fl_coef_view *v, const selection *s,
                                 int dequantize, int fh, int fv, const fl_out *out,
                                 int H, int W) {
  const upsample_table *tv = &up_tables[fv - 1];
  const upsample_table *th = &up_tables[fh - 1];
  const int Wc = v->blocks_w, Hc = v->blocks_h;
  int need_u[8] = {0}, us[8], nu = 0;
  float *X, *Sp, *Sn, *T, *TF, *TL;
  float Xo[64];
  int i, u, h, r, oy, ox, cx, cy, jy;

  for (i = 0; i < s->n; i++) need_u[s->coef[i] >> 3] = 1;
  for (u = 0; u < 8; u++)
    if (need_u[u]) us[nu++] = u;

  X = (float *)malloc(sizeof(float) * (size_t)Wc * (64 + 8 + 8 + 64 + 8 + 8));
  if (X == NULL) return FL_ERR_NOMEM;
  Sp = X + (size_t)Wc * 64;  /* per block: last sample row of the block above */
  Sn = Sp + (size_t)Wc * 8;  /* first sample row of the block below */
  T = Sn + (size_t)Wc * 8;   /* vertical pass result, [cx][u][h] */
  TF = T + (size_t)Wc * 64;  /* first / last sample of T along h, [cx][u] */
  TL = TF + (size_t)Wc * 8;

  for (cy = 0; cy * fv < H && cy < Hc; cy++) {
    const int16_t *row = v->data + (ptrdiff_t)cy * v->row_stride;
    for (cx = 0; cx < Wc; cx++) {
      float *x = X + (size_t)cx * 64;
      dequantize_block(row + (ptrdiff_t)cx * 64, v->quant, x);
      if (fv > 1) {
        const float *ep = edge_last, *en = edge_first, *Xp = x, *Xn = x;
        float *sp = Sp + (size_t)cx * 8, *sn = Sn + (size_t)cx * 8;
        if (cy > 0) {
          dequantize_block(row - v->row_stride + (ptrdiff_t)cx * 64, v->quant, Xo);
          Xp = Xo;
        } else {
          ep = edge_first; /* replicate: x[-1] = x[0] */
        }
        for (h = 0; h < 8; h++) sp[h] = 0;
        accumulate_rows(ep, Xp, sp);
        if (cy < Hc - 1) {
          dequantize_block(row + v->row_stride + (ptrdiff_t)cx * 64, v->quant, Xo);
          Xn = Xo;
        } else {
          en = edge_last; /* replicate: x[8] = x[7] */
        }
        for (h = 0; h < 8; h++) sn[h] = 0;
        accumulate_rows(en, Xn, sn);
      }
    }
    for (jy = 0; jy < fv && (oy = cy * fv + jy) < H; jy++) {
      /* vertical pass: T[cx][u][h] for the needed output rows u */
      for (cx = 0; cx < Wc; cx++) {
        const float *x = X + (size_t)cx * 64;
        float *t = T + (size_t)cx * 64;
        if (fv == 1) {
          for (i = 0; i < nu; i++) memcpy(t + us[i] * 8, x + us[i] * 8, 8 * sizeof(float));
          continue;
        }
        for (i = 0; i < nu; i++) {
          const float *Arow = tv->A[jy][us[i]];
          const float pw = tv->P[jy][us[i]], nw = tv->N[jy][us[i]];
          const float *sp = Sp + (size_t)cx * 8, *sn = Sn + (size_t)cx * 8;
          float *dst = t + us[i] * 8;
          for (h = 0; h < 8; h++) dst[h] = pw * sp[h] + nw * sn[h];
          accumulate_rows(Arow, x, dst);
        }
      }
      /* horizontal pass */
      if (fh > 1) {
        for (cx = 0; cx < Wc; cx++) {
          for (i = 0; i < nu; i++) {
            const float *t = T + (size_t)cx * 64 + us[i] * 8;
            float a = 0, b = 0;
            for (h = 0; h < 8; h++) {
              a += edge_first[h] * t[h];
              b += edge_last[h] * t[h];
            }
            TF[(size_t)cx * 8 + us[i]] = a;
            TL[(size_t)cx * 8 + us[i]] = b;
          }
        }
      }
      for (i = 0; i < s->n; i++) {
        const int k = s->coef[i], uu = k >> 3, w = k & 7;
        const float qk = (float)v->quant[k];
        int16_t *dst = out->data + (ptrdiff_t)s->plane[i] * out->plane_stride +
                       (ptrdiff_t)oy * out->row_stride;
        int ccx = 0, jx = 0; /* ox / fh (clamped to the grid) and ox % fh, kept incrementally */
        for (ox = 0; ox < W; ox++) {
          const float *t = T + (size_t)ccx * 64 + uu * 8;
          float val;
          if (fh == 1) {
            val = t[w];
          } else {
            float left = ccx > 0 ? TL[(size_t)(ccx - 1) * 8 + uu] : TF[(size_t)ccx * 8 + uu];
            float right = ccx < Wc - 1 ? TF[(size_t)(ccx + 1) * 8 + uu] : TL[(size_t)ccx * 8 + uu];
            const float *Arow = th->A[jx][w];
            val = th->P[jx][w] * left + th->N[jx][w] * right;
            for (h = 0; h < 8; h++) val += Arow[h] * t[h];
          }
          if (!dequantize) val /= qk;
          dst[ox] = saturate_round(val);
          if (++jx == fh) {
            jx = 0;
            if (ccx < Wc - 1) ccx++;
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
  free(X);
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
