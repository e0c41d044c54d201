/*
 * JPEG header and coefficient reading over libjpeg(-turbo).
 *
 * - Errors: libjpeg's error_exit is replaced by a longjmp back into the call
 *   that started the work; nothing between setjmp and libjpeg allocates.
 * - Warnings are counted; in strict mode a corrupt-data warning is an error.
 * - Coefficients go straight into the caller's planes: the decoder hooks
 *   libjpeg's virtual block-array calls (request/access) so the entropy
 *   decoder writes into caller memory; there is no second copy and no
 *   per-image allocation of image-sized buffers inside libjpeg.
 */
#include "fl_core.h"
#include "fl_entropy.h"
#include "fl_internal.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <jpeglib.h>
#include <jerror.h>

#define STR2(x) #x
#define STR(x) STR2(x)

/* Our stand-in for libjpeg's opaque virtual block array (jmemmgr.c has its
 * own, private, definition; jpeglib.h only declares the tag). */
struct jvirt_barray_control {
  const fl_plane *plane;
  JBLOCKROW *rows;       /* row pointers into plane, one per block row */
  JDIMENSION num_rows;
  JDIMENSION blocks_per_row;
  JDIMENSION max_access;
  JDIMENSION first_undef_row; /* rows below this have been written/zeroed */
  boolean pre_zero;
};

enum { STATE_IDLE = 0, STATE_OPEN = 1 };

struct fl_decoder {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr jerr;
  jmp_buf jump;
  int state;
  int strict;
  fl_status error_status;  /* status to report when libjpeg fails */
  int warnings;
  char message[FL_MESSAGE_MAX];
  char warning[FL_MESSAGE_MAX];

  /* virtual array hooks */
  jvirt_barray_ptr (*orig_request_virt_barray)(j_common_ptr, int, boolean,
                                               JDIMENSION, JDIMENSION,
                                               JDIMENSION);
  JBLOCKARRAY (*orig_access_virt_barray)(j_common_ptr, jvirt_barray_ptr,
                                         JDIMENSION, JDIMENSION, boolean);
  const fl_plane *planes; /* non-NULL only inside fl_read_coefficients */
  int num_requests;
  struct jvirt_barray_control arrays[FL_MAX_COMPONENTS];
  JBLOCKROW *row_pointers;
  size_t row_pointers_cap;

  int16_t *scratch; /* fl_decode_channels' planes, reused across images */
  size_t scratch_cap;
  fl_workspace *workspace; /* fl_resize_channels' scratch, created on first use */
  struct jpeg_progress_mgr progress; /* checks the scan limit while decoding */
  int max_scans;
  JDIMENSION stop_imcu_rows; /* > 0: stop the single scan after this many iMCU rows */
  int stopped;               /* it did */
  int used;                  /* a header was read since the decompressor was created */
  const uint8_t *data;       /* the open image's bytes (the caller keeps them alive) */
  size_t size;
  fl_entropy *entropy;       /* the fast path's tables (fl_entropy.c), made on first use */
  int libjpeg_only;          /* never take the fast path */
  uint8_t *file;             /* fl_decode_file's buffer, reused across files */
  size_t file_cap;
  int fast_path_used;        /* the last image's coefficients came from the fast path */
  int row_restarts;          /* the open image is a pack with row restarts (fl_info's) */
  double *augment;           /* fl_decoder_augment_scratch */
  size_t augment_cap;
};

const char *fl_libjpeg_version(void) {
#ifdef LIBJPEG_TURBO_VERSION
  return "libjpeg-turbo " STR(LIBJPEG_TURBO_VERSION) " (jpeg" STR(JPEG_LIB_VERSION) " API)";
#else
  return "libjpeg (jpeg" STR(JPEG_LIB_VERSION) " API)";
#endif
}

/* ---- error manager --------------------------------------------------- */

static fl_decoder *decoder_of(j_common_ptr cinfo) {
  return (fl_decoder *)cinfo->client_data;
}

static fl_status classify_error(int code) {
  switch (code) {
  case JERR_NO_SOI:          /* PNG, GIF, ... under a .jpg name */
  case JERR_INPUT_EMPTY:
  case JERR_BAD_PRECISION:   /* 12-bit, 16-bit */
  case JERR_SOF_UNSUPPORTED: /* lossless, hierarchical, differential */
  case JERR_NOT_COMPILED:
  case JERR_ARITH_NOTIMPL:
  case JERR_COMPONENT_COUNT:
    return FL_ERR_UNSUPPORTED;
  default:
    return FL_ERR_DECODE;
  }
}

static const char *explain_error(int code) {
  switch (code) {
  case JERR_NO_SOI: return "not JPEG data (no start-of-image marker)";
  case JERR_INPUT_EMPTY: return "empty input (0 bytes)";
  case JERR_BAD_PRECISION: return "not an 8-bit JPEG (freqload reads 8-bit DCT coefficients)";
  case JERR_SOF_UNSUPPORTED: return "JPEG process without 8-bit DCT coefficients (lossless or hierarchical)";
  case JERR_COMPONENT_COUNT: return "too many colour components";
  default: return "corrupt JPEG data";
  }
}

static void fl_error_exit(j_common_ptr cinfo) {
  fl_decoder *d = decoder_of(cinfo);
  char text[JMSG_LENGTH_MAX];
  int code = cinfo->err->msg_code;
  (*cinfo->err->format_message)(cinfo, text);
  d->error_status = classify_error(code);
  snprintf(d->message, sizeof d->message, "%s: %s", explain_error(code), text);
  longjmp(d->jump, 1);
}

/* Called by libjpeg at every start of scan and row while reading coefficients. */
static void fl_progress_monitor(j_common_ptr cinfo) {
  fl_decoder *d = decoder_of(cinfo);
  const j_decompress_ptr c = (j_decompress_ptr)cinfo;
  /* jpeg_read_coefficients calls this before each iMCU row of input: once the
   * rows asked for are in (the arrays exist, so the scan has started), leave. */
  if (d->stop_imcu_rows > 0 && d->planes != NULL && d->num_requests == c->num_components &&
      c->input_scan_number == 1 && c->input_iMCU_row >= d->stop_imcu_rows) {
    d->stopped = 1;
    longjmp(d->jump, 1);
  }
  if (d->max_scans > 0 && c->input_scan_number > d->max_scans) {
    d->error_status = FL_ERR_TOO_LARGE;
    snprintf(d->message, sizeof d->message,
             "more than %d scans (max_scans): a progressive file with this many scans costs "
             "far more CPU than its size suggests", d->max_scans);
    longjmp(d->jump, 1);
  }
}

/* Warnings that say nothing about the coefficients themselves. */
static int warning_is_metadata(int code) {
  return code == JWRN_ADOBE_XFORM || code == JWRN_JFIF_MAJOR ||
         code == JWRN_BOGUS_ICC;
}

static void fl_emit_message(j_common_ptr cinfo, int level) {
  fl_decoder *d;
  char text[JMSG_LENGTH_MAX];
  if (level >= 0) return; /* trace messages */
  d = decoder_of(cinfo);
  d->warnings++;
  cinfo->err->num_warnings++;
  if (d->warnings == 1 || (d->strict && !warning_is_metadata(cinfo->err->msg_code))) {
    (*cinfo->err->format_message)(cinfo, text);
    if (d->warnings == 1) snprintf(d->warning, sizeof d->warning, "%s", text);
    if (d->strict && !warning_is_metadata(cinfo->err->msg_code)) {
      d->error_status = FL_ERR_DECODE;
      snprintf(d->message, sizeof d->message,
               "corrupt JPEG data (strict=True; strict=False returns the data "
               "with a warning count): %s", text);
      longjmp(d->jump, 1);
    }
  }
}

static void fl_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* ---- virtual block arrays in caller memory ----------------------------- */

static void fail_internal(j_common_ptr cinfo) {
  cinfo->err->msg_code = JERR_BAD_VIRTUAL_ACCESS;
  (*cinfo->err->error_exit)(cinfo);
}

static jvirt_barray_ptr hook_request_virt_barray(j_common_ptr cinfo,
                                                 int pool_id, boolean pre_zero,
                                                 JDIMENSION blocksperrow,
                                                 JDIMENSION numrows,
                                                 JDIMENSION maxaccess) {
  fl_decoder *d = decoder_of(cinfo);
  struct jvirt_barray_control *a;
  const fl_plane *p;
  size_t first_row = 0;
  int k, r;
  if (d->planes == NULL)
    return d->orig_request_virt_barray(cinfo, pool_id, pre_zero, blocksperrow,
                                       numrows, maxaccess);
  k = d->num_requests;
  if (k >= d->cinfo.num_components) fail_internal(cinfo);
  p = &d->planes[k];
  /* libjpeg asks for the component grid padded to its sampling factors,
   * which is what fl_info.alloc_blocks_* told the caller to hold. */
  if ((int)numrows > p->rows || (int)blocksperrow > p->cols) fail_internal(cinfo);
  for (r = 0; r < k; r++) first_row += d->arrays[r].num_rows;
  a = &d->arrays[k];
  a->plane = p;
  a->rows = d->row_pointers + first_row;
  a->num_rows = numrows;
  a->blocks_per_row = blocksperrow;
  a->max_access = maxaccess;
  a->first_undef_row = 0;
  a->pre_zero = pre_zero;
  for (r = 0; r < (int)numrows; r++)
    a->rows[r] = (JBLOCKROW)(p->data + (ptrdiff_t)r * p->row_stride);
  d->num_requests = k + 1;
  return a;
}

static void zero_rows(struct jvirt_barray_control *a, JDIMENSION from,
                      JDIMENSION to) {
  size_t bytes = (size_t)a->blocks_per_row * sizeof(JBLOCK);
  for (; from < to; from++) memset(a->rows[from], 0, bytes);
}

static JBLOCKARRAY hook_access_virt_barray(j_common_ptr cinfo,
                                           jvirt_barray_ptr ptr,
                                           JDIMENSION start_row,
                                           JDIMENSION num_rows,
                                           boolean writable) {
  fl_decoder *d = decoder_of(cinfo);
  JDIMENSION end_row = start_row + num_rows;
  JDIMENSION undef_row;
  if (d->planes == NULL)
    return d->orig_access_virt_barray(cinfo, ptr, start_row, num_rows, writable);
  if (end_row > ptr->num_rows || num_rows > ptr->max_access || end_row < start_row)
    fail_internal(cinfo);
  /* Same contract as jmemmgr.c: rows are defined in order; pre-zeroed rows
   * are zeroed just before their first use (cache-warm for the decoder). */
  if (ptr->first_undef_row < end_row) {
    if (ptr->first_undef_row < start_row) {
      if (writable) fail_internal(cinfo);
      undef_row = start_row;
    } else {
      undef_row = ptr->first_undef_row;
    }
    if (writable) ptr->first_undef_row = end_row;
    if (ptr->pre_zero)
      zero_rows(ptr, undef_row, end_row);
    else if (!writable)
      fail_internal(cinfo);
  }
  return ptr->rows + start_row;
}

/* ---- decoder ------------------------------------------------------------ */

/* A new libjpeg decompressor with our progress monitor and block-array hooks; err and
 * client_data survive (jpeg_CreateDecompress keeps them). May longjmp (out of memory,
 * library version mismatch). */
static void create_decompressor(fl_decoder *d) {
  jpeg_create_decompress(&d->cinfo);
  d->cinfo.progress = &d->progress;
  d->orig_request_virt_barray = d->cinfo.mem->request_virt_barray;
  d->orig_access_virt_barray = d->cinfo.mem->access_virt_barray;
  d->cinfo.mem->request_virt_barray = hook_request_virt_barray;
  d->cinfo.mem->access_virt_barray = hook_access_virt_barray;
  d->used = 0;
}

/* Every image starts from a fresh decompressor. jpeg_abort_decompress keeps the
 * quantisation and Huffman tables of the image before (they are meant to serve
 * abbreviated streams), so a file without DQT would borrow the last file's tables and a
 * Motion-JPEG frame without DHT would be decoded with the last file's Huffman codes
 * instead of the standard ones. Recreating costs about 0.2 us; the image-sized planes
 * are the caller's and stay. May longjmp (out of memory). */
static void fresh_decompressor(fl_decoder *d) {
  if (!d->used) return;
  jpeg_destroy_decompress(&d->cinfo); /* leaves cinfo.mem NULL: safe to abort/destroy */
  create_decompressor(d);
}

/* The header of d->data on a fresh decompressor: where every read of an image starts
 * (fl_begin, and a partial decode started over whole). May longjmp. */
static void read_header_fresh(fl_decoder *d) {
  fresh_decompressor(d);
  d->used = 1;
  jpeg_mem_src(&d->cinfo, d->data, (unsigned long)d->size);
  jpeg_read_header(&d->cinfo, TRUE);
}

fl_decoder *fl_decoder_new(char *message, size_t message_size) {
  fl_decoder *d = (fl_decoder *)calloc(1, sizeof *d);
  if (d == NULL) {
    if (message) snprintf(message, message_size, "out of memory");
    return NULL;
  }
  d->cinfo.err = jpeg_std_error(&d->jerr);
  d->jerr.error_exit = fl_error_exit;
  d->jerr.emit_message = fl_emit_message;
  d->jerr.output_message = fl_output_message;
  d->cinfo.client_data = d;
  d->progress.progress_monitor = fl_progress_monitor;
  if (setjmp(d->jump)) {
    /* jpeg_CreateDecompress checks the run-time library against our headers. */
    if (message) snprintf(message, message_size, "cannot start libjpeg (%s): %s",
                          fl_libjpeg_version(), d->message);
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
    return NULL;
  }
  create_decompressor(d);
  d->state = STATE_IDLE;
  {
    const char *mode = getenv("FREQLOAD_ENTROPY");
    d->libjpeg_only = mode != NULL && strcmp(mode, "libjpeg") == 0;
  }
  return d;
}

void fl_decoder_set_libjpeg_only(fl_decoder *d, int on) { d->libjpeg_only = on != 0; }
int fl_decoder_libjpeg_only(const fl_decoder *d) { return d->libjpeg_only; }
int fl_decoder_fast_path_used(const fl_decoder *d) { return d->fast_path_used; }

static void scratch_release(fl_decoder *d);

void fl_decoder_free(fl_decoder *d) {
  if (d == NULL) return;
  jpeg_destroy_decompress(&d->cinfo);
  free(d->row_pointers);
  scratch_release(d);
  free(d->file);
  free(d->entropy);
  fl_workspace_free(d->workspace);
  free(d->augment);
  free(d);
}

double *fl_decoder_augment_scratch(fl_decoder *d, size_t doubles) {
  if (doubles > d->augment_cap) {
    double *p = (double *)realloc(d->augment, doubles * sizeof(double));
    if (p == NULL) return NULL;
    d->augment = p;
    d->augment_cap = doubles;
  }
  return d->augment;
}

fl_workspace *fl_decoder_workspace(fl_decoder *d) {
  if (d->workspace == NULL) d->workspace = fl_workspace_new();
  return d->workspace;
}

/* The planes come straight from the kernel (mmap), not from malloc: given back
 * (fl_decoder_trim_scratch), they leave the process at once, where a thread's malloc arena
 * would keep them, so each thread of a pool holds only what its usual image needs. */
static void scratch_release(fl_decoder *d) {
  if (d->scratch) munmap(d->scratch, d->scratch_cap * sizeof(int16_t));
  d->scratch = NULL;
  d->scratch_cap = 0;
}

int16_t *fl_decoder_scratch(fl_decoder *d, size_t elems) {
  if (elems > d->scratch_cap) {
    void *p;
    scratch_release(d); /* contents need not survive: nothing copied */
    p = mmap(NULL, elems * sizeof(int16_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) return NULL;
    d->scratch = (int16_t *)p;
    d->scratch_cap = elems;
  }
  return d->scratch;
}

void fl_decoder_trim_scratch(fl_decoder *d, size_t keep_bytes) {
  if (d->scratch_cap * sizeof(int16_t) > keep_bytes) scratch_release(d);
}

char *fl_decoder_message_buffer(fl_decoder *d) { return d->message; }

void fl_decoder_file_buffer(fl_decoder *d, uint8_t ***buf, size_t **cap) {
  *buf = &d->file;
  *cap = &d->file_cap;
}

const char *fl_decoder_message(const fl_decoder *d) { return d->message; }
int fl_decoder_warnings(const fl_decoder *d) { return d->warnings; }
const char *fl_decoder_warning(const fl_decoder *d) { return d->warning; }

void fl_end(fl_decoder *d) {
  if (d->state != STATE_IDLE) jpeg_abort_decompress(&d->cinfo);
  d->state = STATE_IDLE;
  d->planes = NULL;
}

static int color_of(J_COLOR_SPACE cs) {
  switch (cs) {
  case JCS_GRAYSCALE: return FL_COLOR_GRAY;
  case JCS_YCbCr: return FL_COLOR_YCBCR;
  case JCS_RGB: return FL_COLOR_RGB;
  case JCS_CMYK: return FL_COLOR_CMYK;
  case JCS_YCCK: return FL_COLOR_YCCK;
  default: return FL_COLOR_UNKNOWN;
  }
}

static int round_up(int v, int m) { return m > 0 ? ((v + m - 1) / m) * m : v; }

/* The compressed data ends with an EOI marker (a truncated file does not). */
static int ends_with_eoi(const struct jpeg_decompress_struct *c) {
  const struct jpeg_source_mgr *src = c->src;
  const JOCTET *end = src->next_input_byte + src->bytes_in_buffer;
  return src->bytes_in_buffer >= 2 && end[-2] == 0xFF && end[-1] == 0xD9;
}

/* After jpeg_read_header: can the coefficient read stop after some iMCU rows? Only a
 * single scan holding every component (sequential, interleaved) has all components'
 * first rows complete when stopped; and only a file that ends properly: a truncated
 * one is read whole, so its warning comes. */
static int partial_decodable(const struct jpeg_decompress_struct *c) {
  return !c->progressive_mode && c->comps_in_scan == c->num_components && ends_with_eoi(c);
}

static void fill_info(const struct jpeg_decompress_struct *c, fl_info *info) {
  int i;
  memset(info, 0, sizeof *info);
  info->width = (int)c->image_width;
  info->height = (int)c->image_height;
  info->num_components = c->num_components;
  info->color_space = color_of(c->jpeg_color_space);
  info->adobe_transform = c->saw_Adobe_marker ? (int)c->Adobe_transform : -1;
  info->jfif = c->saw_JFIF_marker ? 1 : 0;
  info->precision = c->data_precision;
  info->progressive = c->progressive_mode ? 1 : 0;
  info->arithmetic = c->arith_code ? 1 : 0;
  info->restart_interval = (int)c->restart_interval;
  info->max_h_samp = c->max_h_samp_factor;
  info->max_v_samp = c->max_v_samp_factor;
  info->partial_decodable = partial_decodable(c);
  for (i = 0; i < 4; i++) {
    if (c->quant_tbl_ptrs[i] != NULL) {
      int k;
      info->quant_defined[i] = 1;
      for (k = 0; k < 64; k++) info->quant[i][k] = c->quant_tbl_ptrs[i]->quantval[k];
    }
  }
  for (i = 0; i < c->num_components && i < FL_MAX_COMPONENTS; i++) {
    const jpeg_component_info *ci = &c->comp_info[i];
    fl_component *o = &info->comp[i];
    o->id = ci->component_id;
    o->h_samp = ci->h_samp_factor;
    o->v_samp = ci->v_samp_factor;
    o->quant_index = ci->quant_tbl_no;
    o->blocks_w = (int)ci->width_in_blocks;
    o->blocks_h = (int)ci->height_in_blocks;
    o->alloc_blocks_w = round_up(o->blocks_w, ci->h_samp_factor);
    o->alloc_blocks_h = round_up(o->blocks_h, ci->v_samp_factor);
  }
}

static fl_status check_supported(fl_decoder *d, const fl_info *info) {
  const char *why = NULL;
  switch (info->color_space) {
  case FL_COLOR_GRAY:
    if (info->num_components == 1) return FL_OK;
    why = "greyscale with more than one component";
    break;
  case FL_COLOR_YCBCR:
    if (info->num_components == 3) return FL_OK;
    why = "YCbCr without three components";
    break;
  case FL_COLOR_RGB:
    why = "the file stores RGB, not YCbCr (Adobe transform 0 or component ids 'R','G','B'): "
          "its coefficients are not YCbCr coefficients";
    break;
  case FL_COLOR_CMYK:
    why = "CMYK JPEG (4 components)";
    break;
  case FL_COLOR_YCCK:
    why = "YCCK JPEG (4 components)";
    break;
  default:
    why = "unknown colour space";
  }
  snprintf(d->message, sizeof d->message,
           "no YCbCr/grey DCT coefficients: %s; %d components", why,
           info->num_components);
  return FL_ERR_UNSUPPORTED;
}

/* Are the scan's bytes [p, end) free of markers, the final EOI aside? 0xFF then 0x00 is
 * a stuffed data byte, 0xFF runs are fill, and RSTn markers are allowed only where the
 * file declares a restart interval, numbered in sequence (mod 8) after last_rst (-1: any
 * first number). */
static int scan_rest_clean(const JOCTET *p, const JOCTET *end, int restarts, int last_rst) {
  const JOCTET *q;
  while ((q = fl_next_marker(p, end)) != NULL) {
    if (restarts && *q >= 0xD0 && *q <= 0xD7) {
      const int n = *q - 0xD0;
      if (last_rst >= 0 && n != ((last_rst + 1) & 7)) return 0;
      last_rst = n;
      p = q + 1;
      continue;
    }
    return *q == 0xD9 && q == end - 1; /* the EOI that ends the file */
  }
  return 0; /* no EOI (partial_decodable said there was one) */
}

/* Is the rest of libjpeg's scan (from the decoder's input position: after a stop, which
 * the progress monitor makes between iMCU rows; or right after the SOS header) free of
 * markers, the final EOI aside? A marker the entropy decoder has met stops its input
 * there (unread_marker); the bytes after its input position get scan_rest_clean. */
static int rest_of_scan_is_clean(const struct jpeg_decompress_struct *c) {
  const JOCTET *p = c->src->next_input_byte;
  const int restarts = c->restart_interval > 0;
  /* libjpeg reads ahead: an EOI it has met, with nothing after it, is the one that ends
   * the file (scan_rest_clean's rule), whatever damage lies between the stop and it */
  if (c->unread_marker == 0xD9) return c->src->bytes_in_buffer == 0;
  if (c->unread_marker != 0 &&
      !(restarts && c->unread_marker >= 0xD0 && c->unread_marker <= 0xD7))
    return 0;
  return scan_rest_clean(p, p + c->src->bytes_in_buffer, restarts,
                         c->unread_marker != 0 ? c->unread_marker - 0xD0 : -1);
}

/* MCUs per row of the open image's first scan (libjpeg sets MCUs_per_row only once a
 * scan starts): fast_layout's count, and the pack check's. */
static int scan_mcus_per_row(const struct jpeg_decompress_struct *c) {
  if (c->comps_in_scan == 1) return (int)c->cur_comp_info[0]->width_in_blocks;
  return (int)((c->image_width + 8 * c->max_h_samp_factor - 1) / (8 * c->max_h_samp_factor));
}

/* Is this a file freqload pack wrote with restart markers that let a sample start at any
 * MCU row (its APP15 segment says so: version 1, an interval of one MCU row; version 2 and
 * later, intervals of at most one row, so several in a row)? */
static int row_restarts(const struct jpeg_decompress_struct *c, const uint8_t *data,
                        size_t size) {
  size_t len;
  const uint8_t *seg = fl_find_segment(data, size, FL_PACK_MARKER, FL_PACK_SIGNATURE,
                                       FL_PACK_SIGNATURE_LEN, &len);
  const int version = seg != NULL && len > FL_PACK_SIGNATURE_LEN ? seg[FL_PACK_SIGNATURE_LEN]
                                                                 : 0;
  const int per_row = scan_mcus_per_row(c);
  return version >= 1 && !c->progressive_mode && c->comps_in_scan >= 1 &&
         c->restart_interval > 0 &&
         (version == 1 ? (int)c->restart_interval == per_row
                       : (int)c->restart_interval <= per_row);
}

fl_status fl_begin(fl_decoder *d, const uint8_t *data, size_t size,
                   const fl_options *opts, fl_info *info) {
  static const fl_options none = {0, 0, 0, 0, 0, 0};
  if (opts == NULL) opts = &none;
  fl_end(d);
  d->warnings = 0;
  d->message[0] = '\0';
  d->warning[0] = '\0';
  d->strict = opts->strict;
  d->max_scans = opts->max_scans;
  d->fast_path_used = 0;
  d->row_restarts = 0;
  if (opts->max_file_size > 0 && (uint64_t)size > opts->max_file_size) {
    snprintf(d->message, sizeof d->message,
             "file of %llu bytes is over the limit of %llu bytes (max_file_size)",
             (unsigned long long)size, (unsigned long long)opts->max_file_size);
    return FL_ERR_TOO_LARGE;
  }
  if (size > (size_t)ULONG_MAX) {
    snprintf(d->message, sizeof d->message, "input larger than libjpeg can address");
    return FL_ERR_ARGUMENT;
  }
  d->state = STATE_OPEN;
  if (setjmp(d->jump)) {
    fl_end(d);
    return d->error_status;
  }
  d->data = data;
  d->size = size;
  read_header_fresh(d);
  {
    /* libjpeg checks a component's table number only when its first scan starts */
    int i;
    for (i = 0; i < d->cinfo.num_components; i++) {
      int q = d->cinfo.comp_info[i].quant_tbl_no;
      if (q < 0 || q >= NUM_QUANT_TBLS) {
        snprintf(d->message, sizeof d->message,
                 "corrupt JPEG data: component %d names quantization table %d in its frame "
                 "header (tables 0..%d exist)", i, q, NUM_QUANT_TBLS - 1);
        fl_end(d);
        return FL_ERR_DECODE;
      }
    }
  }
  fill_info(&d->cinfo, info);
  info->orientation = fl_exif_orientation(data, size, &info->exif_warning);
  info->row_restarts = d->row_restarts = row_restarts(&d->cinfo, data, size);
  /* Header-only reads answer "will a partial decode stop early?" exactly: a stray
   * marker anywhere in the scan makes it decode whole. Decoding calls leave this scan
   * to the part they skip (fl_read_coefficient_region), which costs far less. */
  if (!opts->require_coefficients && info->partial_decodable)
    info->partial_decodable = rest_of_scan_is_clean(&d->cinfo);

  if (opts->require_coefficients) {
    fl_status st = check_supported(d, info);
    if (st == FL_OK && opts->max_pixels > 0 &&
        (uint64_t)info->width * (uint64_t)info->height > opts->max_pixels) {
      snprintf(d->message, sizeof d->message,
               "image of %d x %d = %llu pixels is over the limit of %llu "
               "pixels (max_pixels)",
               info->width, info->height,
               (unsigned long long)info->width * (unsigned long long)info->height,
               (unsigned long long)opts->max_pixels);
      st = FL_ERR_TOO_LARGE;
    }
    if (st == FL_OK && opts->max_memory > 0) {
      uint64_t bytes = 0;
      int c;
      for (c = 0; c < info->num_components; c++)
        bytes += (uint64_t)info->comp[c].alloc_blocks_h * info->comp[c].alloc_blocks_w * 128;
      if (bytes > opts->max_memory) {
        snprintf(d->message, sizeof d->message,
                 "its coefficients need %llu bytes, over the limit of %llu (max_memory)",
                 (unsigned long long)bytes, (unsigned long long)opts->max_memory);
        st = FL_ERR_TOO_LARGE;
      }
    }
    if (st != FL_OK) {
      fl_end(d);
      return st;
    }
  }
  return FL_OK;
}

fl_status fl_read_header(fl_decoder *d, const uint8_t *data, size_t size,
                         fl_info *info) {
  fl_status st = fl_begin(d, data, size, NULL, info);
  fl_end(d);
  return st;
}

static fl_status check_planes(fl_decoder *d, const fl_plane *planes, int num_planes) {
  const struct jpeg_decompress_struct *c = &d->cinfo;
  size_t total_rows = 0;
  int i;
  if (planes == NULL || num_planes != c->num_components) {
    snprintf(d->message, sizeof d->message, "the image has %d components, got %d planes",
             c->num_components, planes == NULL ? 0 : num_planes);
    return FL_ERR_ARGUMENT;
  }
  for (i = 0; i < c->num_components; i++) {
    const jpeg_component_info *ci = &c->comp_info[i];
    const fl_plane *p = &planes[i];
    int need_h = round_up((int)ci->height_in_blocks, ci->v_samp_factor);
    int need_w = round_up((int)ci->width_in_blocks, ci->h_samp_factor);
    if (p->data == NULL || p->rows < need_h || p->cols < need_w ||
        p->row_stride < (ptrdiff_t)p->cols * 64) {
      snprintf(d->message, sizeof d->message,
               "component %d needs a plane of at least %d x %d blocks "
               "(got %d x %d, row stride %ld)",
               i, need_h, need_w, p->rows, p->cols, (long)p->row_stride);
      return FL_ERR_ARGUMENT;
    }
    total_rows += (size_t)p->rows;
  }
  if (total_rows > d->row_pointers_cap) {
    JBLOCKROW *rp = (JBLOCKROW *)realloc(d->row_pointers, total_rows * sizeof *rp);
    if (rp == NULL) {
      snprintf(d->message, sizeof d->message, "out of memory");
      return FL_ERR_NOMEM;
    }
    d->row_pointers = rp;
    d->row_pointers_cap = total_rows;
  }
  return FL_OK;
}

/* The open image from its first byte again, on a fresh decompressor, for a whole read
 * (the warnings of the first attempt are dropped: they come again). May longjmp. */
static void reopen(fl_decoder *d) {
  d->warnings = 0;
  d->warning[0] = '\0';
  read_header_fresh(d); /* destroying the decompressor also ends the aborted read */
}

/* The open image as fl_entropy.c's scan layout, where its fast path applies: one
 * sequential Huffman scan of 8-bit samples holding every component, with every table it
 * names defined (libjpeg reports the rest, so they are left to it). */
static int fast_layout(const struct jpeg_decompress_struct *c, fl_scan_layout *s) {
  int i;
  if (c->progressive_mode || c->arith_code || c->data_precision != 8 ||
      c->comps_in_scan != c->num_components || c->num_components > FL_SCAN_MAX ||
      c->Ss != 0 || c->Se != DCTSIZE2 - 1 || c->Ah != 0 || c->Al != 0)
    return 0;
  s->num_components = c->comps_in_scan;
  s->restart_interval = (int)c->restart_interval;
  s->mcus_per_row = scan_mcus_per_row(c);
  if (c->comps_in_scan == 1) { /* non-interleaved: an MCU is one block */
    const jpeg_component_info *ci = c->cur_comp_info[0];
    s->mcu_rows = (int)ci->height_in_blocks;
    s->imcu_mcu_rows = ci->v_samp_factor;
    s->imcu_mcu_cols = ci->h_samp_factor;
  } else {
    int blocks = 0;
    s->mcu_rows = (int)((c->image_height + 8 * c->max_v_samp_factor - 1) /
                        (8 * c->max_v_samp_factor));
    s->imcu_mcu_rows = 1;
    s->imcu_mcu_cols = 1;
    for (i = 0; i < c->comps_in_scan; i++)
      blocks += c->cur_comp_info[i]->h_samp_factor * c->cur_comp_info[i]->v_samp_factor;
    if (blocks > D_MAX_BLOCKS_IN_MCU) return 0;
  }
  for (i = 0; i < c->comps_in_scan; i++) {
    const jpeg_component_info *ci = c->cur_comp_info[i];
    fl_scan_component *o = &s->comp[i];
    const JHUFF_TBL *dc, *ac;
    int l;
    if (ci->dc_tbl_no < 0 || ci->dc_tbl_no >= NUM_HUFF_TBLS || ci->ac_tbl_no < 0 ||
        ci->ac_tbl_no >= NUM_HUFF_TBLS || ci->quant_tbl_no < 0 ||
        ci->quant_tbl_no >= NUM_QUANT_TBLS || c->quant_tbl_ptrs[ci->quant_tbl_no] == NULL)
      return 0;
    dc = c->dc_huff_tbl_ptrs[ci->dc_tbl_no];
    ac = c->ac_huff_tbl_ptrs[ci->ac_tbl_no];
    if (dc == NULL || ac == NULL) return 0; /* libjpeg supplies the standard tables */
    o->plane = ci->component_index;
    o->dc_table = ci->dc_tbl_no;
    o->ac_table = ci->ac_tbl_no;
    o->mcu_w = c->comps_in_scan == 1 ? 1 : ci->h_samp_factor;
    o->mcu_h = c->comps_in_scan == 1 ? 1 : ci->v_samp_factor;
    o->alloc_w = round_up((int)ci->width_in_blocks, ci->h_samp_factor);
    o->alloc_h = round_up((int)ci->height_in_blocks, ci->v_samp_factor);
    for (l = 0; l <= 16; l++) {
      s->dc_spec[o->dc_table].bits[l] = (uint8_t)dc->bits[l];
      s->ac_spec[o->ac_table].bits[l] = (uint8_t)ac->bits[l];
    }
    memcpy(s->dc_spec[o->dc_table].huffval, dc->huffval, 256);
    memcpy(s->ac_spec[o->ac_table].huffval, ac->huffval, 256);
  }
  return 1;
}

/* Try the fast path on the open image (see fl_entropy.c): 1 when it decoded the planes
 * exactly as libjpeg would have (whole, or what the region r may leave out aside: the rows
 * below r->end_row when that is > 0, and in packs the rows above r->first_row and the
 * restart intervals outside its columns), 0 when libjpeg must decode it. Leaves libjpeg's
 * state untouched. */
static int fast_read(fl_decoder *d, const fl_plane *planes, const fl_imcu_region *r) {
  const struct jpeg_decompress_struct *c = &d->cinfo;
  const JOCTET *data = c->src->next_input_byte, *end = data + c->src->bytes_in_buffer;
  fl_scan_layout layout;
  fl_entropy_stop stop;
  int got;
  if (d->libjpeg_only || c->unread_marker != 0 || !fast_layout(c, &layout)) return 0;
  if (d->entropy == NULL && (d->entropy = (fl_entropy *)calloc(1, sizeof *d->entropy)) == NULL)
    return 0;
  got = fl_entropy_decode(d->entropy, &layout, data, (size_t)(end - data), planes, r, &stop);
  /* stopped early: the same check on the skipped part as the libjpeg path makes */
  if (got == FL_ENTROPY_STOPPED &&
      !scan_rest_clean(stop.p, end, c->restart_interval > 0, (stop.next_restart + 7) & 7))
    got = FL_ENTROPY_DECLINED;
  return got != FL_ENTROPY_DECLINED;
}

/* Each component's quantisation table (raster order) into quant[c], then end the image:
 * the table latched when the component's first scan began, else (the fast path, which
 * starts no libjpeg scan) the one its frame header names, defined before the scan. */
static fl_status copy_quant(fl_decoder *d, uint16_t quant[][64]) {
  const struct jpeg_decompress_struct *c = &d->cinfo;
  int i, k;
  for (i = 0; i < c->num_components; i++) {
    const jpeg_component_info *ci = &c->comp_info[i];
    const JQUANT_TBL *q = ci->quant_table;
    if (q == NULL && ci->quant_tbl_no >= 0 && ci->quant_tbl_no < NUM_QUANT_TBLS)
      q = c->quant_tbl_ptrs[ci->quant_tbl_no];
    if (q == NULL) {
      snprintf(d->message, sizeof d->message,
               "corrupt JPEG data: component %d has no quantization table", i);
      fl_end(d);
      return FL_ERR_DECODE;
    }
    for (k = 0; k < 64; k++) quant[i][k] = q->quantval[k];
  }
  fl_end(d);
  return FL_OK;
}

fl_status fl_read_coefficients(fl_decoder *d, const fl_plane *planes,
                               int num_planes, uint16_t quant[][64]) {
  return fl_read_coefficient_region(d, planes, num_planes, quant, NULL);
}

fl_status fl_read_coefficient_region(fl_decoder *d, const fl_plane *planes, int num_planes,
                                     uint16_t quant[][64], const fl_imcu_region *r) {
  const int rows = r ? r->end_row : 0, first = r ? r->first_row : 0;
  fl_imcu_region fast = {0, 0, 0, 0}; /* what the fast path may leave out */
  struct jpeg_decompress_struct *c = &d->cinfo;
  jvirt_barray_ptr *arrays;
  fl_status st;
  volatile int whole = 0; /* read after a longjmp */
  JDIMENSION stop_rows;     /* > 0: the iMCU rows a partial decode reads */
  JDIMENSION start_rows;    /* > 0: the first of them, where the fast path may start */
  int i;
  if (d->state != STATE_OPEN) {
    snprintf(d->message, sizeof d->message, "no image is open (call fl_begin first)");
    return FL_ERR_ARGUMENT;
  }
  st = check_planes(d, planes, num_planes);
  if (st != FL_OK) {
    fl_end(d);
    return st;
  }
  stop_rows = rows > 0 && (JDIMENSION)rows < c->total_iMCU_rows && partial_decodable(c)
                  ? (JDIMENSION)rows : 0;
  /* start lower only in freqload's packs (restart intervals of at most a row), under the
   * same rule as stopping early */
  start_rows = rows > 0 && first > 0 && first < rows && partial_decodable(c) &&
                       d->row_restarts
                   ? (JDIMENSION)first : 0;
  fast.first_row = (int)start_rows;
  fast.end_row = (int)stop_rows;
  if (r && r->end_col > 0 && d->row_restarts && partial_decodable(c)) {
    /* columns: in packs only, under the same rule */
    fast.first_col = r->first_col;
    fast.end_col = r->end_col;
  }
  if (fast_read(d, planes, &fast)) {
    d->fast_path_used = 1;
    return copy_quant(d, quant);
  }
  for (;;) {
    d->planes = planes;
    d->num_requests = 0;
    d->stopped = 0;
    d->stop_imcu_rows = whole ? 0 : stop_rows;
    if (setjmp(d->jump)) {
      if (!d->stopped) {
        d->stop_imcu_rows = 0;
        fl_end(d);
        return d->error_status;
      }
    } else {
      if (whole) reopen(d);
      arrays = jpeg_read_coefficients(c);
      if (arrays == NULL || d->num_requests != c->num_components) {
        /* a memory source never suspends; this means the hooks were bypassed */
        snprintf(d->message, sizeof d->message,
                 "internal error: libjpeg did not decode into the caller's planes");
        d->stop_imcu_rows = 0;
        fl_end(d);
        return FL_ERR_DECODE;
      }
    }
    d->stop_imcu_rows = 0;
    /* Stopped early: the rest of the scan was never read. A stray marker there
     * (a second SOI, SOF, DQT, DHT, a bogus segment) is damage a whole decode would
     * report, so such a file is decoded again, whole, for the error policy to see. */
    if (d->stopped && !rest_of_scan_is_clean(c)) {
      whole = 1;
      continue;
    }
    break;
  }
  for (i = 0; i < c->num_components; i++) {
    struct jvirt_barray_control *a = &d->arrays[i];
    /* rows no scan reached (a truncated file) read as zero, as in libjpeg; when
     * stopped early, the rows below were not asked for and stay undefined */
    if (!d->stopped && a->first_undef_row < a->num_rows)
      zero_rows(a, a->first_undef_row, a->num_rows);
  }
  return copy_quant(d, quant);
}
