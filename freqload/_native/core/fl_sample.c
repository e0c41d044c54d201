/*
 * One training sample: crop or pad the coefficient grids to a fixed block
 * size, then regroup (fl_to_channels). fl_decode_channels goes from JPEG
 * bytes to the sample in one call, in decoder-owned planes; it is what the
 * DALI operator and the torch engine's workers run for every image.
 */
#include "fl_core.h"
#include "fl_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Planes bigger than this are given back after the image: a thread keeps the planes of
 * images up to ~1.4 MP (4 MB; ImageNet's median photo needs 0.55 MB) between images, so a
 * rare large photo (a 100 MP one needs 600 MB) does not stay pinned in every thread. */
#define FL_SCRATCH_KEEP ((size_t)4 << 20)

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

/* Zero what the window leaves of each output plane (only that: the rest is written). */
static void zero_padding(int16_t *out, const fl_channel_spec *spec, const fl_window *win) {
  const size_t plane = (size_t)spec->out_h * spec->out_w;
  int k, y;
  for (k = 0; k < spec->count; k++) {
    int16_t *p = out + k * plane;
    if (win->dy > 0) memset(p, 0, (size_t)win->dy * spec->out_w * sizeof(int16_t));
    for (y = win->dy; y < win->dy + win->rows; y++) {
      int16_t *row = p + (size_t)y * spec->out_w;
      if (win->dx > 0) memset(row, 0, (size_t)win->dx * sizeof(int16_t));
      if (win->dx + win->cols < spec->out_w)
        memset(row + win->dx + win->cols, 0,
               (size_t)(spec->out_w - win->dx - win->cols) * sizeof(int16_t));
    }
    if (win->dy + win->rows < spec->out_h)
      memset(p + (size_t)(win->dy + win->rows) * spec->out_w, 0,
             (size_t)(spec->out_h - win->dy - win->rows) * spec->out_w * sizeof(int16_t));
  }
}

/* The luma window for spec on a grid of components with blocks_h[c] x blocks_w[c]
 * blocks sampled h_samp[c] x v_samp[c], and per component the blocks it keeps
 * (chroma blocks whole): rows [cy0[c], cy0[c] + ch[c]), columns [cx0[c], + cw[c]),
 * with its factors to the luma grid in fv[c], fh[c]. */
static fl_status crop_grid(int num_components, const int *blocks_h, const int *blocks_w,
                           const int *h_samp, const int *v_samp, const fl_channel_spec *spec,
                           fl_window *win, int *fv, int *fh, int *cy0, int *cx0, int *ch,
                           int *cw, char *message, size_t message_size) {
  int ay = 1, ax = 1, c;
  if (num_components < 1 || num_components > 3 || spec->out_h < 1 || spec->out_w < 1) {
    snprintf(message, message_size, "need 1 to 3 components and an output of at least 1x1 blocks");
    return FL_ERR_ARGUMENT;
  }
  for (c = 0; c < num_components; c++) {
    fv[c] = v_samp[c] > 0 && v_samp[0] >= v_samp[c] ? v_samp[0] / v_samp[c] : 1;
    fh[c] = h_samp[c] > 0 && h_samp[0] >= h_samp[c] ? h_samp[0] / h_samp[c] : 1;
    /* an MCU in luma blocks: the crop must not split a chroma block */
    ay = ay / gcd(ay, fv[c]) * fv[c];
    ax = ax / gcd(ax, fh[c]) * fh[c];
  }
  *win = fl_centre_window(blocks_h[0], blocks_w[0], spec->out_h, spec->out_w, ay, ax);
  for (c = 0; c < num_components; c++) {
    cy0[c] = win->y0 / fv[c];
    cx0[c] = win->x0 / fh[c];
    ch[c] = (win->rows + fv[c] - 1) / fv[c];
    cw[c] = (win->cols + fh[c] - 1) / fh[c];
    if (cy0[c] >= blocks_h[c]) cy0[c] = blocks_h[c] - 1;
    if (cx0[c] >= blocks_w[c]) cx0[c] = blocks_w[c] - 1;
    if (ch[c] > blocks_h[c] - cy0[c]) ch[c] = blocks_h[c] - cy0[c];
    if (cw[c] > blocks_w[c] - cx0[c]) cw[c] = blocks_w[c] - cx0[c];
  }
  return FL_OK;
}

/* crop_grid on coefficient views: view[c] is component c cropped to the window. */
static fl_status crop_views(const fl_coef_view *comps, int num_components,
                            const fl_channel_spec *spec, fl_coef_view *view, int *fv, int *fh,
                            fl_window *win, char *message, size_t message_size) {
  int bh[3] = {0}, bw[3] = {0}, hs[3] = {0}, vs[3] = {0}, cy0[3], cx0[3], ch[3], cw[3], c;
  fl_status st;
  for (c = 0; c < num_components && c < 3; c++) {
    bh[c] = comps[c].blocks_h;
    bw[c] = comps[c].blocks_w;
    hs[c] = comps[c].h_samp;
    vs[c] = comps[c].v_samp;
  }
  st = crop_grid(num_components, bh, bw, hs, vs, spec, win, fv, fh, cy0, cx0, ch, cw, message,
                 message_size);
  if (st != FL_OK) return st;
  for (c = 0; c < num_components; c++) {
    view[c] = comps[c];
    view[c].data = comps[c].data + (ptrdiff_t)cy0[c] * comps[c].row_stride +
                   (ptrdiff_t)cx0[c] * 64;
    view[c].blocks_h = ch[c];
    view[c].blocks_w = cw[c];
  }
  return FL_OK;
}

/* What a sample takes from its image, decided once per image (before decoding, so
 * the decoder knows which rows it needs): kind 0 = the centre window
 * (FL_TRANSFORM_BLOCKS), 2 = the same of the coefficients oriented upright
 * (`orientation` > 1), 1 = `box` (stored picture's pixels) resized, `flags`
 * (fl_resize_channels: mirrors, transpose) on the output, -1 = an unknown transform. */
typedef struct {
  int kind;
  fl_box box;
  int flags;
  int orientation;
} sample_plan;

static sample_plan plan_sample(const fl_channel_spec *spec, int width, int height,
                               int orientation, uint64_t key) {
  sample_plan p;
  fl_box up; /* the box in the upright picture */
  int mh, mv, tr, flip = 0;
  const int o = spec->orient && orientation >= 1 && orientation <= 8 ? orientation : 1;
  const int uw = o >= 5 ? height : width, uh = o >= 5 ? width : height;
  memset(&p, 0, sizeof p);
  p.orientation = o;
  switch (spec->transform.kind) {
    case FL_TRANSFORM_BLOCKS:
      p.kind = o > 1 ? 2 : 0;
      return p;
    case FL_TRANSFORM_EVAL:
      fl_eval_box(uh, uw, spec->out_h, spec->out_w, spec->transform.crop_ratio, &up);
      break;
    case FL_TRANSFORM_TRAIN:
      flip = fl_random_resized_crop(key, uh, uw, &spec->transform, &up);
      break;
    default:
      p.kind = -1;
      return p;
  }
  /* upright = transpose?(mirrors(stored)): the box back through the transpose, then the
   * mirrors; the output gets the same mirrors and transpose, and the train flip (of the
   * upright columns) becomes a mirror of the rows when transposed */
  fl_orientation_ops(o, &mh, &mv, &tr);
  p.kind = 1;
  p.box = up;
  if (tr) {
    p.box.top = up.left;
    p.box.left = up.top;
    p.box.height = up.width;
    p.box.width = up.height;
  }
  if (mv) p.box.top = height - (p.box.top + p.box.height);
  if (mh) p.box.left = width - (p.box.left + p.box.width);
  if (tr) mv ^= flip;
  else mh ^= flip;
  p.flags = (mh ? FL_MIRROR_H : 0) | (mv ? FL_MIRROR_V : 0) | (tr ? FL_TRANSPOSE : 0);
  return p;
}

/* The iMCU region the planned sample reads from an image with this header
 * (fl_read_coefficient_region may stop after its rows, and in freqload's packs start at its
 * first row and pass over the restart intervals outside its columns); all zero: all. */
static fl_imcu_region plan_region(const fl_info *info, const fl_channel_spec *spec,
                                  const sample_plan *p) {
  int bh[3], bw[3], hs[3], vs[3], c, n = info->num_components;
  fl_block_region region[3];
  char message[FL_MESSAGE_MAX];
  fl_imcu_region all = {0, 0, 0, 0}, out = {INT_MAX, 0, INT_MAX, 0};
  if (n < 1 || n > 3) return all;
  for (c = 0; c < n; c++) {
    bh[c] = info->comp[c].blocks_h;
    bw[c] = info->comp[c].blocks_w;
    hs[c] = info->comp[c].h_samp;
    vs[c] = info->comp[c].v_samp;
  }
  if (p->kind == 0) {
    fl_window win;
    int fv[3], fh[3], cy0[3], cx0[3], ch[3], cw[3];
    if (crop_grid(n, bh, bw, hs, vs, spec, &win, fv, fh, cy0, cx0, ch, cw, message,
                  sizeof message) != FL_OK)
      return all;
    for (c = 0; c < n; c++) {
      region[c].top = cy0[c];
      region[c].bottom = cy0[c] + ch[c];
      region[c].left = cx0[c];
      region[c].right = cx0[c] + cw[c];
    }
  } else if (p->kind == 1 && p->box.height > 0 && p->box.width > 0) {
    /* the stored picture's blocks the resize reads: its output rows are out_w and its
     * columns out_h when the output is transposed */
    const int tr = (p->flags & FL_TRANSPOSE) != 0;
    fl_resize_region(n, hs, vs, info->width, info->height, tr ? spec->out_w : spec->out_h,
                     tr ? spec->out_h : spec->out_w, &p->box, region);
  } else { /* kind 2, the oriented blocks, may need any block: read them all */
    return all;
  }
  for (c = 0; c < n; c++) { /* iMCU row r holds rows [r v_samp, (r + 1) v_samp) of component
                               c, and iMCU column x its columns [x h_samp, (x + 1) h_samp) */
    if (vs[c] < 1 || hs[c] < 1) return all;
    if ((region[c].bottom + vs[c] - 1) / vs[c] > out.end_row)
      out.end_row = (region[c].bottom + vs[c] - 1) / vs[c];
    if (region[c].top / vs[c] < out.first_row) out.first_row = region[c].top / vs[c];
    if ((region[c].right + hs[c] - 1) / hs[c] > out.end_col)
      out.end_col = (region[c].right + hs[c] - 1) / hs[c];
    if (region[c].left / hs[c] < out.first_col) out.first_col = region[c].left / hs[c];
  }
  return out;
}

fl_status fl_sample_channels(const fl_coef_view *comps, int num_components,
                             const fl_channel_spec *spec, int16_t *out,
                             char *message, size_t message_size) {
  fl_coef_view view[3];
  int fv[3], fh[3];
  fl_window win;
  fl_out o;
  fl_status st = crop_views(comps, num_components, spec, view, fv, fh, &win, message,
                            message_size);
  if (st != FL_OK) return st;
  if (win.rows < spec->out_h || win.cols < spec->out_w) zero_padding(out, spec, &win);
  o.data = out + (ptrdiff_t)win.dy * spec->out_w + win.dx;
  o.plane_stride = (ptrdiff_t)spec->out_h * spec->out_w;
  o.row_stride = spec->out_w;
  return fl_to_channels(view, num_components, spec->component, spec->coef, spec->count,
                        spec->dequantize, spec->chroma, &o, message, message_size);
}

size_t fl_planes_capacity(const fl_channel_spec *spec) {
  /* luma channels at full size, and per chroma component the larger of its
   * channels at full size or all 64 coefficients at half size (the most a
   * subsampled component can need) */
  size_t hw = (size_t)spec->out_h * spec->out_w, total = 0, n[3] = {0, 0, 0};
  int i, c;
  for (i = 0; i < spec->count; i++)
    if (spec->component[i] < 3) n[spec->component[i]]++;
  total = n[0] * hw;
  for (c = 1; c < 3; c++) {
    size_t half = 64 * (size_t)((spec->out_h + 1) / 2) * spec->out_w;
    size_t alt = 64 * (size_t)spec->out_h * ((spec->out_w + 1) / 2);
    size_t coefs = half > alt ? half : alt;
    total += n[c] == 0 ? 0 : (n[c] * hw > coefs ? n[c] * hw : coefs);
  }
  return total;
}

fl_status fl_sample_planes(const fl_coef_view *comps, int num_components,
                           const fl_channel_spec *spec, int16_t *out, size_t capacity,
                           fl_planes_layout *layout, char *message, size_t message_size) {
  fl_coef_view view[3];
  int fv[3], fh[3], c, i, k;
  size_t offset = 0;
  fl_status st = crop_views(comps, num_components, spec, view, fv, fh, &layout->window, message,
                            message_size);
  if (st != FL_OK) return st;
  layout->num_components = num_components;
  memset(layout->quant, 0, sizeof layout->quant); /* components without planes: zeros */
  for (c = 0; c < 3; c++) {
    fl_plane_group *g = &layout->group[c];
    uint8_t zero[64], coef[64];
    int n = 0;
    memset(g, 0, sizeof *g);
    for (i = 0; i < spec->count; i++)
      if (spec->component[i] == c) {
        zero[n] = 0;
        coef[n++] = spec->coef[i];
      }
    if (c >= num_components || n == 0) continue; /* greyscale chroma / nothing selected */
    g->fv = fv[c];
    g->fh = fh[c];
    g->h = c == 0 ? layout->window.rows : view[c].blocks_h;
    g->w = c == 0 ? layout->window.cols : view[c].blocks_w;
    g->offset = offset;
    for (k = 0; k < 64; k++) layout->quant[c][k] = comps[c].quant[k];
    if (c == 0 || (fv[c] == 1 && fh[c] == 1) || spec->chroma == FL_CHROMA_NEAREST) {
      /* the selected channels on the component's own (cropped) grid */
      fl_coef_view v = view[c];
      fl_out o;
      g->kind = FL_PLANES_CHANNELS;
      g->count = n;
      if (c == 0) {
        v.blocks_h = layout->window.rows;
        v.blocks_w = layout->window.cols;
      }
      v.h_samp = v.v_samp = 1;
      if (offset + (size_t)n * g->h * g->w > capacity) goto full;
      o.data = out + offset;
      o.plane_stride = (ptrdiff_t)g->h * g->w;
      o.row_stride = g->w;
      st = fl_to_channels(&v, 1, zero, coef, n, spec->dequantize, FL_CHROMA_NEAREST, &o,
                          message, message_size);
      if (st != FL_OK) return st;
    } else {
      /* all 64 quantised coefficients, channels first, for the device to upsample */
      int y, x;
      g->kind = FL_PLANES_COEFS;
      g->count = 64;
      if (offset + (size_t)64 * g->h * g->w > capacity) goto full;
      for (y = 0; y < g->h; y++) {
        const int16_t *row = view[c].data + (ptrdiff_t)y * view[c].row_stride;
        for (x = 0; x < g->w; x++)
          for (k = 0; k < 64; k++)
            out[offset + ((size_t)k * g->h + y) * g->w + x] = row[(ptrdiff_t)x * 64 + k];
      }
    }
    offset += (size_t)g->count * g->h * g->w;
  }
  layout->total = offset;
  return FL_OK;
full:
  snprintf(message, message_size, "planes need more than the %zu elements given", capacity);
  return FL_ERR_ARGUMENT;
}

void fl_layout_pack(const fl_planes_layout *l, int32_t *out) {
  int c, k, i = 0;
  out[i++] = l->window.y0;
  out[i++] = l->window.x0;
  out[i++] = l->window.rows;
  out[i++] = l->window.cols;
  out[i++] = l->window.dy;
  out[i++] = l->window.dx;
  out[i++] = l->num_components;
  out[i++] = (int32_t)l->total;
  for (c = 0; c < 3; c++) {
    const fl_plane_group *g = &l->group[c];
    out[i++] = g->kind;
    out[i++] = g->count;
    out[i++] = g->h;
    out[i++] = g->w;
    out[i++] = g->fv;
    out[i++] = g->fh;
    out[i++] = (int32_t)g->offset;
  }
  for (c = 0; c < 3; c++)
    for (k = 0; k < 64; k++) out[i++] = l->quant[c][k];
}

/* header, entropy decode into the decoder's planes, views with quant tables */
static fl_status decode_views(fl_decoder *d, const uint8_t *data, size_t size,
                              const fl_options *opts, const fl_channel_spec *spec, uint64_t key,
                              fl_info *info, fl_coef_view *views, uint16_t quant[3][64],
                              sample_plan *plan) {
  fl_options o = opts ? *opts : (fl_options){0, 1, 1};
  fl_plane planes[3];
  size_t total = 0, offset = 0;
  int16_t *base;
  fl_status st;
  int c;
  fl_imcu_region region = {0, 0, 0, 0}; /* what the sample reads; all zero: all */
  o.require_coefficients = 1; /* at most 3 components from here on */
  st = fl_begin(d, data, size, &o, info);
  if (st != FL_OK) return st;
  *plan = plan_sample(spec, info->width, info->height, info->orientation, key);
  for (c = 0; c < info->num_components; c++)
    total += (size_t)info->comp[c].alloc_blocks_h * info->comp[c].alloc_blocks_w * 64;
  base = fl_decoder_scratch(d, total);
  if (base == NULL) {
    fl_end(d);
    snprintf(fl_decoder_message_buffer(d), FL_MESSAGE_MAX, "out of memory");
    return FL_ERR_NOMEM;
  }
  for (c = 0; c < info->num_components; c++) {
    const fl_component *ci = &info->comp[c];
    planes[c].data = base + offset;
    planes[c].rows = ci->alloc_blocks_h;
    planes[c].cols = ci->alloc_blocks_w;
    planes[c].row_stride = (ptrdiff_t)ci->alloc_blocks_w * 64;
    offset += (size_t)ci->alloc_blocks_h * ci->alloc_blocks_w * 64;
  }
  if (o.partial_decode) region = plan_region(info, spec, plan);
  st = fl_read_coefficient_region(d, planes, info->num_components, quant, &region);
  if (st != FL_OK) return st;
  for (c = 0; c < info->num_components; c++) {
    views[c].data = planes[c].data;
    views[c].row_stride = planes[c].row_stride;
    views[c].blocks_h = info->comp[c].blocks_h;
    views[c].blocks_w = info->comp[c].blocks_w;
    views[c].h_samp = info->comp[c].h_samp;
    views[c].v_samp = info->comp[c].v_samp;
    views[c].quant = quant[c];
  }
  return FL_OK;
}

/* The planned sample from decoded coefficients. */
static fl_status run_plan(const fl_coef_view *comps, int num_components, int width, int height,
                          const fl_channel_spec *spec, const sample_plan *p, fl_workspace *ws,
                          int16_t *out, char *message, size_t message_size) {
  fl_coef_view upright[3];
  fl_status st;
  switch (p->kind) {
    case 0:
      return fl_sample_channels(comps, num_components, spec, out, message, message_size);
    case 2:
      st = fl_orient_views(comps, num_components, &width, &height, p->orientation, ws, upright,
                           message, message_size);
      if (st != FL_OK) return st;
      return fl_sample_channels(upright, num_components, spec, out, message, message_size);
    case 1:
      return fl_resize_channels(comps, num_components, width, height, &p->box, p->flags, spec,
                                ws, out, NULL, message, message_size);
    default:
      snprintf(message, message_size, "unknown transform %d", spec->transform.kind);
      return FL_ERR_ARGUMENT;
  }
}

fl_status fl_sample(const fl_coef_view *comps, int num_components, int width, int height,
                    int orientation, const fl_channel_spec *spec, uint64_t key,
                    fl_workspace *ws, int16_t *out, char *message, size_t message_size) {
  const sample_plan p = plan_sample(spec, width, height, orientation, key);
  return run_plan(comps, num_components, width, height, spec, &p, ws, out, message,
                  message_size);
}

fl_status fl_decode_channels(fl_decoder *d, const uint8_t *data, size_t size,
                             const fl_options *opts, const fl_channel_spec *spec,
                             uint64_t key, int16_t *out, fl_info *info_out) {
  fl_info info = {0};
  fl_coef_view views[3];
  uint16_t quant[3][64];
  sample_plan plan;
  fl_status st = decode_views(d, data, size, opts, spec, key, &info, views, quant, &plan);
  if (info_out) *info_out = info;
  if (st == FL_OK)
    st = run_plan(views, info.num_components, info.width, info.height, spec, &plan,
                  fl_decoder_workspace(d), out, fl_decoder_message_buffer(d), FL_MESSAGE_MAX);
  fl_decoder_trim_scratch(d, FL_SCRATCH_KEEP);
  return st;
}

fl_status fl_decode_planes(fl_decoder *d, const uint8_t *data, size_t size,
                           const fl_options *opts, const fl_channel_spec *spec, int16_t *out,
                           size_t capacity, fl_planes_layout *layout, fl_info *info_out) {
  fl_info info = {0};
  fl_coef_view views[3];
  uint16_t quant[3][64];
  fl_channel_spec crop = *spec; /* fl_sample_planes always takes the centre window */
  sample_plan plan;
  fl_status st;
  crop.transform.kind = FL_TRANSFORM_BLOCKS;
  st = decode_views(d, data, size, opts, &crop, 0, &info, views, quant, &plan);
  if (info_out) *info_out = info;
  if (st == FL_OK && plan.kind == 2) { /* the coefficients oriented upright first */
    int w = info.width, h = info.height;
    st = fl_orient_views(views, info.num_components, &w, &h, plan.orientation,
                         fl_decoder_workspace(d), views, fl_decoder_message_buffer(d),
                         FL_MESSAGE_MAX);
  }
  if (st == FL_OK)
    st = fl_sample_planes(views, info.num_components, spec, out, capacity, layout,
                          fl_decoder_message_buffer(d), FL_MESSAGE_MAX);
  fl_decoder_trim_scratch(d, FL_SCRATCH_KEEP);
  return st;
}
