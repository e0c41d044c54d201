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

/* ---- random crop boxes ---------------------------------------------- */

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform(uint64_t *state) { /* [0, 1) */
  return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

int fl_random_resized_crop(uint64_t key, int height, int width, const fl_transform *t,
                           fl_box *box) {
  uint64_t s = key;
  const double area = (double)height * width;
  const double lr0 = log(t->ratio_min), lr1 = log(t->ratio_max);
  int attempt, flip;
  for (attempt = 0; attempt < 10; attempt++) {
    double target = area * (t->scale_min + (t->scale_max - t->scale_min) * uniform(&s));
    double aspect = exp(lr0 + (lr1 - lr0) * uniform(&s));
    double w = nearbyint(sqrt(target * aspect)); /* Python's round(): half to even */
    double h = nearbyint(sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      box->top = floor(uniform(&s) * (height - h + 1));
      box->left = floor(uniform(&s) * (width - w + 1));
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
  flip = uniform(&s) < t->flip_p;
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

static double dct_c[8][8]; /* dct_c[k][x]: orthonormal 8-point DCT-II basis */
static int dct_ready;

static void dct_init(void) {
  int k, x;
  if (dct_ready) return;
  for (k = 0; k < 8; k++)
    for (x = 0; x < 8; x++)
      dct_c[k][x] = (k == 0 ? sqrt(1.0 / 8) : sqrt(2.0 / 8)) * cos((2 * x + 1) * k * M_PI / 16);
  dct_ready = 1; /* same values from any thread: a benign race */
}

/* Pillow's BILINEAR taps of output pixel i: first source pixel and weights. */
typedef struct {
  double start, scale, support, ss;
  int n;
} taps_geom;

static int pixel_taps(const taps_geom *g, int i, int *xmin, double *w, int wcap) {
  const double centre = g->start + (i + 0.5) * g->scale;
  int lo = (int)(centre - g->support + 0.5), hi = (int)(centre + g->support + 0.5), x, n;
  double sum = 0;
  if (lo < 0) lo = 0;
  if (hi > g->n) hi = g->n;
  if (hi <= lo) { /* the pixel's centre lies off the plane: take its nearest edge */
    lo = centre < 0 ? 0 : g->n - 1;
    hi = lo + 1;
  }
  n = hi - lo;
  if (n > wcap) n = wcap;
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

/* One axis: for output block o, source blocks [b0[o], b0[o] + nb[o]) and the
 * weights w[(o * nj + jj) * stride + t], t = 8 * (b - b0[o]) + k. */
typedef struct {
  int out_blocks, nj, j[8], stride;
  int lo, hi; /* source blocks touched, overall */
  int *b0, *nb;
  float *w;
} axis_op;

/* Bump allocation from the workspace arena (reset per sample). */
struct fl_workspace {
  unsigned char *buf;
  size_t cap, used, want;
};

fl_workspace *fl_workspace_new(void) { return (fl_workspace *)calloc(1, sizeof(fl_workspace)); }

void fl_workspace_free(fl_workspace *ws) {
  if (!ws) return;
  free(ws->buf);
  free(ws);
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

#define FL_TAPS_MAX 4096

static int build_axis(fl_workspace *ws, int n_px, int out_blocks, double start, double length,
                      unsigned jmask, axis_op *op) {
  taps_geom g;
  int o, p, x, jj, nb_max = 0;
  double *taps = NULL;
  int *tlo = NULL, *tn = NULL;
  const int M = out_blocks * 8;
  g.scale = length / M;
  g.support = g.scale > 1.0 ? g.scale : 1.0;
  g.ss = 1.0 / g.support;
  g.start = start;
  g.n = n_px;
  op->out_blocks = out_blocks;
  op->nj = 0;
  for (jj = 0; jj < 8; jj++)
    if (jmask & (1u << jj)) op->j[op->nj++] = jj;
  {
    int wcap = (int)ceil(2 * g.support) + 2;
    if (wcap > FL_TAPS_MAX) wcap = FL_TAPS_MAX;
    op->b0 = (int *)ws_alloc(ws, sizeof(int) * out_blocks);
    op->nb = (int *)ws_alloc(ws, sizeof(int) * out_blocks);
    tlo = (int *)ws_alloc(ws, sizeof(int) * M);
    tn = (int *)ws_alloc(ws, sizeof(int) * M);
    taps = (double *)ws_alloc(ws, sizeof(double) * (size_t)M * wcap);
    if (!taps) return 0;
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
    op->w = (float *)ws_alloc(ws, sizeof(float) * (size_t)out_blocks * op->nj * op->stride);
    if (!op->w) return 0;
    {
      double *row = (double *)ws_alloc(ws, sizeof(double) * 8 * op->stride);
      if (!row) return 0;
      for (o = 0; o < out_blocks; o++) {
        const int base = 8 * op->b0[o], span = 8 * op->nb[o];
        /* row[p][t]: output pixel 8o+p against source coefficient t = 8(b-b0)+k */
        memset(row, 0, sizeof(double) * 8 * op->stride);
        for (p = 0; p < 8; p++) {
          const int q = 8 * o + p;
          const double *w = taps + (size_t)q * wcap;
          for (x = 0; x < tn[q]; x++) {
            const int src = tlo[q] + x - base, b = src / 8, r = src % 8, k0 = 8 * b;
            int k;
            if (w[x] == 0.0) continue;
            for (k = 0; k < 8; k++) row[p * op->stride + k0 + k] += w[x] * dct_c[k][r];
          }
        }
        for (jj = 0; jj < op->nj; jj++) {
          float *dst = op->w + ((size_t)o * op->nj + jj) * op->stride;
          const double *c = dct_c[op->j[jj]];
          int t;
          for (t = 0; t < span; t++) {
            double acc = 0;
            for (p = 0; p < 8; p++) acc += c[p] * row[p * op->stride + t];
            dst[t] = (float)acc;
          }
          for (; t < op->stride; t++) dst[t] = 0.0f;
        }
      }
    }
  }
  return 1;
}

/* ---- applying it ------------------------------------------------------ */

typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* Pass 1 over one source block row: S holds the dequantised blocks of columns
 * [lo, hi) transposed to [b][k][u] (u = 8 lanes); H receives, for every output
 * column block ox and needed frequency jj, the 8 vertical-frequency rows:
 * H[u * hstride + ox * nj + jj]. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void horizontal_pass(const axis_op *op, const float *S, int lo, float *H,
                            size_t hstride) {
  int ox, jj, t, u;
  for (ox = 0; ox < op->out_blocks; ox++) {
    const float *src = S + (size_t)(op->b0[ox] - lo) * 64;
    const int span = 8 * op->nb[ox];
    for (jj = 0; jj < op->nj; jj++) {
      const float *w = op->w + ((size_t)ox * op->nj + jj) * op->stride;
      v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
      float lanes[8];
      for (t = 0; t < span; t++) acc += w[t] * *(const v8f *)(src + 8 * t);
      memcpy(lanes, &acc, sizeof lanes);
      for (u = 0; u < 8; u++) H[(size_t)u * hstride + (size_t)ox * op->nj + jj] = lanes[u];
    }
  }
}

/* Pass 2 for one output block row and frequency: acc[0..len) = sum_t w[t] * H row t. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void vertical_pass(const float *w, int span, const float *H, size_t hstride, int len,
                          float *acc) {
  int t, x;
  const int vec = len / 8 * 8;
  for (x = 0; x < vec; x += 8) {
    v8f a = {0, 0, 0, 0, 0, 0, 0, 0};
    for (t = 0; t < span; t++) a += w[t] * *(const v8f *)(H + (size_t)t * hstride + x);
    memcpy(acc + x, &a, sizeof a);
  }
  for (; x < len; x++) {
    float a = 0;
    for (t = 0; t < span; t++) a += w[t] * H[(size_t)t * hstride + x];
    acc[x] = a;
  }
}

static inline int16_t round_sat(float v) {
  float r = v >= 0.0f ? v + 0.5f : v - 0.5f;
  if (r >= 32767.0f) return 32767;
  if (r <= -32768.0f) return -32768;
  return (int16_t)r;
}

/* One component: the channels sel_k[...] (output channel per (u, v), -1 when
 * not wanted) of its box resized onto out_h x out_w blocks. */
static fl_status resize_component(fl_workspace *ws, const fl_coef_view *v, int n_h, int n_w,
                                  double top, double left, double bh, double bw, int flip,
                                  const int sel_k[64], int out_h, int out_w, int16_t *out16,
                                  float *out32) {
  unsigned umask = 0, vmask = 0;
  axis_op ov, oh;
  int k, by, bx, u, oy, ju, jv;
  float *S, *H, *acc, qf[64];
  size_t hstride, plane = (size_t)out_h * out_w;
  for (k = 0; k < 64; k++)
    if (sel_k[k] >= 0) {
      umask |= 1u << (k / 8);
      vmask |= 1u << (k % 8);
    }
  if (!umask) return FL_OK;
  if (!build_axis(ws, n_h, out_h, top, bh, umask, &ov) ||
      !build_axis(ws, n_w, out_w, left, bw, vmask, &oh))
    return FL_ERR_NOMEM;
  if (ov.hi > v->blocks_h || oh.hi > v->blocks_w) return FL_ERR_ARGUMENT;
  hstride = (size_t)out_w * oh.nj;
  S = (float *)ws_alloc(ws, sizeof(float) * 64 * (size_t)(oh.hi - oh.lo));
  H = (float *)ws_alloc(ws, sizeof(float) * 8 * (size_t)(ov.hi - ov.lo) * hstride);
  acc = (float *)ws_alloc(ws, sizeof(float) * hstride);
  if (!acc) return FL_ERR_NOMEM;
  for (k = 0; k < 64; k++) qf[k] = (float)v->quant[k];
  for (by = ov.lo; by < ov.hi; by++) {
    const int16_t *row = v->data + (ptrdiff_t)by * v->row_stride;
    for (bx = oh.lo; bx < oh.hi; bx++) { /* dequantise, transpose to [k][u] */
      const int16_t *blk = row + (ptrdiff_t)bx * 64;
      float *s = S + (size_t)(bx - oh.lo) * 64;
      for (u = 0; u < 8; u++)
        for (k = 0; k < 8; k++) s[8 * k + u] = blk[8 * u + k] * qf[8 * u + k];
    }
    horizontal_pass(&oh, S, oh.lo, H + (size_t)(by - ov.lo) * 8 * hstride, hstride);
  }
  for (oy = 0; oy < out_h; oy++) {
    const float *Hrow = H + (size_t)(ov.b0[oy] - ov.lo) * 8 * hstride;
    for (ju = 0; ju < ov.nj; ju++) {
      const int uu = ov.j[ju];
      vertical_pass(ov.w + ((size_t)oy * ov.nj + ju) * ov.stride, 8 * ov.nb[oy], Hrow, hstride,
                    (int)hstride, acc);
      for (jv = 0; jv < oh.nj; jv++) {
        const int vv = oh.j[jv], ch = sel_k[8 * uu + vv];
        const float sign = flip && (vv & 1) ? -1.0f : 1.0f;
        int ox;
        if (ch < 0) continue;
        if (out16) {
          int16_t *dst = out16 + ch * plane + (size_t)oy * out_w;
          for (ox = 0; ox < out_w; ox++)
            dst[flip ? out_w - 1 - ox : ox] = round_sat(sign * acc[ox * oh.nj + jv]);
        } else {
          float *dst = out32 + ch * plane + (size_t)oy * out_w;
          for (ox = 0; ox < out_w; ox++)
            dst[flip ? out_w - 1 - ox : ox] = sign * acc[ox * oh.nj + jv];
        }
      }
    }
  }
  return FL_OK;
}

fl_status fl_resize_channels(const fl_coef_view *comps, int num_components, int width,
                             int height, const fl_box *box, int flip,
                             const fl_channel_spec *spec, fl_workspace *ws, int16_t *out16,
                             float *out32, char *message, size_t message_size) {
  int c, k, max_h = 1, max_v = 1, round;
  int sel[3][64];
  const size_t plane = (size_t)spec->out_h * spec->out_w;
  dct_init();
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
  /* Try with the arena as it is; when too small, grow it to what was asked and redo. */
  for (round = 0; round < 8; round++) {
    fl_status st = FL_OK;
    if (!ws_reset(ws, ws->want > ws->cap ? ws->want * 2 : 0)) return FL_ERR_NOMEM;
    for (c = 0; c < num_components && st == FL_OK; c++) {
      const fl_coef_view *v = &comps[c];
      const double fy = (double)v->v_samp / max_v, fx = (double)v->h_samp / max_h;
      /* the component's pixel size, as libjpeg's downsampled_height/width */
      const int n_h = (int)(((long long)height * v->v_samp + max_v - 1) / max_v);
      const int n_w = (int)(((long long)width * v->h_samp + max_h - 1) / max_h);
      st = resize_component(ws, v, n_h, n_w, box->top * fy, box->left * fx, box->height * fy,
                            box->width * fx, flip, sel[c], spec->out_h, spec->out_w, out16,
                            out32);
      if (st == FL_ERR_ARGUMENT) {
        snprintf(message, message_size,
                 "resize: component %d has %dx%d blocks, fewer than its %dx%d pixels need", c,
                 v->blocks_h, v->blocks_w, n_h, n_w);
        return st;
      }
    }
    if (st == FL_OK) return FL_OK;
    if (ws->want <= ws->cap) break; /* not a room problem */
  }
  snprintf(message, message_size, "resize: out of memory");
  return FL_ERR_NOMEM;
}
