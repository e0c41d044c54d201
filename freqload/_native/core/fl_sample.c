/*
 * One training sample: crop or pad the coefficient grids to a fixed block
 * size, then regroup (fl_to_channels). fl_decode_channels goes from JPEG
 * bytes to the sample in one call, in decoder-owned planes; it is what the
 * DALI operator and the torch engine's workers run for every image.
 */
#include "fl_core.h"
#include "fl_internal.h"

#include <stdio.h>
#include <string.h>

/* Planes bigger than this are given back after the image (a 100 MP photo
 * would otherwise pin 600 MB per thread). */
#define FL_SCRATCH_KEEP ((size_t)64 << 20)

static int gcd(int a, int b) {
  while (b) {
    int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static void centre_1d(int n, int out, int align, int *start, int *count, int *dst) {
  if (n >= out) {
    *start = ((n - out) / 2) / align * align;
    *count = out;
    *dst = 0;
  } else {
    *start = 0;
    *count = n;
    *dst = (out - n) / 2;
  }
}

fl_window fl_centre_window(int h8, int w8, int out_h, int out_w, int align_y,
                           int align_x) {
  fl_window w;
  centre_1d(h8, out_h, align_y > 0 ? align_y : 1, &w.y0, &w.rows, &w.dy);
  centre_1d(w8, out_w, align_x > 0 ? align_x : 1, &w.x0, &w.cols, &w.dx);
  return w;
}

fl_status fl_sample_channels(const fl_coef_view *comps, int num_components,
                             const fl_channel_spec *spec, int16_t *out,
                             char *message, size_t message_size) {
  fl_coef_view view[3];
  fl_window win;
  fl_out o;
  int ay = 1, ax = 1, c;
  if (num_components < 1 || num_components > 3 || spec->out_h < 1 || spec->out_w < 1) {
    snprintf(message, message_size, "need 1 to 3 components and an output of at least 1x1 blocks");
    return FL_ERR_ARGUMENT;
  }
  /* an MCU in luma blocks: the crop must not split a chroma block */
  for (c = 1; c < num_components; c++) {
    int fv = comps[c].v_samp > 0 ? comps[0].v_samp / comps[c].v_samp : 1;
    int fh = comps[c].h_samp > 0 ? comps[0].h_samp / comps[c].h_samp : 1;
    if (fv > 0) ay = ay / gcd(ay, fv) * fv;
    if (fh > 0) ax = ax / gcd(ax, fh) * fh;
  }
  win = fl_centre_window(comps[0].blocks_h, comps[0].blocks_w, spec->out_h, spec->out_w, ay, ax);
  for (c = 0; c < num_components; c++) {
    int fv = comps[c].v_samp > 0 && comps[0].v_samp >= comps[c].v_samp
                 ? comps[0].v_samp / comps[c].v_samp : 1;
    int fh = comps[c].h_samp > 0 && comps[0].h_samp >= comps[c].h_samp
                 ? comps[0].h_samp / comps[c].h_samp : 1;
    int cy0 = win.y0 / fv, cx0 = win.x0 / fh;
    int ch = (win.rows + fv - 1) / fv, cw = (win.cols + fh - 1) / fh;
    view[c] = comps[c];
    if (cy0 >= comps[c].blocks_h) cy0 = comps[c].blocks_h - 1;
    if (cx0 >= comps[c].blocks_w) cx0 = comps[c].blocks_w - 1;
    if (ch > comps[c].blocks_h - cy0) ch = comps[c].blocks_h - cy0;
    if (cw > comps[c].blocks_w - cx0) cw = comps[c].blocks_w - cx0;
    view[c].data = comps[c].data + (ptrdiff_t)cy0 * comps[c].row_stride + (ptrdiff_t)cx0 * 64;
    view[c].blocks_h = ch;
    view[c].blocks_w = cw;
  }
  if (win.rows < spec->out_h || win.cols < spec->out_w)
    memset(out, 0, (size_t)spec->count * spec->out_h * spec->out_w * sizeof(int16_t));
  o.data = out + (ptrdiff_t)win.dy * spec->out_w + win.dx;
  o.plane_stride = (ptrdiff_t)spec->out_h * spec->out_w;
  o.row_stride = spec->out_w;
  return fl_to_channels(view, num_components, spec->component, spec->coef, spec->count,
                        spec->dequantize, spec->chroma, &o, message, message_size);
}

fl_status fl_decode_channels(fl_decoder *d, const uint8_t *data, size_t size,
                             const fl_options *opts, const fl_channel_spec *spec,
                             int16_t *out, fl_info *info_out) {
  fl_options o = opts ? *opts : (fl_options){0, 1, 1};
  fl_info info;
  fl_plane planes[3];
  fl_coef_view views[3];
  uint16_t quant[3][64];
  size_t total = 0, offset = 0;
  int16_t *base;
  fl_status st;
  int c;
  o.require_coefficients = 1; /* at most 3 components from here on */
  st = fl_begin(d, data, size, &o, &info);
  if (info_out) *info_out = info;
  if (st != FL_OK) return st;
  for (c = 0; c < info.num_components; c++)
    total += (size_t)info.comp[c].alloc_blocks_h * info.comp[c].alloc_blocks_w * 64;
  base = fl_decoder_scratch(d, total);
  if (base == NULL) {
    fl_end(d);
    snprintf(fl_decoder_message_buffer(d), FL_MESSAGE_MAX, "out of memory");
    return FL_ERR_NOMEM;
  }
  for (c = 0; c < info.num_components; c++) {
    const fl_component *ci = &info.comp[c];
    planes[c].data = base + offset;
    planes[c].rows = ci->alloc_blocks_h;
    planes[c].cols = ci->alloc_blocks_w;
    planes[c].row_stride = (ptrdiff_t)ci->alloc_blocks_w * 64;
    offset += (size_t)ci->alloc_blocks_h * ci->alloc_blocks_w * 64;
  }
  st = fl_read_coefficients(d, planes, info.num_components, quant);
  if (st == FL_OK) {
    for (c = 0; c < info.num_components; c++) {
      views[c].data = planes[c].data;
      views[c].row_stride = planes[c].row_stride;
      views[c].blocks_h = info.comp[c].blocks_h;
      views[c].blocks_w = info.comp[c].blocks_w;
      views[c].h_samp = info.comp[c].h_samp;
      views[c].v_samp = info.comp[c].v_samp;
      views[c].quant = quant[c];
    }
    st = fl_sample_channels(views, info.num_components, spec, out,
                            fl_decoder_message_buffer(d), FL_MESSAGE_MAX);
  }
  fl_decoder_trim_scratch(d, FL_SCRATCH_KEEP);
  return st;
}
