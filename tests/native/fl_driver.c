/*
 * Native test driver for the core: every entry point on one input.
 *
 *   built by scripts/sanitize.sh: ASan + UBSan over the shared corpus, valgrind memcheck,
 *   or (with clang, -DFL_FUZZ) a libFuzzer target.
 *
 * For each input: header only; coefficients into caller planes (strict and not), then a
 * baseline re-encode (fl_write_jpeg) whose decode must give the same coefficients (abort
 * otherwise); the one-call samples for every transform and two masks; the planes of
 * regroup="device". Errors are fine (corrupt inputs); crashes, leaks, undefined behaviour
 * and mismatches are not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../freqload/_native/core/fl_core.h"

static fl_decoder *dec;

/* Caller-owned planes for an open image: one allocation, returns its element count. */
static size_t alloc_planes(const fl_info *info, fl_plane *planes, int16_t **base) {
  size_t total = 0, offset = 0;
  int c;
  for (c = 0; c < info->num_components; c++)
    total += (size_t)info->comp[c].alloc_blocks_h * info->comp[c].alloc_blocks_w * 64;
  *base = (int16_t *)calloc(total ? total : 1, sizeof(int16_t));
  for (c = 0; c < info->num_components; c++) {
    planes[c].data = *base + offset;
    planes[c].rows = info->comp[c].alloc_blocks_h;
    planes[c].cols = info->comp[c].alloc_blocks_w;
    planes[c].row_stride = (ptrdiff_t)info->comp[c].alloc_blocks_w * 64;
    offset += (size_t)planes[c].rows * planes[c].cols * 64;
  }
  return total;
}

static void round_trip(const fl_info *info, int16_t *base, const uint16_t quant[][64]) {
  fl_coef_view views[3];
  size_t offset = 0;
  uint8_t *out = NULL;
  size_t out_size = 0;
  char msg[FL_MESSAGE_MAX];
  int c;
  if (info->num_components != 1 && info->num_components != 3) return;
  for (c = 0; c < info->num_components; c++) {
    const fl_component *ci = &info->comp[c];
    views[c].data = base + offset;
    views[c].row_stride = (ptrdiff_t)ci->alloc_blocks_w * 64;
    views[c].blocks_h = ci->blocks_h;
    views[c].blocks_w = ci->blocks_w;
    views[c].h_samp = ci->h_samp;
    views[c].v_samp = ci->v_samp;
    views[c].quant = quant[c];
    offset += (size_t)ci->alloc_blocks_h * ci->alloc_blocks_w * 64;
  }
  if (fl_write_jpeg(views, info->num_components, info->width, info->height, &out, &out_size,
                    msg, sizeof msg) != FL_OK)
    return;
  {
    fl_decoder *d2 = fl_decoder_new(msg, sizeof msg);
    fl_info info2;
    fl_options o = {0, 1, 1, 0, 0, 0};
    if (d2 && fl_begin(d2, out, out_size, &o, &info2) == FL_OK) {
      fl_plane planes[3];
      uint16_t q2[3][64];
      int16_t *b2;
      size_t off2 = alloc_planes(&info2, planes, &b2);
      if (off2 != offset || fl_read_coefficients(d2, planes, info2.num_components, q2) != FL_OK) {
        fprintf(stderr, "re-encoded image does not decode: %s\n", fl_decoder_message(d2));
        abort();
      }
      for (c = 0; c < info->num_components; c++) {
        int r;
        for (r = 0; r < info->comp[c].blocks_h; r++)
          if (memcmp(views[c].data + r * views[c].row_stride, b2 + (views[c].data - base) +
                         r * views[c].row_stride,
                     (size_t)info->comp[c].blocks_w * 128) != 0) {
            fprintf(stderr, "re-encoded coefficients differ (component %d row %d)\n", c, r);
            abort();
          }
      }
      free(b2);
    }
    fl_decoder_free(d2);
  }
  fl_free(out);
}

static void run_one(const uint8_t *data, size_t size) {
  static const uint8_t comp24[24] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 1, 1, 1, 2, 2, 2, 2};
  static const uint8_t coef24[24] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27,
                                     0, 1, 8, 9, 0, 1, 8, 9};
  static uint8_t comp192[192], coef192[192];
  char msg[FL_MESSAGE_MAX];
  fl_info info;
  int mode, k, kind, chroma;
  if (!dec) {
    dec = fl_decoder_new(msg, sizeof msg);
    if (!dec) abort();
    for (k = 0; k < 192; k++) {
      comp192[k] = (uint8_t)(k / 64);
      coef192[k] = (uint8_t)(k % 64);
    }
  }
  fl_read_header(dec, data, size, &info);
  for (mode = 0; mode < 4; mode++) { /* strict off/on, partial_decode off/on */
    const int strict = mode & 1;
    fl_options o = {20000000, strict, 1, 0, 200, (uint64_t)1 << 28, mode >> 1};
    if (fl_begin(dec, data, size, &o, &info) == FL_OK) {
      fl_plane planes[3];
      uint16_t quant[3][64];
      int16_t *base;
      alloc_planes(&info, planes, &base);
      if (fl_read_coefficients(dec, planes, info.num_components, quant) == FL_OK && strict)
        round_trip(&info, base, quant);
      free(base);
    }
    for (kind = 0; kind < 3; kind++)
      for (chroma = 0; chroma < 2; chroma++) {
        int16_t out24[24 * 7 * 9], out192[192 * 3 * 4];
        fl_channel_spec s24 = {comp24, coef24, 24, 1, chroma, 7, 9, {kind, 0.08, 1.0, 0.75,
                                                                      4.0 / 3, 0.5, 0.875}};
        fl_channel_spec s192 = {comp192, coef192, 192, kind == 0 ? 0 : 1, chroma, 3, 4,
                                {kind, 0.5, 1.0, 0.5, 2.0, 0.5, 1.0}};
        fl_decode_channels(dec, data, size, &o, &s24, 12345u + (unsigned)kind, out24, NULL);
        fl_decode_channels(dec, data, size, &o, &s192, 777u, out192, NULL);
        if (kind == 0) {
          size_t cap = fl_planes_capacity(&s24);
          int16_t *p = (int16_t *)malloc(cap * sizeof(int16_t));
          fl_planes_layout layout;
          int32_t packed[FL_LAYOUT_INTS];
          if (fl_decode_planes(dec, data, size, &o, &s24, p, cap, &layout, NULL) == FL_OK)
            fl_layout_pack(&layout, packed);
          free(p);
        }
      }
  }
}

#ifdef FL_FUZZ
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_one(data, size);
  return 0;
}
#else
int main(int argc, char **argv) {
  int i, n = 0;
  for (i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    long size;
    uint8_t *buf;
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (uint8_t *)malloc(size > 0 ? (size_t)size : 1);
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) size = 0;
    fclose(f);
    run_one(buf, size > 0 ? (size_t)size : 0);
    free(buf);
    n++;
  }
  fl_decoder_free(dec);
  printf("fl_driver: %d inputs\n", n);
  return 0;
}
#endif
