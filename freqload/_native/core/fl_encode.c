/*
 * Coefficients -> a baseline JPEG (libjpeg's transcoding path: no DCT, no
 * quantisation, so the coefficients are stored exactly). Used by
 * `freqload pack` to write files whose out-of-mask coefficients are zero, with
 * Huffman tables optimised for what is left.
 */
#include "fl_core.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
} enc_error;

static void enc_error_exit(j_common_ptr cinfo) {
  enc_error *e = (enc_error *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

static void enc_output_message(j_common_ptr cinfo) { (void)cinfo; }

fl_status fl_write_jpeg(const fl_coef_view *comps, int num_components, int width, int height,
                        int row_restarts, uint8_t **out, size_t *out_size, char *message,
                        size_t message_size) {
  struct jpeg_compress_struct cinfo;
  enc_error err;
  jvirt_barray_ptr arrays[3];
  unsigned char *volatile buf = NULL;
  unsigned long size = 0;
  volatile int created = 0;
  int c, max_h = 1, max_v = 1;
  *out = NULL;
  *out_size = 0;
  if (num_components != 1 && num_components != 3) {
    snprintf(message, message_size, "write_jpeg: 1 or 3 components, got %d", num_components);
    return FL_ERR_ARGUMENT;
  }
  if (width < 1 || height < 1 || width > 65500 || height > 65500) {
    snprintf(message, message_size, "write_jpeg: bad size %dx%d", width, height);
    return FL_ERR_ARGUMENT;
  }
  for (c = 0; c < num_components; c++) {
    if (comps[c].h_samp < 1 || comps[c].h_samp > 4 || comps[c].v_samp < 1 ||
        comps[c].v_samp > 4) {
      snprintf(message, message_size, "write_jpeg: bad sampling factors");
      return FL_ERR_ARGUMENT;
    }
    if (comps[c].h_samp > max_h) max_h = comps[c].h_samp;
    if (comps[c].v_samp > max_v) max_v = comps[c].v_samp;
  }
  for (c = 0; c < num_components; c++) { /* the planes must cover libjpeg's block grid */
    const int bw = (int)(((long long)width * comps[c].h_samp + 8 * max_h - 1) / (8 * max_h));
    const int bh = (int)(((long long)height * comps[c].v_samp + 8 * max_v - 1) / (8 * max_v));
    if (comps[c].blocks_w < bw || comps[c].blocks_h < bh) {
      snprintf(message, message_size,
               "write_jpeg: component %d holds %dx%d blocks, the image needs %dx%d", c,
               comps[c].blocks_h, comps[c].blocks_w, bh, bw);
      return FL_ERR_ARGUMENT;
    }
  }
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = enc_error_exit;
  err.pub.output_message = enc_output_message;
  if (setjmp(err.jump)) {
    snprintf(message, message_size, "write_jpeg: %s", err.message);
    if (created) jpeg_destroy_compress(&cinfo);
    free(buf);
    return FL_ERR_DECODE;
  }
  jpeg_create_compress(&cinfo);
  created = 1;
  jpeg_mem_dest(&cinfo, (unsigned char **)&buf, &size);
  cinfo.image_width = (JDIMENSION)width;
  cinfo.image_height = (JDIMENSION)height;
  cinfo.input_components = num_components;
  cinfo.in_color_space = num_components == 3 ? JCS_YCbCr : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, num_components == 3 ? JCS_YCbCr : JCS_GRAYSCALE);
  cinfo.optimize_coding = TRUE;
  for (c = 0; c < num_components; c++) {
    jpeg_component_info *ci = &cinfo.comp_info[c];
    JQUANT_TBL *q;
    int k, same = -1, c2;
    ci->h_samp_factor = comps[c].h_samp;
    ci->v_samp_factor = comps[c].v_samp;
    for (c2 = 0; c2 < c && same < 0; c2++)
      if (memcmp(comps[c2].quant, comps[c].quant, 64 * sizeof(uint16_t)) == 0) same = c2;
    if (same >= 0) {
      ci->quant_tbl_no = cinfo.comp_info[same].quant_tbl_no;
      continue;
    }
    ci->quant_tbl_no = c;
    if (cinfo.quant_tbl_ptrs[c] == NULL)
      cinfo.quant_tbl_ptrs[c] = jpeg_alloc_quant_table((j_common_ptr)&cinfo);
    q = cinfo.quant_tbl_ptrs[c];
    for (k = 0; k < 64; k++) q->quantval[k] = comps[c].quant[k]; /* natural order */
    q->sent_table = FALSE;
  }
  for (c = 0; c < num_components; c++) {
    const JDIMENSION bw = (JDIMENSION)(((long long)width * comps[c].h_samp + 8 * max_h - 1) /
                                       (8 * max_h));
    const JDIMENSION bh = (JDIMENSION)(((long long)height * comps[c].v_samp + 8 * max_v - 1) /
                                       (8 * max_v));
    const JDIMENSION aw = (bw + comps[c].h_samp - 1) / comps[c].h_samp * comps[c].h_samp;
    const JDIMENSION ah = (bh + comps[c].v_samp - 1) / comps[c].v_samp * comps[c].v_samp;
    arrays[c] = (*cinfo.mem->request_virt_barray)((j_common_ptr)&cinfo, JPOOL_IMAGE, TRUE, aw,
                                                  ah, (JDIMENSION)comps[c].v_samp);
  }
  if (row_restarts) { /* FL_PACK_ROW_INTERVALS restart intervals (or fewer) per MCU row */
    const long per_row = num_components == 1 ? (width + 7) / 8
                                             : (width + 8 * max_h - 1) / (8 * max_h);
    cinfo.restart_interval =
        (unsigned int)((per_row + FL_PACK_ROW_INTERVALS - 1) / FL_PACK_ROW_INTERVALS);
  }
  jpeg_write_coefficients(&cinfo, arrays);
  if (row_restarts) {
    JOCTET seg[FL_PACK_SIGNATURE_LEN + 1];
    memcpy(seg, FL_PACK_SIGNATURE, FL_PACK_SIGNATURE_LEN);
    seg[FL_PACK_SIGNATURE_LEN] = FL_PACK_VERSION;
    jpeg_write_marker(&cinfo, JPEG_APP0 + 15, seg, sizeof seg);
  }
  for (c = 0; c < num_components; c++) {
    const jpeg_component_info *ci = &cinfo.comp_info[c];
    JDIMENSION row;
    for (row = 0; row < ci->height_in_blocks; row++) {
      JBLOCKARRAY rows = (*cinfo.mem->access_virt_barray)((j_common_ptr)&cinfo, arrays[c], row,
                                                          1, TRUE);
      const int16_t *src = comps[c].data + (ptrdiff_t)row * comps[c].row_stride;
      memcpy(rows[0][0], src, (size_t)ci->width_in_blocks * 64 * sizeof(JCOEF));
    }
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  created = 0;
  *out = buf;
  *out_size = size;
  return FL_OK;
}

void fl_free(void *p) { free(p); }
