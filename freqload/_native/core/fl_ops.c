/*
 * The augmentation policies' operations on one sample's dequantised channels (fl_ops_apply),
 * after the crop, resize and flip, before anything leaves the core: what
 * Recipe(augment=...) does to every sample, on the engine's thread.
 *
 * Each op stands for torchvision.transforms.v2's (which on PIL images is PIL's
 * ImageEnhance / ImageOps / Image.transform); the pixels are JFIF's YCbCr of the sample,
 * level-shifted, so a luma DC is 8 x (mean Y - 128) and a chroma DC 8 x (mean Cb - 128).
 *
 * Exact before clipping (affine in RGB, so affine in YCbCr, so affine on every frequency):
 *   Brightness f   RGB' = f RGB                 Color f      chroma x f (grey kept)
 *   Contrast f     RGB' = f RGB + (1-f) mean Y  Grayscale    chroma 0 (grey = JPEG's Y)
 *   Hue h          (Cb, Cr) turned by 2 pi h (a YCbCr hue; torchvision's HSV hue is not
 *                  linear)
 *   Posterize b    approx: its mean shift
 * Approximate (each measured against PIL on real photos by tests/test_ops.py):
 *   Sharpness      per-frequency gains of the 3x3 smoothing kernel
 *   Solarize       block by block: a block whose mean luma reaches the threshold inverted
 *   AutoContrast   RGB' = s (RGB - lo) per channel, lo / hi from the blocks' means +- their
 *                  spread (the AC energy), applied as one 3x3 map of (Y, Cb, Cr)
 *   Equalize       PIL's histogram lookup table from the blocks (two points each: mean +-
 *                  spread), applied per block to its mean, its AC scaled by the table's
 *                  slope there
 *   Translate, Rotate, ShearX/Y   the inverse affine map of torchvision's (nearest, fill 0)
 *                  on the block grid: each output block's centre mapped into the input,
 *                  the four nearest blocks' coefficients interpolated bilinearly (a
 *                  whole-block translation is exact), a centre outside the picture black
 *
 * Clipping: torchvision clamps to 0..255; coefficients cannot be clamped without decoding,
 * so what goes past the range stays past it.
 */
#include <math.h>
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
static void affine3(float *x, const layout *L, const double A[3][3], const double d[3]) {
  double o[3];
  for (int c = 0; c < 3; c++) o[c] = 8.0 * (A[c][0] * 128.0 + d[c] - (c == 0 ? 128.0 : 0.0));
  if (A[0][1] == 0 && A[0][2] == 0 && A[1][0] == 0 && A[1][2] == 0 && A[2][0] == 0 &&
      A[2][1] == 0) { /* diagonal (all but autocontrast): a scale per channel */
    for (int c = 0; c < 3; c++)
      for (int f = 0; f < 64; f++) {
        if (L->at[c][f] < 0) continue;
        float *p = x + (size_t)L->at[c][f] * L->n;
        const float g = (float)A[c][c], add = (float)(f == 0 ? o[c] : 0.0);
        for (size_t i = 0; i < L->n; i++) p[i] = p[i] * g + add;
      }
    return;
  }
  for (int f = 0; f < 64; f++) {
    float *p[3];
    int any = 0;
    for (int c = 0; c < 3; c++) {
      p[c] = L->at[c][f] < 0 ? NULL : x + (size_t)L->at[c][f] * L->n;
      any |= p[c] != NULL;
    }
    if (!any) continue;
    for (size_t i = 0; i < L->n; i++) {
      const double v[3] = {p[0] ? p[0][i] : 0.0, p[1] ? p[1][i] : 0.0, p[2] ? p[2][i] : 0.0};
      for (int c = 0; c < 3; c++)
        if (p[c])
          p[c][i] = (float)(A[c][0] * v[0] + A[c][1] * v[1] + A[c][2] * v[2] +
                            (f == 0 ? o[c] : 0.0));
    }
  }
}

static void diagonal(double A[3][3], double y, double chroma) {
  memset(A, 0, 9 * sizeof(double));
  A[0][0] = y;
  A[1][1] = A[2][2] = chroma;
}

static double mean_luma(const float *x, const layout *L) {
  const float *dc = x + (size_t)L->at[0][0] * L->n;
  double s = 0;
  for (size_t i = 0; i < L->n; i++) s += dc[i];
  return s / (double)L->n / 8.0 + 128.0;
}

/* Block i's RGB mean (from the three DCs; a missing chroma DC is grey) and the spread of
 * its luma around it (sqrt of the luma AC energy / 64: the DCT is orthonormal). */
static void block_stats(const float *x, const layout *L, size_t i, double rgb[3], double *spread) {
  double v[3] = {x[(size_t)L->at[0][0] * L->n + i] / 8.0 + 128.0, 0.0, 0.0};
  double e = 0;
  for (int c = 1; c < 3; c++)
    if (L->at[c][0] >= 0) v[c] = x[(size_t)L->at[c][0] * L->n + i] / 8.0;
  for (int c = 0; c < 3; c++) rgb[c] = RGB_OF[c][0] * v[0] + RGB_OF[c][1] * v[1] + RGB_OF[c][2] * v[2];
  for (int f = 1; f < 64; f++)
    if (L->at[0][f] >= 0) {
      const double a = x[(size_t)L->at[0][f] * L->n + i];
      e += a * a;
    }
  *spread = sqrt(e / 64.0);
}

static double clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* PIL's ImageOps.autocontrast (cutoff 0): per RGB channel (v - lo) * 255 / (hi - lo),
 * lo / hi the channel's extremes (a flat channel is kept). The extremes here: the blocks'
 * means -+ sqrt(3) x their spread (a block's values as if uniform around its mean). */
static void autocontrast(float *x, const layout *L) {
  double lo[3] = {255, 255, 255}, hi[3] = {0, 0, 0}, s[3], A[3][3], tmp[3][3], d[3];
  for (size_t i = 0; i < L->n; i++) {
    double rgb[3], spread;
    block_stats(x, L, i, rgb, &spread);
    for (int c = 0; c < 3; c++) {
      lo[c] = fmin(lo[c], clamp255(rgb[c] - 1.7320508 * spread));
      hi[c] = fmax(hi[c], clamp255(rgb[c] + 1.7320508 * spread));
    }
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
  double *per = work + 3 * 256; /* per block: 9 (the AC map) + 3 (the new DC levels) */
  long long hist[3][256];
  memset(hist, 0, sizeof hist);
  for (size_t i = 0; i < L->n; i++) {
    double rgb[3], spread;
    block_stats(x, L, i, rgb, &spread);
    for (int c = 0; c < 3; c++) {
      hist[c][(int)lrint(clamp255(rgb[c] - spread))] += 32;
      hist[c][(int)lrint(clamp255(rgb[c] + spread))] += 32;
    }
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
    double rgb[3], spread, slope[3], mean[3], tmp[3][3], A[3][3];
    block_stats(x, L, i, rgb, &spread);
    const double r = spread < 0.5 ? 0.5 : spread;
    for (int c = 0; c < 3; c++) {
      const double a = lut_at(lut + c * 256, rgb[c] - r), b = lut_at(lut + c * 256, rgb[c] + r);
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
  for (int f = 0; f < 64; f++) {
    float *p[3];
    for (int c = 0; c < 3; c++) p[c] = L->at[c][f] < 0 ? NULL : x + (size_t)L->at[c][f] * L->n;
    if (!p[0] && !p[1] && !p[2]) continue;
    for (size_t i = 0; i < L->n; i++) {
      const double *m = per + 12 * i;
      const double v[3] = {p[0] ? p[0][i] : 0.0, p[1] ? p[1][i] : 0.0, p[2] ? p[2][i] : 0.0};
      for (int c = 0; c < 3; c++) {
        if (!p[c]) continue;
        p[c][i] = (float)(f == 0 ? 8.0 * (m[9 + c] - (c == 0 ? 128.0 : 0.0))
                                 : m[3 * c] * v[0] + m[3 * c + 1] * v[1] + m[3 * c + 2] * v[2]);
      }
    }
  }
}

/* torchvision's adjust_sharpness: f x + (1 - f) smooth(x), smooth the 3x3 kernel
 * [[1,1,1],[1,5,1],[1,1,1]] / 13 = (4 identity + box3 x box3) / 13; box3 scales a DCT
 * cosine of frequency k by 1 + 2 cos(pi k / 8) where its neighbours lie in the block. */
static void sharpness(float *x, const layout *L, double f) {
  for (int c = 0; c < 3; c++)
    for (int q = 0; q < 64; q++) {
      if (L->at[c][q] < 0) continue;
      const double u = q / 8, v = q % 8;
      const double smooth = (4.0 + (1.0 + 2.0 * cos(M_PI * u / 8)) * (1.0 + 2.0 * cos(M_PI * v / 8))) / 13.0;
      const float g = (float)(f + (1.0 - f) * smooth);
      float *p = x + (size_t)L->at[c][q] * L->n;
      for (size_t i = 0; i < L->n; i++) p[i] *= g;
    }
}

/* torchvision's solarize(t): 255 - v where v >= t; here a block whose mean luma reaches t
 * is inverted whole (every coefficient negated, its luma DC less 8), the others kept. */
static void solarize(float *x, const layout *L, double threshold) {
  const float *dc = x + (size_t)L->at[0][0] * L->n;
  for (size_t i = 0; i < L->n; i++) {
    if (!(dc[i] / 8.0 + 128.0 >= threshold)) continue;
    for (int k = 0; k < L->count; k++) x[(size_t)k * L->n + i] = -x[(size_t)k * L->n + i];
    x[(size_t)L->at[0][0] * L->n + i] -= 8.0f; /* 255 - Y: 8 (127 - Y) = -DC - 8 */
  }
}

/* The 1-D DCT of an 8-pixel window that starts s pixels into block A and runs on into
 * block B, from the two blocks' coefficients: window = a[s] A + b[s] B, with a[s][u][k] =
 * sum_i C[u][i] C[k][i + s] over the window's pixels in A, b likewise over those in B
 * (C the orthonormal 8-point DCT-II, JPEG's). Stored transposed, [s][k][u], so that the
 * warp's inner loops run over u, 8 floats in a row. */
typedef struct {
  float a[8][8][8], b[8][8][8];
} shift_tables;

static void shift_tables_make(shift_tables *t) {
  double C[8][8];
  for (int u = 0; u < 8; u++)
    for (int i = 0; i < 8; i++)
      C[u][i] = (u == 0 ? sqrt(0.125) : 0.5) * cos((2 * i + 1) * u * M_PI / 16.0);
  for (int s = 0; s < 8; s++)
    for (int u = 0; u < 8; u++)
      for (int k = 0; k < 8; k++) {
        double a = 0, b = 0;
        for (int i = 0; i < 8; i++) {
          if (i + s < 8)
            a += C[u][i] * C[k][i + s];
          else
            b += C[u][i] * C[k][i + s - 8];
        }
        t->a[s][k][u] = (float)a;
        t->b[s][k][u] = (float)b;
      }
}

/* One component's channels as the warp visits them. */
typedef struct {
  int in_ch[64], in_k[64];     /* the mask's coefficients, column by column (k vertical) */
  int n_l, l_list[8], l_end[8]; /* input columns the mask holds; column j's entries end
                                 * at l_end[j] */
  int n_v, v_list[8], v_end[8]; /* window columns the outputs read, and their outputs */
  int out_ch[64], out_u[64];
  float out_sign[64];
  int n_out;
} warp_component;

static void warp_component_make(const layout *L, int c, int rot, warp_component *wc) {
  int n = 0;
  wc->n_l = wc->n_v = 0;
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
static void warp(float *x, const layout *L, const double M[6], int rot, float *copy) {
  const int h = L->h, w = L->w;
  shift_tables t;
  warp_component wc[3];
  float black[FL_MAX_CHANNELS];
  shift_tables_make(&t);
  for (int c = 0; c < 3; c++) warp_component_make(L, c, rot, &wc[c]);
  /* the input block by block ([block][channel]), so a block's coefficients lie together */
  for (int k = 0; k < L->count; k++) {
    const float *src = x + (size_t)k * L->n;
    black[k] = 0.0f;
    for (size_t i = 0; i < L->n; i++) copy[i * (size_t)L->count + k] = src[i];
  }
  if (L->at[0][0] >= 0) black[L->at[0][0]] = BLACK_DC;
  for (int by = 0; by < h; by++)
    for (int bx = 0; bx < w; bx++) {
      const double px = 8.0 * bx + 4.0, py = 8.0 * by + 4.0;
      const double xi = M[0] * px + M[1] * py + M[2], yi = M[3] * px + M[4] * py + M[5];
      const size_t o = (size_t)by * w + bx;
      /* the window's corner, to the nearest pixel, and the blocks it straddles */
      const double cx = floor(xi - 3.5), cy = floor(yi - 3.5);
      const double fbx = floor(cx / 8.0), fby = floor(cy / 8.0);
      const int sx = (int)(cx - 8.0 * fbx), sy = (int)(cy - 8.0 * fby);
      const long bx0 = (long)fbx, by0 = (long)fby;
      const int nx = sx ? 2 : 1, ny = sy ? 2 : 1;
      const float *blk[2][2]; /* [qy][qx] */
      for (int qy = 0; qy < ny; qy++)
        for (int qx = 0; qx < nx; qx++) {
          const long sbx = bx0 + qx, sby = by0 + qy;
          blk[qy][qx] = sbx >= 0 && sbx < w && sby >= 0 && sby < h
                            ? copy + ((size_t)sby * w + (size_t)sbx) * (size_t)L->count
                            : black;
        }
      for (int c = 0; c < 3; c++) {
        const warp_component *p = &wc[c];
        float z[2][8][8]; /* [qx][l][u]: each column of blocks through the vertical tables */
        if (p->n_out == 0) continue;
        for (int qx = 0; qx < nx; qx++)
          for (int j = 0, e = 0; j < p->n_l; j++) {
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (; e < p->l_end[j]; e++)
              for (int qy = 0; qy < ny; qy++) {
                const float v = blk[qy][qx][p->in_ch[e]];
                const float *hk = (qy == 0 ? t.a[sy] : t.b[sy])[p->in_k[e]];
                for (int u = 0; u < 8; u++) acc[u] += hk[u] * v;
              }
            memcpy(z[qx][p->l_list[j]], acc, sizeof acc);
          }
        for (int i = 0, e = 0; i < p->n_v; i++) {
          const int v = p->v_list[i];
          float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int qx = 0; qx < nx; qx++) {
            const float(*hx)[8] = qx == 0 ? t.a[sx] : t.b[sx];
            for (int j = 0; j < p->n_l; j++) {
              const int l = p->l_list[j];
              const float g = hx[l][v];
              for (int u = 0; u < 8; u++) acc[u] += g * z[qx][l][u];
            }
          }
          for (; e < p->v_end[i]; e++)
            x[(size_t)p->out_ch[e] * L->n + o] = p->out_sign[e] * acc[p->out_u[e]];
        }
      }
    }
}

size_t fl_ops_work_doubles(const fl_channel_spec *spec) {
  const size_t n = (size_t)spec->out_h * (size_t)spec->out_w;
  const size_t copy = ((size_t)spec->count * n + 1) / 2; /* warp's float copy */
  const size_t eq = 3 * 256 + 12 * n;
  return copy > eq ? copy : eq;
}

void fl_ops_apply(const fl_channel_spec *spec, const fl_op *ops, int num_ops, float *x,
                  double *work) {
  layout L;
  double A[3][3];
  const double zero[3] = {0, 0, 0};
  layout_of(spec, &L);
  const double W = 8.0 * L.w, H = 8.0 * L.h;
  for (int k = 0; k < num_ops; k++) {
    const double m = ops[k].magnitude;
    switch (ops[k].op) {
    case FL_OP_BRIGHTNESS: /* f = 1 + m */
      diagonal(A, 1 + m, 1 + m);
      affine3(x, &L, A, zero);
      break;
    case FL_OP_COLOR:
      diagonal(A, 1, 1 + m);
      affine3(x, &L, A, zero);
      break;
    case FL_OP_CONTRAST: {
      const double d[3] = {-m * mean_luma(x, &L), 0, 0}; /* (1 - f) x mean, f = 1 + m */
      diagonal(A, 1 + m, 1 + m);
      affine3(x, &L, A, d);
      break;
    }
    case FL_OP_SHARPNESS:
      sharpness(x, &L, 1 + m);
      break;
    case FL_OP_HUE: { /* (Cb, Cr) turned by 2 pi m: a YCbCr hue (torchvision's is HSV's) */
      const double t = 2.0 * M_PI * m;
      memset(A, 0, sizeof A);
      A[0][0] = 1;
      A[1][1] = A[2][2] = cos(t);
      A[1][2] = -sin(t);
      A[2][1] = sin(t);
      affine3(x, &L, A, zero);
      break;
    }
    case FL_OP_GRAYSCALE: /* rgb_to_grayscale(num_output_channels=3): JPEG's Y, chroma 0 */
      diagonal(A, 1, 0);
      affine3(x, &L, A, zero);
      break;
    case FL_OP_POSTERIZE: { /* floor to multiples of q: the mean shift -(q - 1) / 2 */
      const double d[3] = {-(ldexp(1.0, 8 - (int)lrint(m)) - 1) / 2, 0, 0};
      diagonal(A, 1, 1);
      affine3(x, &L, A, d);
      break;
    }
    case FL_OP_SOLARIZE:
      solarize(x, &L, 255.0 * m);
      break;
    case FL_OP_AUTOCONTRAST:
      autocontrast(x, &L);
      break;
    case FL_OP_EQUALIZE:
      equalize(x, &L, work);
      break;
    case FL_OP_TRANSLATE_X: { /* affine(translate=[int(m), 0]) */
      const double M[6] = {1, 0, -trunc(m), 0, 1, 0};
      warp(x, &L, M, 0, (float *)work);
      break;
    }
    case FL_OP_TRANSLATE_Y: {
      const double M[6] = {1, 0, 0, 0, 1, -trunc(m)};
      warp(x, &L, M, 0, (float *)work);
      break;
    }
    case FL_OP_SHEAR_X: { /* affine(shear=[degrees(atan(m)), 0], center=[0, 0]) */
      const double M[6] = {1, m, 0, 0, 1, 0};
      warp(x, &L, M, 0, (float *)work);
      break;
    }
    case FL_OP_SHEAR_Y: {
      const double M[6] = {1, 0, 0, m, 1, 0};
      warp(x, &L, M, 0, (float *)work);
      break;
    }
    case FL_OP_ROTATE: { /* rotate(m degrees), counter-clockwise about the centre */
      const double t = m * M_PI / 180.0, c = cos(t), s = sin(t);
      const double M[6] = {c, -s, W / 2 - c * W / 2 + s * H / 2,
                           s, c, H / 2 - s * W / 2 - c * H / 2};
      const int quarter = (int)(((lround(m / 90.0) % 4) + 4) % 4);
      warp(x, &L, M, quarter, (float *)work);
      break;
    }
    default: /* identity */
      break;
    }
  }
}

int fl_policy_sample(const fl_policy *p, const fl_jitter *j, const fl_channel_spec *spec,
                     uint64_t key, int16_t *out, float *x, double *work) {
  fl_op ops[FL_POLICY_MAX_OPS + 5];
  const size_t total = (size_t)spec->count * (size_t)spec->out_h * (size_t)spec->out_w;
  int count = fl_policy_draw(p, key, 8 * spec->out_h, 8 * spec->out_w, ops);
  int moves = 0;
  count += fl_jitter_ops(j, key, ops + count);
  for (int k = 0; k < count; k++) moves |= ops[k].op != FL_OP_IDENTITY;
  if (!moves) return count;
  for (size_t i = 0; i < total; i++) x[i] = out[i];
  fl_ops_apply(spec, ops, count, x, work);
  for (size_t i = 0; i < total; i++) {
    const float v = rintf(x[i]);
    out[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : v);
  }
  return count;
}
