/*
 * Orientation in the DCT domain (EXIF orientation 1..8), exact.
 *
 * The upright picture U is the stored picture S mirrored (horizontally: mh, vertically:
 * mv), then transposed (tr) for the orientations that swap width and height:
 *
 *   orientation  1    2    3       4    5    6    7          8
 *   mh, mv, tr   -    mh   mh mv   mv   tr   mv tr  mh mv tr   mh tr
 *
 * On coefficients: a mirror reverses the block columns (rows) and negates the odd
 * horizontal (vertical) frequencies; a transpose swaps the block grid's axes, each
 * block's frequencies (u, v) -> (v, u), the sampling factors and the quant tables. As
 * jpegtran -trim, a mirrored axis is first trimmed to whole MCUs, so chroma blocks stay
 * whole and aligned (an image smaller than one MCU along it keeps its one, padded MCU).
 */
#include "fl_core.h"

#include <stdio.h>
#include <string.h>

void fl_orientation_ops(int orientation, int *mh, int *mv, int *tr) {
  static const int ops[9][3] = {{0, 0, 0}, {0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {0, 1, 0},
                                {0, 0, 1}, {0, 1, 1}, {1, 1, 1}, {1, 0, 1}};
  const int o = orientation >= 1 && orientation <= 8 ? orientation : 1;
  *mh = ops[o][0];
  *mv = ops[o][1];
  *tr = ops[o][2];
}

/* pixels of an axis kept when mirrored: whole MCUs (at least one, padded) */
static int trimmed(int pixels, int mcu) {
  const int whole = pixels / mcu * mcu;
  return whole > 0 ? whole : mcu;
}

static int blocks_of(int pixels, int samp, int max_samp) {
  const long long comp_pixels = ((long long)pixels * samp + max_samp - 1) / max_samp;
  return (int)((comp_pixels + 7) / 8);
}

fl_status fl_orient_plan(const fl_coef_view *in, int num_components, int width, int height,
                         int orientation, fl_oriented *g, char *message, size_t message_size) {
  int c, max_h = 1, max_v = 1, sw, sh;
  memset(g, 0, sizeof *g);
  if (num_components < 1 || num_components > 3 || width < 1 || height < 1 || orientation < 1 ||
      orientation > 8) {
    snprintf(message, message_size, "orient: bad arguments (orientation must be 1..8)");
    return FL_ERR_ARGUMENT;
  }
  fl_orientation_ops(orientation, &g->mh, &g->mv, &g->tr);
  for (c = 0; c < num_components; c++) {
    if (in[c].h_samp > max_h) max_h = in[c].h_samp;
    if (in[c].v_samp > max_v) max_v = in[c].v_samp;
  }
  sw = g->mh ? trimmed(width, 8 * max_h) : width; /* the stored picture kept */
  sh = g->mv ? trimmed(height, 8 * max_v) : height;
  g->num_components = num_components;
  g->width = g->tr ? sh : sw;
  g->height = g->tr ? sw : sh;
  for (c = 0; c < num_components; c++) {
    const fl_coef_view *v = &in[c];
    const int bw = blocks_of(sw, v->h_samp, max_h), bh = blocks_of(sh, v->v_samp, max_v);
    if ((g->mh && bw > ((v->blocks_w + v->h_samp - 1) / v->h_samp) * v->h_samp) ||
        (g->mv && bh > ((v->blocks_h + v->v_samp - 1) / v->v_samp) * v->v_samp)) {
      snprintf(message, message_size, "orient: component %d has too few blocks", c);
      return FL_ERR_ARGUMENT;
    }
    g->src_w[c] = bw;
    g->src_h[c] = bh;
    g->h_samp[c] = g->tr ? v->v_samp : v->h_samp;
    g->v_samp[c] = g->tr ? v->h_samp : v->v_samp;
    g->blocks_w[c] = g->tr ? bh : bw;
    g->blocks_h[c] = g->tr ? bw : bh;
    g->alloc_w[c] = (g->blocks_w[c] + g->h_samp[c] - 1) / g->h_samp[c] * g->h_samp[c];
    g->alloc_h[c] = (g->blocks_h[c] + g->v_samp[c] - 1) / g->v_samp[c] * g->v_samp[c];
  }
  return FL_OK;
}

void fl_orient_fill(const fl_coef_view *in, const fl_oriented *g, const fl_plane *out,
                    uint16_t quant_out[][64]) {
  int c, k, by, bx;
  int from[64], sign[64]; /* output frequency k takes source frequency from[k] * sign[k] */
  for (k = 0; k < 64; k++) {
    const int u = k / 8, v = k % 8;              /* vertical, horizontal frequency */
    const int ru = g->tr ? v : u, rv = g->tr ? u : v; /* in the mirrored stored frame */
    from[k] = 8 * ru + rv;
    sign[k] = ((g->mv && (ru & 1)) ^ (g->mh && (rv & 1))) ? -1 : 1;
  }
  for (c = 0; c < g->num_components; c++) {
    const fl_coef_view *v = &in[c];
    const int sh = g->src_h[c], sw = g->src_w[c];
    for (k = 0; k < 64; k++) quant_out[c][k] = v->quant[from[k]];
    for (by = 0; by < g->alloc_h[c]; by++) {
      int16_t *dst = out[c].data + (ptrdiff_t)by * out[c].row_stride;
      for (bx = 0; bx < g->alloc_w[c]; bx++, dst += 64) {
        int ry = g->tr ? bx : by, rx = g->tr ? by : bx; /* the block in the mirrored frame */
        const int16_t *src;
        if (ry >= sh) ry = sh - 1; /* MCU padding past the kept blocks: the edge block */
        if (rx >= sw) rx = sw - 1;
        ry = g->mv ? sh - 1 - ry : ry;
        rx = g->mh ? sw - 1 - rx : rx;
        if (ry >= v->blocks_h) ry = v->blocks_h - 1; /* a padded MCU the view lacks */
        if (rx >= v->blocks_w) rx = v->blocks_w - 1;
        src = v->data + (ptrdiff_t)ry * v->row_stride + (ptrdiff_t)rx * 64;
        for (k = 0; k < 64; k++) dst[k] = (int16_t)(sign[k] * src[from[k]]);
      }
    }
  }
}
