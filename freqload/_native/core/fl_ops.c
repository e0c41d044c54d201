/*
 * The augmentation ops on one sample's dequantised channels, after the crop, resize and
 * flip, before anything leaves the core: what Recipe(augment=...) does to every sample, on
 * the engine's thread (fl_policy_sample, on the int16 sample itself, each op rounding its
 * result once), and what freqload.codec.policy.apply_ops runs on float arrays
 * (fl_ops_apply). Only the mask's channels exist; a frequency the mask lacks counts as 0.
 *
 * Each op stands for torchvision.transforms.v2's (which on PIL images is PIL's
 * ImageEnhance / ImageOps / Image.transform); the pixels are JFIF's YCbCr of the sample,
 * level-shifted, so a luma DC is 8 x (mean Y - 128) and a chroma DC 8 x (mean Cb - 128);
 * the JPEG DCT is orthonormal.
 *
 * Exact before clipping (affine in RGB, so affine in YCbCr, so affine on every frequency):
 *   Brightness f   RGB' = f RGB                 Color f      chroma x f (grey kept)
 *   Contrast f     RGB' = f RGB + (1-f) mean Y  Grayscale    chroma 0 (grey = JPEG's Y)
 *   Hue h          (Cb, Cr) turned by 2 pi h (a YCbCr hue; torchvision's HSV hue is not
 *                  linear)
 * Exact to the pixel: translations (each output block the input's 8x8 window at the
 * shifted position, from the blocks it straddles: fixed 8x8 matrices per shift), and
 * rotations by quarter turns (transposes and sign flips).
 * Approximate (each measured against PIL on real photos: tests/test_ops.py,
 * scripts/augment_table.py):
 *   Posterize      its mean shift, -(q - 1) / 2
 *   Sharpness      per-frequency gains of the 3x3 smoothing kernel
 *   Solarize       block by block: a block whose mean luma reaches the threshold inverted
 *   AutoContrast   RGB' = s (RGB - lo) per channel, lo / hi from the blocks' means -+
 *                  sqrt(3) x their spread (the AC energy), one 3x3 map of (Y, Cb, Cr)
 *   Equalize       PIL's histogram table from the blocks (two points each: mean -+
 *                  spread), applied per block to its mean, its AC scaled by the table's
 *                  slope there
 *   Rotate, ShearX/Y   each output block the input window its centre maps to (to the
 *                  pixel, torchvision's inverse map, fill 0), turned by the nearest quarter
 *                  turn; the window's content is not turned by the rest of the angle, nor
 *                  sheared
 *
 * Clipping: torchvision clamps to 0..255; coefficients cannot be clamped without decoding,
 * so what goes past the range stays past it.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fl_core.h"
#include "fl_internal.h"

/* RGB from (Y, Cb - 128, Cr - 128) and back (JFIF, full range) */
static const double RGB_OF[3][3] = {{1.0, 0.0, 1.402},
                                    {1.0, -0.344136286, -0.714136286},
                                    {1.0, 1.772, 0.0}};
static const double YCC_OF[3][3] = {{0.299, 0.587, 0.114},
                                    {-0.168735892, -0.331264108, 0.5},
                                    {0.5, -0.418687589, -0.081312411}};

/* a black block's luma DC, 8 x (0 - 128); every other coefficient of black is 0 */
#define BLACK_DC (-1024.0f)

typedef struct {
  int count, h, w;
  size_t n;        /* blocks per channel */
  int at[3][64];   /* the channel of (component, raster frequency), -1: not in the mask */
} layout;

static void layout_of(const fl_channel_spec *spec, layout *L) {
  memset(L->at, 0xff, sizeof L->at);
  for (int k = 0; k < spec->count; k++) L->at[spec->component[k]][spec->coef[k]] = k;
  L->count = spec->count;
  L->h = spec->out_h;
  L->w = spec->out_w;
  L->n = (size_t)spec->out_h * (size_t)spec->out_w;
}

static void mat_mul(const double a[3][3], const double b[3][3], double out[3][3]) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) out[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
}

/* (Y, Cb, Cr)' = A (Y, Cb, Cr) + d (absolute levels, chroma centred) at every frequency
 * the mask holds; a partner the mask lacks counts as 0. On the coefficients: A at every
 * frequency, plus 8 (A c0 + d - c0), c0 = (128, 0, 0), on the DCs. */
/* At one frequency, block i's (p0, p1, p2) = (Y, Cb, Cr) through the 3x3 map at
 * maps + i * stride (row-major; stride 0: one map for every block), plus offs (3) where
 * given; a component the mask lacks (NULL) counts as 0 and is not written. */
FL_VECTOR_CLONES
static void map3(float *p[3], size_t n, const double *maps, size_t stride, const double *offs) {
  const double o0 = offs ? offs[0] : 0.0, o1 = offs ? offs[1] : 0.0, o2 = offs ? offs[2] : 0.0;
  if (p[0] && !p[1] && !p[2]) { /* luma alone (most of a mask's luma frequencies) */
    for (size_t i = 0; i < n; i++) p[0][i] = (float)(maps[i * stride] * p[0][i] + o0);
  } else if (p[0] && p[1] && p[2]) {
    for (size_t i = 0; i < n; i++) {
      const double *m = maps + i * stride;
      const double y = p[0][i], cb = p[1][i], cr = p[2][i];
      p[0][i] = (float)(m[0] * y + m[1] * cb + m[2] * cr + o0);
      p[1][i] = (float)(m[3] * y + m[4] * cb + m[5] * cr + o1);
      p[2][i] = (float)(m[6] * y + m[7] * cb + m[8] * cr + o2);
    }
  } else {
    const double o[3] = {o0, o1, o2};
    for (size_t i = 0; i < n; i++) {
      const double *m = maps + i * stride;
      const double v[3] = {p[0] ? p[0][i] : 0.0, p[1] ? p[1][i] : 0.0, p[2] ? p[2][i] : 0.0};
      for (int c = 0; c < 3; c++)
        if (p[c]) p[c][i] = (float)(m[3 * c] * v[0] + m[3 * c + 1] * v[1] + m[3 * c + 2] * v[2] + o[c]);
    }
  }
}

/* The frequency f's three channels of x (NULL where the mask lacks one); 0 if none. */
static int channels_at(float *x, const layout *L, int f, float *p[3]) {
  int any = 0;
  for (int c = 0; c < 3; c++) {
    p[c] = L->at[c][f] < 0 ? NULL : x + (size_t)L->at[c][f] * L->n;
    any |= p[c] != NULL;
  }
  return any;
}

/* (Y, Cb, Cr)' = A (Y, Cb, Cr) + d (absolute levels, chroma centred) at every frequency
 * the mask holds; a partner the mask lacks counts as 0. On the coefficients: A at every
 * frequency, plus 8 (A c0 + d - c0), c0 = (128, 0, 0), on the DCs. */
static void affine3(float *x, const layout *L, const double A[3][3], const double d[3]) {
  double o[3];
  float *p[3];
  for (int c = 0; c < 3; c++) o[c] = 8.0 * (A[c][0] * 128.0 + d[c] - (c == 0 ? 128.0 : 0.0));
  for (int f = 0; f < 64; f++)
    if (channels_at(x, L, f, p)) map3(p, L->n, &A[0][0], 0, f == 0 ? o : NULL);
}

/* A sample's channels [count][n] as the ops see them: float (fl_ops_apply) or the int16
 * sample itself (fl_policy_sample: each op then rounds once, to nearest, saturating). */
typedef struct {
  float *f;
  int16_t *s;
} sample;

static inline int16_t round16(float v) { /* saturated, to nearest, ties to even */
  v = v < -32768.0f ? -32768.0f : v; /* in this form the vectoriser takes it */
  v = v > 32767.0f ? 32767.0f : v;
  return (int16_t)rintf(v);
}

FL_VECTOR_CLONES
static void to_int16(const float *f, int16_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) s[i] = round16(f[i]);
}

FL_VECTOR_CLONES
static void to_float(const int16_t *s, float *f, size_t n) {
  for (size_t i = 0; i < n; i++) f[i] = s[i];
}

static float value_at(const sample *x, size_t i) { return x->f ? x->f[i] : (float)x->s[i]; }

/* Every channel k scaled by g[k], plus add[k]: what brightness, color, contrast,
 * posterize, grayscale and sharpness come to. */
FL_VECTOR_CLONES
static void scale_channels(sample *x, const layout *L, const float *g, const float *add) {
  for (int k = 0; k < L->count; k++) {
    const float gk = g[k], ak = add[k];
    if (x->f) {
      float *p = x->f + (size_t)k * L->n;
      for (size_t i = 0; i < L->n; i++) p[i] = p[i] * gk + ak;
    } else {
      int16_t *p = x->s + (size_t)k * L->n;
      for (size_t i = 0; i < L->n; i++) p[i] = round16((float)p[i] * gk + ak);
    }
  }
}

/* (Y, Cb, Cr)' = diag(y, chroma, chroma) (Y, Cb, Cr) + (d, 0, 0), as scale_channels: the
 * gains by component, 8 (y 128 + d - 128) on the luma DC (affine3's offset). */
static void diagonal_map(sample *x, const layout *L, double y, double chroma, double d) {
  float g[FL_MAX_CHANNELS], add[FL_MAX_CHANNELS];
  for (int c = 0; c < 3; c++)
    for (int f = 0; f < 64; f++) {
      const int k = L->at[c][f];
      if (k < 0) continue;
      g[k] = (float)(c == 0 ? y : chroma);
      add[k] = (float)(c == 0 && f == 0 ? 8.0 * (y * 128.0 + d - 128.0) : 0.0);
    }
  scale_channels(x, L, g, add);
}

static double mean_luma(const sample *x, const layout *L) {
  const size_t dc = (size_t)L->at[0][0] * L->n;
  double s = 0;
  for (size_t i = 0; i < L->n; i++) s += value_at(x, dc + i);
  return s / (double)L->n / 8.0 + 128.0;
}

/* Every block's RGB mean (from the three DCs; a missing chroma DC is grey), rgb[3][n], and
 * the spread of its luma around it (sqrt of the luma AC energy / 64: the DCT is
 * orthonormal), spread[n], channel by channel. */
static void block_stats(const float *x, const layout *L, double *rgb, double *spread) {
  const size_t n = L->n;
  const float *dc[3];
  for (int c = 0; c < 3; c++) dc[c] = L->at[c][0] >= 0 ? x + (size_t)L->at[c][0] * n : NULL;
  for (size_t i = 0; i < n; i++) {
    const double v[3] = {dc[0][i] / 8.0 + 128.0, dc[1] ? dc[1][i] / 8.0 : 0.0,
                         dc[2] ? dc[2][i] / 8.0 : 0.0};
    for (int c = 0; c < 3; c++)
      rgb[c * n + i] = RGB_OF[c][0] * v[0] + RGB_OF[c][1] * v[1] + RGB_OF[c][2] * v[2];
    spread[i] = 0.0;
  }
  for (int f = 1; f < 64; f++) {
    if (L->at[0][f] < 0) continue;
    const float *a = x + (size_t)L->at[0][f] * n;
    for (size_t i = 0; i < n; i++) spread[i] += (double)a[i] * a[i];
  }
  for (size_t i = 0; i < n; i++) spread[i] = sqrt(spread[i] / 64.0);
}

static double clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* PIL's ImageOps.autocontrast (cutoff 0): per RGB channel (v - lo) * 255 / (hi - lo),
 * lo / hi the channel's extremes (a flat channel is kept). The extremes here: the blocks'
 * means -+ sqrt(3) x their spread (a block's values as if uniform around its mean). */
static void autocontrast(float *x, const layout *L, double *work) {
  double lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0}, s[3], A[3][3], tmp[3][3], d[3];
  double *rgb = work, *spread = work + 3 * L->n;
  block_stats(x, L, rgb, spread);
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < L->n; i++) {
      lo[c] = fmin(lo[c], clamp255(rgb[c * L->n + i] - 1.7320508 * spread[i]));
      hi[c] = fmax(hi[c], clamp255(rgb[c * L->n + i] + 1.7320508 * spread[i]));
    }
  for (int c = 0; c < 3; c++) {
    if (hi[c] - lo[c] < 1.0) { /* flat: torchvision keeps it */
      s[c] = 1.0;
      lo[c] = 0.0;
    } else {
      s[c] = 255.0 / (hi[c] - lo[c]);
    }
  }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) tmp[i][j] = s[i] * RGB_OF[i][j]; /* diag(s) RGB_OF */
  mat_mul(YCC_OF, tmp, A);
  for (int c = 0; c < 3; c++)
    d[c] = -(YCC_OF[c][0] * s[0] * lo[0] + YCC_OF[c][1] * s[1] * lo[1] + YCC_OF[c][2] * s[2] * lo[2]);
  affine3(x, L, A, d);
}

/* The table as a function of a continuous level (linear between the integer levels). */
static double lut_at(const double *lut, double v) {
  const double c = clamp255(v);
  const int k = (int)c;
  return k >= 255 ? lut[255] : lut[k] + (c - k) * (lut[k + 1] - lut[k]);
}

/* PIL's ImageOps.equalize per RGB channel: the histogram (each block as half its pixels at
 * mean - spread and half at mean + spread), the table n // step with n the pixels below
 * plus step // 2, step = (pixels - the last level's) // 256 (fewer than two levels, or a
 * zero step: identity); each block's new mean is the table's average over its two points
 * and its AC is scaled by the table's slope between them, as one 3x3 map per block. */
static void equalize(float *x, const layout *L, double *work) {
  double *lut = work;           /* [3][256] */
  double *rgb = work + 3 * 256, *spread = rgb + 3 * L->n;
  double *per = spread + L->n;  /* per block: 9 (the AC map) + 3 (the new DC levels) */
  long long hist[3][256];
  memset(hist, 0, sizeof hist);
  block_stats(x, L, rgb, spread);
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < L->n; i++) {
      hist[c][(int)lrint(clamp255(rgb[c * L->n + i] - spread[i]))] += 32;
      hist[c][(int)lrint(clamp255(rgb[c * L->n + i] + spread[i]))] += 32;
    }
  for (int c = 0; c < 3; c++) {
    long long total = 0, last = 0, step, n;
    int levels = 0;
    for (int v = 0; v < 256; v++)
      if (hist[c][v]) {
        total += hist[c][v];
        last = hist[c][v];
        levels++;
      }
    step = levels <= 1 ? 0 : (total - last) / 256;
    n = step / 2;
    for (int v = 0; v < 256; v++) {
      lut[c * 256 + v] = step == 0 ? v : fmin(255.0, (double)(n / step));
      n += hist[c][v];
    }
  }
  for (size_t i = 0; i < L->n; i++) {
    double slope[3], mean[3], tmp[3][3], A[3][3];
    const double r = spread[i] < 0.5 ? 0.5 : spread[i];
    for (int c = 0; c < 3; c++) {
      const double m = rgb[c * L->n + i];
      const double a = lut_at(lut + c * 256, m - r), b = lut_at(lut + c * 256, m + r);
      mean[c] = 0.5 * (a + b);
      slope[c] = (b - a) / (2 * r);
    }
    for (int p = 0; p < 3; p++)
      for (int q = 0; q < 3; q++) tmp[p][q] = slope[p] * RGB_OF[p][q];
    mat_mul(YCC_OF, tmp, A);
    memcpy(per + 12 * i, A, sizeof A);
    for (int c = 0; c < 3; c++)
      per[12 * i + 9 + c] = YCC_OF[c][0] * mean[0] + YCC_OF[c][1] * mean[1] + YCC_OF[c][2] * mean[2];
  }
  for (int c = 0; c < 3; c++) { /* the DCs: the new means */
    if (L->at[c][0] < 0) continue;
    float *p = x + (size_t)L->at[c][0] * L->n;
    for (size_t i = 0; i < L->n; i++) p[i] = (float)(8.0 * (per[12 * i + 9 + c] - (c == 0 ? 128.0 : 0.0)));
  }
  for (int f = 1; f < 64; f++) { /* the rest: each block's map */
    float *p[3];
    if (channels_at(x, L, f, p)) map3(p, L->n, per, 12, NULL);
  }
}

/* torchvision's adjust_sharpness: f x + (1 - f) smooth(x), smooth the 3x3 kernel
 * [[1,1,1],[1,5,1],[1,1,1]] / 13 = (4 identity + box3 x box3) / 13; box3 scales a DCT
 * cosine of frequency k by 1 + 2 cos(pi k / 8) where its neighbours lie in the block. */
static void sharpness(sample *x, const layout *L, double f) {
  float g[FL_MAX_CHANNELS], add[FL_MAX_CHANNELS];
  for (int c = 0; c < 3; c++)
    for (int q = 0; q < 64; q++) {
      const int k = L->at[c][q];
      if (k < 0) continue;
      const double u = q / 8, v = q % 8;
      const double smooth =
          (4.0 + (1.0 + 2.0 * cos(M_PI * u / 8)) * (1.0 + 2.0 * cos(M_PI * v / 8))) / 13.0;
      g[k] = (float)(f + (1.0 - f) * smooth);
      add[k] = 0.0f;
    }
  scale_channels(x, L, g, add);
}

/* torchvision's solarize(t): 255 - v where v >= t; here a block whose mean luma reaches t
 * is inverted whole (every coefficient negated, its luma DC less 8), the others kept. */
FL_VECTOR_CLONES
static void solarize(sample *x, const layout *L, double threshold, unsigned char *flip) {
  const size_t dc = (size_t)L->at[0][0] * L->n;
  for (size_t i = 0; i < L->n; i++) flip[i] = value_at(x, dc + i) / 8.0 + 128.0 >= threshold;
  for (int k = 0; k < L->count; k++) {
    const float d = (size_t)k * L->n == dc ? 8.0f : 0.0f; /* 255 - Y: -DC - 8 */
    if (x->f) {
      float *p = x->f + (size_t)k * L->n;
      for (size_t i = 0; i < L->n; i++) p[i] = flip[i] ? -p[i] - d : p[i];
    } else {
      int16_t *p = x->s + (size_t)k * L->n;
      const int di = (int)d;
      for (size_t i = 0; i < L->n; i++) {
        const int v = flip[i] ? -(int)p[i] - di : p[i];
        p[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
      }
    }
  }
}

/* The 1-D DCT of an 8-pixel window that starts s pixels into block A and runs on into
 * block B, from the two blocks' coefficients: window = a[s] A + b[s] B, with a[s][u][k] =
 * sum_i C[u][i] C[k][i + s] over the window's pixels in A, b likewise over those in B
 * (C the orthonormal 8-point DCT-II, JPEG's). Stored transposed, [s][k][u], so that the
 * warp's inner loops run over u, 8 floats in a row. */
typedef float v8 __attribute__((vector_size(32))); /* 8 floats: one row over u */

typedef struct {
  v8 a[8][8], b[8][8]; /* [s][k] */
} shift_tables;

static shift_tables shifts;
static pthread_once_t shifts_once = PTHREAD_ONCE_INIT;

static void build_shifts(void) {
  const double *C = fl_dct_basis(); /* C[8 u + i] */
  for (int s = 0; s < 8; s++)
    for (int u = 0; u < 8; u++)
      for (int k = 0; k < 8; k++) {
        double a = 0, b = 0;
        for (int i = 0; i < 8; i++) {
          if (i + s < 8)
            a += C[8 * u + i] * C[8 * k + i + s];
          else
            b += C[8 * u + i] * C[8 * k + i + s - 8];
        }
        shifts.a[s][k][u] = (float)a;
        shifts.b[s][k][u] = (float)b;
      }
}

/* The tables, built once on first use, from any thread. */
static const shift_tables *shift_tables_get(void) {
  pthread_once(&shifts_once, build_shifts);
  return &shifts;
}

/* One component's channels as the warp visits them. */
typedef struct {
  int in_ch[64], in_k[64];     /* the mask's coefficients, column by column (k vertical) */
  size_t in_off[64];           /* where channel in_ch[e] starts in the padded copy */
  int row_ch[64], row_l[64];   /* the same coefficients row by row (l horizontal) ... */
  size_t row_off[64];
  int n_k, k_end[8];           /* ... row j's entries ending at k_end[j] */
  int n_u, u_list[8];          /* the window rows the outputs read */
  int n_l, l_list[8], l_end[8]; /* input columns the mask holds; column j's entries end
                                 * at l_end[j] */
  int n_v, v_list[8], v_end[8]; /* window columns the outputs read, and their outputs */
  int out_ch[64], out_u[64];
  float out_sign[64];
  int n_out;
} warp_component;

static void warp_component_make(const layout *L, int c, int rot, warp_component *wc) {
  int n = 0;
  wc->n_l = wc->n_v = wc->n_k = 0;
  for (int k = 0; k < 8; k++) { /* inputs by row (the horizontal-only warp) */
    const int first = n;
    for (int l = 0; l < 8; l++)
      if (L->at[c][8 * k + l] >= 0) {
        wc->row_ch[n] = L->at[c][8 * k + l];
        wc->row_l[n++] = l;
      }
    if (n > first) wc->k_end[wc->n_k++] = n;
  }
  n = 0;
  for (int l = 0; l < 8; l++) { /* inputs by column */
    const int first = n;
    for (int k = 0; k < 8; k++)
      if (L->at[c][8 * k + l] >= 0) {
        wc->in_ch[n] = L->at[c][8 * k + l];
        wc->in_k[n++] = k;
      }
    if (n > first) {
      wc->l_list[wc->n_l] = l;
      wc->l_end[wc->n_l++] = n;
    }
  }
  n = 0;
  for (int v = 0; v < 8; v++) { /* outputs by the window column they read */
    const int first = n;
    for (int f = 0; f < 64; f++) {
      const int ch = L->at[c][f];
      if (ch < 0) continue;
      const int k = f / 8, l = f % 8;
      /* a quarter turn counter-clockwise: out[k][l] = (-1)^k w[l][k]; a half: (-1)^(k+l)
       * w[k][l]; three quarters: (-1)^l w[l][k] */
      if ((rot & 1 ? k : l) != v) continue;
      const int odd = rot == 1 ? k & 1 : rot == 2 ? (k + l) & 1 : rot == 3 ? l & 1 : 0;
      wc->out_ch[n] = ch;
      wc->out_u[n] = rot & 1 ? l : k;
      wc->out_sign[n++] = odd ? -1.0f : 1.0f;
    }
    if (n > first) {
      wc->v_list[wc->n_v] = v;
      wc->v_end[wc->n_v++] = n;
    }
  }
  wc->n_out = n;
  wc->n_u = 0;
  for (int u = 0; u < 8; u++) {
    int read = 0;
    for (int e = 0; e < n; e++) read |= wc->out_u[e] == u;
    if (read) wc->u_list[wc->n_u++] = u;
  }
}

/* warp's fast path for maps that shift every block of a row alike (translations, ShearX):
 * eight output blocks of row `by` at a time, bx .. bx + 7, each channel's values of eight
 * neighbouring blocks one vector. The window's corner is (8 bx + dx, 8 by + dy): blocks
 * bx + dbx (+1), rows by + dby (+1), sx / sy pixels in; both columns lie in the padded
 * plane (the caller's range), the rows are clamped to its ring. The same sums as warp's
 * general path, in the same order. */
FL_VECTOR_CLONES
static void warp_rows8(sample *x, const layout *L, const warp_component *wc,
                       const shift_tables *t, const float *copy, size_t pw, int by, int bx,
                       long dbx, int sx, long dby, int sy, size_t o_row, size_t o_col) {
  const int h = L->h;
  const float *src[2][2]; /* [qy][qx] */
  for (int qy = 0; qy < 2; qy++) {
    long r = by + dby + qy;
    r = r < -1 ? -1 : r > h ? h : r;
    for (int qx = 0; qx < 2; qx++) src[qy][qx] = copy + (size_t)(r + 1) * pw + (size_t)(bx + dbx + qx + 1);
  }
  const int nx = sx ? 2 : 1, ny = sy ? 2 : 1;
  for (int c = 0; c < 3; c++) {
    const warp_component *p = &wc[c];
    v8 z[2][8][8]; /* [qx][l][u], over the eight blocks */
    if (p->n_out == 0) continue;
    for (int qx = 0; qx < nx; qx++)
      for (int j = 0, e = 0; j < p->n_l; j++) {
        const int l = p->l_list[j];
        for (int i = 0; i < p->n_u; i++) z[qx][l][p->u_list[i]] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
        for (; e < p->l_end[j]; e++) {
          v8 a, b;
          memcpy(&a, src[0][qx] + p->in_off[e], sizeof a);
          if (ny == 1) { /* sy == 0: the rows as they are */
            z[qx][l][p->in_k[e]] = a;
            continue;
          }
          memcpy(&b, src[1][qx] + p->in_off[e], sizeof b);
          const float *ta = (const float *)&t->a[sy][p->in_k[e]];
          const float *tb = (const float *)&t->b[sy][p->in_k[e]];
          for (int i = 0; i < p->n_u; i++) {
            const int u = p->u_list[i];
            z[qx][l][u] += ta[u] * a + tb[u] * b;
          }
        }
      }
    for (int i = 0, e = 0; i < p->n_v; i++) {
      const int v = p->v_list[i];
      for (; e < p->v_end[i]; e++) {
        const int u = p->out_u[e];
        v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
        if (sx == 0) {
          for (int j = 0; j < p->n_l; j++)
            if (p->l_list[j] == v) acc = z[0][v][u];
        } else {
          for (int j = 0; j < p->n_l; j++) {
            const int l = p->l_list[j];
            acc += z[0][l][u] * t->a[sx][l][v] + z[1][l][u] * t->b[sx][l][v];
          }
        }
        const size_t at = (size_t)p->out_ch[e] * L->n + (size_t)by * o_row + (size_t)bx * o_col;
        if (x->f && o_col == 1)
          memcpy(x->f + at, &acc, sizeof acc);
        else if (x->f)
          for (int k = 0; k < 8; k++) x->f[at + k * o_col] = acc[k];
        else
          for (int k = 0; k < 8; k++) x->s[at + k * o_col] = round16(acc[k]);
      }
    }
  }
}

/* Every channel resampled through the inverse map (input pixel) = M (output pixel, 1),
 * pixel centres at +0.5, block by block: each output block is the 8x8 window of the input
 * whose centre its centre maps to (to the nearest pixel: a translation by whole pixels is
 * exact where the mask holds every frequency), computed from the up to four blocks it
 * straddles with the shift tables (what lies outside the picture is black), then turned
 * by the map's nearest quarter turn (rot: 0..3 counter-clockwise, exact on coefficients:
 * transposes and sign flips). The window's content is not turned by the rest of the
 * angle, nor sheared: what makes rotate and shear approximate. Frequencies outside the
 * mask count as 0. */
FL_VECTOR_CLONES
static void warp(sample *x, const layout *L0, const double M0[6], int rot, float *copy) {
  /* a map that shifts every block of a column alike (ShearY) is one that shifts every
   * block of a row alike on the transposed grid: the planes transposed as they are copied,
   * each block's coefficients (k, l) read as (l, k), the outputs written back transposed */
  const int transposed = rot == 0 && M0[0] == 1 && M0[1] == 0 && M0[4] == 1 && M0[3] != 0;
  layout LT;
  const layout *L = L0;
  double M[6];
  memcpy(M, M0, sizeof M);
  if (transposed) {
    LT = *L0;
    LT.h = L0->w;
    LT.w = L0->h;
    for (int c = 0; c < 3; c++)
      for (int f = 0; f < 64; f++) LT.at[c][f] = L0->at[c][(f % 8) * 8 + f / 8];
    const double MT[6] = {M0[4], M0[3], M0[5], M0[1], M0[0], M0[2]};
    memcpy(M, MT, sizeof M);
    L = &LT;
  }
  const int h = L->h, w = L->w;
  /* output block (bx, by) of the grid walked: at by * o_row + bx * o_col */
  const size_t o_row = transposed ? 1 : (size_t)w, o_col = transposed ? (size_t)L0->w : 1;
  const shift_tables *t = shift_tables_get();
  warp_component wc[3];
  float black[FL_MAX_CHANNELS];
  for (int c = 0; c < 3; c++) warp_component_make(L, c, rot, &wc[c]);
  /* the input as float, each channel's plane with a ring of black blocks around it (what
   * lies further out reads the ring): pw x (h + 2) per channel */
  const size_t pw = (size_t)w + 2, plane = pw * ((size_t)h + 2);
  for (int k = 0; k < L->count; k++) {
    float *dst = copy + (size_t)k * plane;
    const float fill = k == L->at[0][0] ? BLACK_DC : 0.0f;
    black[k] = fill;
    for (size_t i = 0; i < pw; i++) dst[i] = dst[plane - pw + i] = fill;
    for (int r = 0; r < h; r++) {
      float *row = dst + (size_t)(r + 1) * pw;
      row[0] = row[w + 1] = fill;
      if (transposed) { /* row r of the grid walked: column r of the sample */
        for (int i = 0; i < w; i++) {
          const size_t from = (size_t)k * L->n + (size_t)i * L0->w + (size_t)r;
          row[i + 1] = x->f ? x->f[from] : (float)x->s[from];
        }
        continue;
      }
      const size_t from = (size_t)k * L->n + (size_t)r * w;
      if (x->f)
        memcpy(row + 1, x->f + from, (size_t)w * sizeof(float));
      else
        to_float(x->s + from, row + 1, (size_t)w);
    }
  }
  for (int c = 0; c < 3; c++)
    for (int e = 0; e < 64; e++) {
      wc[c].in_off[e] = (size_t)wc[c].in_ch[e] * plane;
      wc[c].row_off[e] = (size_t)wc[c].row_ch[e] * plane;
    }
  const int rows_alike = rot == 0 && M[0] == 1 && M[3] == 0 && M[4] == 1;
  for (int by = 0; by < h; by++) {
    if (rows_alike) { /* the corner of block (bx, by)'s window: (8 bx + dx, 8 by + dy) */
      const double py = 8.0 * by + 4.0;
      const long dx = (long)floor(M[0] * 4.0 + M[1] * py + M[2] - 3.5);
      const long dy = (long)floor(M[4] * py + M[5] - 3.5) - 8L * by;
      const long dbx = dx >= 0 ? dx / 8 : -((7 - dx) / 8), dby = dy >= 0 ? dy / 8 : -((7 - dy) / 8);
      /* columns bx + dbx and + 1 within the padded plane: -1 <= bx + dbx <= w - 1 */
      long lo = -1 - dbx, hi = w - 1 - dbx;
      lo = lo < 0 ? 0 : lo;
      hi = hi > w - 1 ? w - 1 : hi;
      int fast_from, fast_to; /* blocks done eight at a time */
      if (hi - lo + 1 >= 8) { /* chunks of eight, the last one ending at hi (overlapping
                               * the one before: the same values again, from the copy) */
        const int sx = (int)(dx - 8 * dbx), sy = (int)(dy - 8 * dby);
        fast_from = (int)lo;
        fast_to = (int)hi + 1;
        for (int bx = fast_from;; bx += 8) {
          if (bx > fast_to - 8) bx = fast_to - 8;
          warp_rows8(x, L, wc, t, copy, pw, by, bx, dbx, sx, dby, sy, o_row, o_col);
          if (bx == fast_to - 8) break;
        }
        /* the blocks outside [lo, hi]: their windows lie outside the picture, black */
        for (int bx = 0; bx < w; bx++) {
          if (bx == fast_from) bx = fast_to;
          if (bx >= w) break;
          for (int k = 0; k < L->count; k++) {
            const size_t at = (size_t)k * L->n + (size_t)by * o_row + (size_t)bx * o_col;
            if (x->f)
              x->f[at] = black[k];
            else
              x->s[at] = (int16_t)black[k];
          }
        }
        continue;
      }
    }
    for (int bx = 0; bx < w; bx++) {
      const double px = 8.0 * bx + 4.0, py = 8.0 * by + 4.0;
      const double xi = M[0] * px + M[1] * py + M[2], yi = M[3] * px + M[4] * py + M[5];
      const size_t o = (size_t)by * o_row + (size_t)bx * o_col;
      /* the window's corner, to the nearest pixel, and the blocks it straddles */
      const double cx = floor(xi - 3.5), cy = floor(yi - 3.5);
      const double fbx = floor(cx / 8.0), fby = floor(cy / 8.0);
      const int sx = (int)(cx - 8.0 * fbx), sy = (int)(cy - 8.0 * fby);
      const long bx0 = (long)fbx, by0 = (long)fby;
      const int nx = sx ? 2 : 1, ny = sy ? 2 : 1;
      const float *blk[2][2]; /* [qy][qx]: channel k of the block at blk + in_off */
      int outside = 0;
      for (int qy = 0; qy < ny; qy++)
        for (int qx = 0; qx < nx; qx++) {
          long sbx = bx0 + qx, sby = by0 + qy;
          outside += !(sbx >= 0 && sbx < w && sby >= 0 && sby < h);
          sbx = sbx < -1 ? -1 : sbx > w ? w : sbx; /* the ring: black */
          sby = sby < -1 ? -1 : sby > h ? h : sby;
          blk[qy][qx] = copy + (size_t)(sby + 1) * pw + (size_t)(sbx + 1);
        }
      if (outside == nx * ny) { /* all of the window outside the picture: black */
        for (int k = 0; k < L->count; k++) {
          if (x->f)
            x->f[(size_t)k * L->n + o] = black[k];
          else
            x->s[(size_t)k * L->n + o] = (int16_t)black[k];
        }
        continue;
      }
      for (int c = 0; c < 3; c++) {
        const warp_component *p = &wc[c];
        v8 z[2][8]; /* [qx][l] over u: each column of blocks through the vertical tables */
        if (p->n_out == 0) continue;
        if (sy == 0 && sx != 0 && rot == 0) {
          /* the window's rows are its blocks' rows: the horizontal pass alone, row by row,
           * each row's outputs (over v) from its blocks' same row */
          for (int j = 0, e = 0; j < p->n_k; j++) {
            const int first = e;
            v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
            for (; e < p->k_end[j]; e++)
              acc += t->a[sx][p->row_l[e]] * blk[0][0][p->row_off[e]] +
                     t->b[sx][p->row_l[e]] * blk[0][1][p->row_off[e]];
            for (int i = first; i < e; i++) {
              const size_t at = (size_t)p->row_ch[i] * L->n + o;
              if (x->f)
                x->f[at] = acc[p->row_l[i]];
              else
                x->s[at] = round16(acc[p->row_l[i]]);
            }
          }
          continue;
        }
        for (int qx = 0; qx < nx; qx++)
          for (int j = 0, e = 0; j < p->n_l; j++) {
            v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
            /* sy == 0: the window's rows are the block's, a[0] the identity */
            for (; e < p->l_end[j]; e++) {
              acc += t->a[sy][p->in_k[e]] * blk[0][qx][p->in_off[e]];
              if (ny == 2) acc += t->b[sy][p->in_k[e]] * blk[1][qx][p->in_off[e]];
            }
            z[qx][p->l_list[j]] = acc;
          }
        for (int i = 0, e = 0; i < p->n_v; i++) {
          const int v = p->v_list[i];
          v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
          if (sx == 0) { /* the window's columns are the block's: no horizontal pass */
            for (int j = 0; j < p->n_l; j++)
              if (p->l_list[j] == v) acc = z[0][v];
          } else {
            for (int j = 0; j < p->n_l; j++) {
              const int l = p->l_list[j];
              acc += z[0][l] * t->a[sx][l][v] + z[1][l] * t->b[sx][l][v];
            }
          }
          for (; e < p->v_end[i]; e++) {
            const float out = p->out_sign[e] * acc[p->out_u[e]];
            const size_t at = (size_t)p->out_ch[e] * L->n + o;
            if (x->f)
              x->f[at] = out;
            else
              x->s[at] = round16(out);
          }
        }
      }
    }
  }
}

size_t fl_ops_work_doubles(const fl_channel_spec *spec) {
  const size_t n = (size_t)spec->out_h * (size_t)spec->out_w;
  const size_t padded = (size_t)(spec->out_h + 2) * (size_t)(spec->out_w + 2);
  const size_t copy = ((size_t)spec->count * padded + 1) / 2; /* warp's padded float copy */
  const size_t eq = 3 * 256 + 16 * n;                    /* equalize: tables, stats, maps */
  return copy > eq ? copy : eq;
}

/* The ops that need the sample in float (a 3x3 map across components, or statistics of
 * the whole sample first): on an int16 sample, through `scratch` and back. */
static void float_op(sample *x, const layout *L, int op, double m, float *scratch,
                     double *work) {
  const size_t total = (size_t)L->count * L->n;
  float *f = x->f ? x->f : scratch;
  double A[3][3];
  const double zero[3] = {0, 0, 0};
  if (!x->f) to_float(x->s, f, total);
  if (op == FL_OP_HUE) { /* (Cb, Cr) turned by 2 pi m: a YCbCr hue (torchvision's is HSV's) */
    const double t = 2.0 * M_PI * m;
    memset(A, 0, sizeof A);
    A[0][0] = 1;
    A[1][1] = A[2][2] = cos(t);
    A[1][2] = -sin(t);
    A[2][1] = sin(t);
    affine3(f, L, A, zero);
  } else if (op == FL_OP_AUTOCONTRAST) {
    autocontrast(f, L, work);
  } else {
    equalize(f, L, work);
  }
  if (!x->f) to_int16(f, x->s, total);
}

/* One op on x. scratch: count * n floats (float_op's, on an int16 sample); work:
 * fl_ops_work_doubles. */
static void apply_one(sample *x, const layout *L, int op, double m, float *scratch,
                      double *work) {
  const double W = 8.0 * L->w, H = 8.0 * L->h;
  switch (op) {
  case FL_OP_BRIGHTNESS: /* f = 1 + m: RGB' = f RGB */
    diagonal_map(x, L, 1 + m, 1 + m, 0);
    break;
  case FL_OP_COLOR: /* adjust_saturation: the grey kept, chroma x f */
    diagonal_map(x, L, 1, 1 + m, 0);
    break;
  case FL_OP_CONTRAST: /* f RGB + (1 - f) mean grey, f = 1 + m */
    diagonal_map(x, L, 1 + m, 1 + m, -m * mean_luma(x, L));
    break;
  case FL_OP_GRAYSCALE: /* rgb_to_grayscale(num_output_channels=3): JPEG's Y, chroma 0 */
    diagonal_map(x, L, 1, 0, 0);
    break;
  case FL_OP_POSTERIZE: /* floor to multiples of q: the mean shift -(q - 1) / 2 */
    diagonal_map(x, L, 1, 1, -(ldexp(1.0, 8 - (int)lrint(m)) - 1) / 2);
    break;
  case FL_OP_SHARPNESS:
    sharpness(x, L, 1 + m);
    break;
  case FL_OP_SOLARIZE:
    solarize(x, L, 255.0 * m, (unsigned char *)work);
    break;
  case FL_OP_HUE:
  case FL_OP_AUTOCONTRAST:
  case FL_OP_EQUALIZE:
    float_op(x, L, op, m, scratch, work);
    break;
  case FL_OP_TRANSLATE_X: { /* affine(translate=[int(m), 0]) */
    const double M[6] = {1, 0, -trunc(m), 0, 1, 0};
    warp(x, L, M, 0, (float *)work);
    break;
  }
  case FL_OP_TRANSLATE_Y: {
    const double M[6] = {1, 0, 0, 0, 1, -trunc(m)};
    warp(x, L, M, 0, (float *)work);
    break;
  }
  case FL_OP_SHEAR_X: { /* affine(shear=[degrees(atan(m)), 0], center=[0, 0]) */
    const double M[6] = {1, m, 0, 0, 1, 0};
    warp(x, L, M, 0, (float *)work);
    break;
  }
  case FL_OP_SHEAR_Y: {
    const double M[6] = {1, 0, 0, m, 1, 0};
    warp(x, L, M, 0, (float *)work);
    break;
  }
  case FL_OP_ROTATE: { /* rotate(m degrees), counter-clockwise about the centre */
    const double t = m * M_PI / 180.0, c = cos(t), s = sin(t);
    const double M[6] = {c, -s, W / 2 - c * W / 2 + s * H / 2,
                         s, c, H / 2 - s * W / 2 - c * H / 2};
    const int quarter = (int)(((lround(m / 90.0) % 4) + 4) % 4);
    warp(x, L, M, quarter, (float *)work);
    break;
  }
  default: /* identity */
    break;
  }
}

void fl_ops_apply(const fl_channel_spec *spec, const fl_op *ops, int num_ops, float *x,
                  double *work) {
  layout L;
  sample buf = {x, NULL};
  layout_of(spec, &L);
  for (int k = 0; k < num_ops; k++) apply_one(&buf, &L, ops[k].op, ops[k].magnitude, NULL, work);
}

int fl_policy_sample(const fl_policy *p, const fl_jitter *j, const fl_channel_spec *spec,
                     uint64_t key, int16_t *out, float *x, double *work) {
  fl_op ops[FL_POLICY_MAX_OPS + 5];
  layout L;
  sample buf = {NULL, out};
  int count = fl_policy_draw(p, key, 8 * spec->out_h, 8 * spec->out_w, ops);
  count += fl_jitter_ops(j, key, ops + count);
  layout_of(spec, &L);
  /* on the int16 sample itself, op by op, each rounding once */
  for (int k = 0; k < count; k++) apply_one(&buf, &L, ops[k].op, ops[k].magnitude, x, work);
  return count;
}
