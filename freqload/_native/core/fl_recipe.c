/*
 * The recipe of a sample (fl_recipe): its rules, its packed form, and the one decode
 * call both fronts make with it.
 *
 * The packed form, little-endian, version 2 (FL_RECIPE_VERSION):
 *
 *   "FLR" 0x02 | u16 count | count x u8 component | count x u8 coef |
 *   i32 out_h | i32 out_w | u8 dequantize | u8 chroma | u8 output | u8 transform kind |
 *   f64 scale_min, scale_max, ratio_min, ratio_max, flip_p, crop_ratio (IEEE bits) |
 *   u64 max_pixels | u8 strict | u64 max_file_size | i32 max_scans | u64 max_memory |
 *   u8 partial_decode | u8 orient |
 *   (version 3:) u8 augment kind | i32 num_ops | i32 magnitude | i32 num_bins | i32 op |
 *   f64 value | u8 jitter ops | f64 lo, hi of brightness, contrast, saturation, hue |
 *   f64 grayscale p
 *
 * Version 2 (no augment) is still read.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl_core.h"
#include "fl_internal.h"


static const char *kind_name(int kind) {
  return kind == FL_TRANSFORM_EVAL ? "eval" : kind == FL_TRANSFORM_TRAIN ? "train" : "blocks";
}

static fl_status fail(char *message, size_t message_size, const char *text) {
  snprintf(message, message_size, "%s", text);
  return FL_ERR_ARGUMENT;
}

fl_status fl_transform_check(const fl_transform *t, char *message, size_t message_size) {
  if (t->kind != FL_TRANSFORM_BLOCKS && t->kind != FL_TRANSFORM_EVAL &&
      t->kind != FL_TRANSFORM_TRAIN)
    return fail(message, message_size, "transform must be 'blocks', 'eval' or 'train'");
  /* written so that NaN fails every test */
  if (!(t->scale_min > 0 && t->scale_min <= t->scale_max && isfinite(t->scale_max))) {
    snprintf(message, message_size, "scale must be 0 < min <= max, got (%g, %g)", t->scale_min,
             t->scale_max);
    return FL_ERR_ARGUMENT;
  }
  if (!(t->ratio_min > 0 && t->ratio_min <= t->ratio_max && isfinite(t->ratio_max))) {
    snprintf(message, message_size, "ratio must be 0 < min <= max, got (%g, %g)", t->ratio_min,
             t->ratio_max);
    return FL_ERR_ARGUMENT;
  }
  if (!(t->flip_p >= 0 && t->flip_p <= 1)) {
    snprintf(message, message_size, "flip must be a probability in [0, 1], got %g", t->flip_p);
    return FL_ERR_ARGUMENT;
  }
  if (!(t->crop_ratio > 0 && t->crop_ratio <= 1)) {
    snprintf(message, message_size, "crop_ratio must be in (0, 1], got %g", t->crop_ratio);
    return FL_ERR_ARGUMENT;
  }
  return FL_OK;
}

int fl_recipe_augments(const fl_recipe *r) {
  return r->augment.kind != FL_POLICY_NONE || r->jitter.active != 0 || r->jitter.gray_p > 0;
}

fl_status fl_recipe_check(const fl_recipe *r, char *message, size_t message_size) {
  uint8_t seen[FL_MAX_CHANNELS];
  int k;
  if (r->count < 1) return fail(message, message_size, "the mask selects no channel");
  if (r->count > FL_MAX_CHANNELS)
    return fail(message, message_size, "the mask selects more than 192 channels");
  memset(seen, 0, sizeof seen);
  for (k = 0; k < r->count; k++) {
    const int index = 64 * r->component[k] + r->coef[k];
    if (r->component[k] > 2 || r->coef[k] > 63) {
      snprintf(message, message_size,
               "mask channel %d is out of range (component %d, coefficient %d)", k,
               r->component[k], r->coef[k]);
      return FL_ERR_ARGUMENT;
    }
    if (seen[index]) {
      snprintf(message, message_size, "the mask lists channel %d twice", index);
      return FL_ERR_ARGUMENT;
    }
    seen[index] = 1;
  }
  if (r->out_h < 1 || r->out_w < 1 || r->out_h > FL_MAX_GRID || r->out_w > FL_MAX_GRID) {
    snprintf(message, message_size, "size must be 1..%d blocks per side, got (%d, %d)", FL_MAX_GRID,
             r->out_h, r->out_w);
    return FL_ERR_ARGUMENT;
  }
  if (r->chroma != FL_CHROMA_DCT && r->chroma != FL_CHROMA_NEAREST)
    return fail(message, message_size, "chroma must be 'dct' or 'nearest'");
  if (r->output != FL_OUTPUT_CHANNELS && r->output != FL_OUTPUT_PLANES)
    return fail(message, message_size, "regroup must be 'cpu' or 'device'");
  if (fl_transform_check(&r->transform, message, message_size) != FL_OK) return FL_ERR_ARGUMENT;
  if (r->output == FL_OUTPUT_PLANES && r->transform.kind != FL_TRANSFORM_BLOCKS) {
    snprintf(message, message_size,
             "regroup='device' supports transform='blocks' only (the DCT-domain resize of "
             "transform='%s' runs on the host); pass transform='blocks' or regroup='cpu'",
             kind_name(r->transform.kind));
    return FL_ERR_ARGUMENT;
  }
  if (r->transform.kind != FL_TRANSFORM_BLOCKS && !r->dequantize) {
    snprintf(message, message_size,
             "transform='%s' resamples dequantised coefficients; dequantize=False needs "
             "transform='blocks'", kind_name(r->transform.kind));
    return FL_ERR_ARGUMENT;
  }
  if (r->options.max_scans < 0)
    return fail(message, message_size, "max_scans must be >= 0 (0: no limit)");
  if (fl_jitter_check(&r->jitter, message, message_size) != FL_OK) return FL_ERR_ARGUMENT;
  if (r->jitter.active & (1 << FL_JITTER_HUE)) { /* every chroma channel with its partner */
    for (k = 0; k < r->count; k++)
      if (r->component[k] > 0 && !seen[64 * (3 - r->component[k]) + r->coef[k]]) {
        snprintf(message, message_size,
                 "hue needs Cb and Cr of the same frequencies: the mask has channel %d "
                 "without %d", 64 * r->component[k] + r->coef[k],
                 64 * (3 - r->component[k]) + r->coef[k]);
        return FL_ERR_ARGUMENT;
      }
  }
  if (fl_recipe_augments(r)) {
    int has_luma_dc = 0;
    if (fl_policy_check(&r->augment, message, message_size) != FL_OK) return FL_ERR_ARGUMENT;
    if (r->output != FL_OUTPUT_CHANNELS)
      return fail(message, message_size,
                  "augment needs regroup='cpu' (it runs on the aligned channels in the core)");
    if (!r->dequantize)
      return fail(message, message_size,
                  "augment works on dequantised coefficients; pass dequantize=True");
    for (k = 0; k < r->count; k++) has_luma_dc |= r->component[k] == 0 && r->coef[k] == 0;
    if (!has_luma_dc)
      return fail(message, message_size,
                  "augment needs the luma DC channel (0) in the mask: contrast, solarize, "
                  "autocontrast and equalize read the blocks' mean luma from it");
  }
  return FL_OK;
}

/* ---- packing ---------------------------------------------------------- */

static uint8_t *put(uint8_t *p, uint64_t v, int bytes) {
  int i;
  for (i = 0; i < bytes; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint64_t get(const uint8_t **p, int bytes) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < bytes; i++) v |= (uint64_t)(*p)[i] << (8 * i);
  *p += bytes;
  return v;
}

static uint64_t double_bits(double d) {
  uint64_t v;
  memcpy(&v, &d, sizeof v);
  return v;
}

static double bits_double(uint64_t v) {
  double d;
  memcpy(&d, &v, sizeof d);
  return d;
}

#define FIXED_BYTES_V2 (4 + 2 + 4 + 4 + 4 + 6 * 8 + 8 + 1 + 8 + 4 + 8 + 1 + 1)
#define AUGMENT_BYTES (1 + 4 * 4 + 8 + 1 + 9 * 8)

size_t fl_recipe_pack(const fl_recipe *r, uint8_t out[FL_RECIPE_PACKED_MAX]) {
  const fl_transform *t = &r->transform;
  const fl_options *o = &r->options;
  const int count = r->count < 0 ? 0 : (r->count > FL_MAX_CHANNELS ? FL_MAX_CHANNELS : r->count);
  uint8_t *p = out;
  *p++ = 'F';
  *p++ = 'L';
  *p++ = 'R';
  *p++ = FL_RECIPE_VERSION;
  p = put(p, (uint64_t)count, 2);
  memcpy(p, r->component, (size_t)count);
  p += count;
  memcpy(p, r->coef, (size_t)count);
  p += count;
  p = put(p, (uint32_t)r->out_h, 4);
  p = put(p, (uint32_t)r->out_w, 4);
  *p++ = (uint8_t)(r->dequantize != 0);
  *p++ = (uint8_t)r->chroma;
  *p++ = (uint8_t)r->output;
  *p++ = (uint8_t)t->kind;
  p = put(p, double_bits(t->scale_min), 8);
  p = put(p, double_bits(t->scale_max), 8);
  p = put(p, double_bits(t->ratio_min), 8);
  p = put(p, double_bits(t->ratio_max), 8);
  p = put(p, double_bits(t->flip_p), 8);
  p = put(p, double_bits(t->crop_ratio), 8);
  p = put(p, o->max_pixels, 8);
  *p++ = (uint8_t)(o->strict != 0);
  p = put(p, o->max_file_size, 8);
  p = put(p, (uint32_t)o->max_scans, 4);
  p = put(p, o->max_memory, 8);
  *p++ = (uint8_t)(o->partial_decode != 0);
  *p++ = (uint8_t)(r->orient != 0);
  *p++ = (uint8_t)r->augment.kind;
  p = put(p, (uint32_t)r->augment.num_ops, 4);
  p = put(p, (uint32_t)r->augment.magnitude, 4);
  p = put(p, (uint32_t)r->augment.num_bins, 4);
  p = put(p, (uint32_t)r->augment.op, 4);
  p = put(p, double_bits(r->augment.value), 8);
  *p++ = (uint8_t)r->jitter.active;
  for (int k = 0; k < 4; k++) {
    p = put(p, double_bits(r->jitter.lo[k]), 8);
    p = put(p, double_bits(r->jitter.hi[k]), 8);
  }
  p = put(p, double_bits(r->jitter.gray_p), 8);
  return (size_t)(p - out);
}

fl_status fl_recipe_unpack(const uint8_t *data, size_t size, fl_recipe *r, char *message,
                           size_t message_size) {
  const uint8_t *p = data;
  int count;
  memset(r, 0, sizeof *r);
  if (size < 6 || memcmp(data, "FLR", 3) != 0)
    return fail(message, message_size, "not a packed recipe (make one with freqload.Recipe)");
  if (data[3] != FL_RECIPE_VERSION && data[3] != 2) {
    snprintf(message, message_size,
             "packed recipe version %d, this build reads version %d (rebuild the recipe with "
             "this freqload)", data[3], FL_RECIPE_VERSION);
    return FL_ERR_ARGUMENT;
  }
  p += 4;
  count = (int)get(&p, 2);
  if (size != (size_t)FIXED_BYTES_V2 + (data[3] >= 3 ? AUGMENT_BYTES : 0) + 2 * (size_t)count)
    return fail(message, message_size, "packed recipe has the wrong length");
  if (count > FL_MAX_CHANNELS)
    return fail(message, message_size, "the mask selects more than 192 channels");
  r->count = count;
  memcpy(r->component, p, (size_t)count);
  p += count;
  memcpy(r->coef, p, (size_t)count);
  p += count;
  r->out_h = (int32_t)(uint32_t)get(&p, 4);
  r->out_w = (int32_t)(uint32_t)get(&p, 4);
  r->dequantize = *p++;
  r->chroma = *p++;
  r->output = *p++;
  r->transform.kind = *p++;
  r->transform.scale_min = bits_double(get(&p, 8));
  r->transform.scale_max = bits_double(get(&p, 8));
  r->transform.ratio_min = bits_double(get(&p, 8));
  r->transform.ratio_max = bits_double(get(&p, 8));
  r->transform.flip_p = bits_double(get(&p, 8));
  r->transform.crop_ratio = bits_double(get(&p, 8));
  r->options.max_pixels = get(&p, 8);
  r->options.strict = *p++;
  r->options.max_file_size = get(&p, 8);
  r->options.max_scans = (int32_t)(uint32_t)get(&p, 4);
  r->options.max_memory = get(&p, 8);
  r->options.partial_decode = *p++;
  r->orient = *p++;
  if (data[3] >= 3) {
    r->augment.kind = *p++;
    r->augment.num_ops = (int32_t)(uint32_t)get(&p, 4);
    r->augment.magnitude = (int32_t)(uint32_t)get(&p, 4);
    r->augment.num_bins = (int32_t)(uint32_t)get(&p, 4);
    r->augment.op = (int32_t)(uint32_t)get(&p, 4);
    r->augment.value = bits_double(get(&p, 8));
    r->jitter.active = *p++;
    for (int k = 0; k < 4; k++) {
      r->jitter.lo[k] = bits_double(get(&p, 8));
      r->jitter.hi[k] = bits_double(get(&p, 8));
    }
    r->jitter.gray_p = bits_double(get(&p, 8));
  }
  r->options.require_coefficients = 1;
  if (r->dequantize > 1 || r->options.strict > 1 || r->options.partial_decode > 1 ||
      r->orient > 1)
    return fail(message, message_size, "packed recipe has a flag that is neither 0 nor 1");
  return fl_recipe_check(r, message, message_size);
}

/* ---- using it --------------------------------------------------------- */

fl_channel_spec fl_recipe_spec(const fl_recipe *r) {
  fl_channel_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.component = r->component;
  spec.coef = r->coef;
  spec.count = r->count;
  spec.dequantize = r->dequantize;
  spec.chroma = r->chroma;
  spec.out_h = r->out_h;
  spec.out_w = r->out_w;
  spec.transform = r->transform;
  spec.orient = r->orient;
  return spec;
}

size_t fl_recipe_out_elements(const fl_recipe *r) {
  const fl_channel_spec spec = fl_recipe_spec(r);
  if (r->output == FL_OUTPUT_PLANES) return fl_planes_capacity(&spec);
  return (size_t)r->count * (size_t)r->out_h * (size_t)r->out_w;
}

size_t fl_recipe_augment_doubles(const fl_recipe *r) {
  const fl_channel_spec spec = fl_recipe_spec(r);
  return fl_ops_work_doubles(&spec) + (fl_recipe_out_elements(r) + 1) / 2;
}

void fl_recipe_augment(const fl_recipe *r, uint64_t key, int16_t *out, double *scratch) {
  const fl_channel_spec spec = fl_recipe_spec(r);
  const size_t work = fl_ops_work_doubles(&spec);
  if (!fl_recipe_augments(r) || r->output != FL_OUTPUT_CHANNELS) return;
  fl_policy_sample(&r->augment, &r->jitter, &spec, key, out, (float *)(scratch + work), scratch);
}

fl_status fl_decode_sample(fl_decoder *d, const uint8_t *data, size_t size, const fl_recipe *r,
                           uint64_t key, int16_t *out, int32_t *layout, fl_info *info) {
  const fl_channel_spec spec = fl_recipe_spec(r);
  fl_options opts = r->options;
  fl_status st;
  opts.require_coefficients = 1;
  if (r->output == FL_OUTPUT_PLANES) {
    fl_planes_layout l;
    st = fl_decode_planes(d, data, size, &opts, &spec, out, fl_planes_capacity(&spec), &l, info);
    if (st == FL_OK)
      fl_layout_pack(&l, layout);
    else
      memset(layout, 0, FL_LAYOUT_INTS * sizeof(int32_t));
  } else {
    st = fl_decode_channels(d, data, size, &opts, &spec, key, out, info);
    if (st == FL_OK && fl_recipe_augments(r)) {
      double *scratch = fl_decoder_augment_scratch(d, fl_recipe_augment_doubles(r));
      if (scratch == NULL) {
        st = FL_ERR_NOMEM;
        snprintf(fl_decoder_message_buffer(d), FL_MESSAGE_MAX, "out of memory (augment)");
      } else {
        fl_recipe_augment(r, key, out, scratch);
      }
    }
  }
  if (st != FL_OK) memset(out, 0, fl_recipe_out_elements(r) * sizeof(int16_t));
  return st;
}

/* ---- reading a file --------------------------------------------------- */

fl_status fl_read_file(const char *path, int64_t start, int64_t length, uint64_t max_size,
                       uint8_t **buf, size_t *cap, size_t *size, int *os_error, char *message,
                       size_t message_size) {
  struct stat st;
  size_t want, got = 0;
  uint64_t file_size, offset;
  int fd;
  *size = 0;
  *os_error = 0;
  if (start < 0) { /* a damaged index: never a read before the file */
    snprintf(message, message_size, "cannot read: negative offset %lld", (long long)start);
    return FL_ERR_UNREADABLE;
  }
  offset = (uint64_t)start;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    *os_error = errno;
    if (fd >= 0) close(fd);
    snprintf(message, message_size, "cannot read: %s", strerror(*os_error));
    return FL_ERR_UNREADABLE;
  }
  file_size = (uint64_t)st.st_size;
  if (offset > file_size || (length >= 0 && (uint64_t)length > file_size - offset)) {
    close(fd); /* a member past the end of its archive: the archive was cut short */
    snprintf(message, message_size,
             "cannot read: bytes %llu..%llu are past the end of the file (%llu bytes; "
             "truncated?)",
             (unsigned long long)offset,
             (unsigned long long)(offset + (length >= 0 ? (uint64_t)length : 0)),
             (unsigned long long)file_size);
    return FL_ERR_UNREADABLE;
  }
  if (length < 0) length = (int64_t)(file_size - offset);
  if (max_size > 0 && (uint64_t)length > max_size) { /* not read at all */
    close(fd);
    snprintf(message, message_size,
             "%s of %lld bytes is over the limit of %llu bytes (max_file_size)",
             offset == 0 && (uint64_t)length == file_size ? "file" : "member",
             (long long)length, (unsigned long long)max_size);
    return FL_ERR_TOO_LARGE;
  }
  want = (size_t)length;
  if (want > *cap || *buf == NULL) {
    uint8_t *p = (uint8_t *)malloc(want ? want : 1); /* no realloc: nothing to keep */
    if (!p) {
      close(fd);
      snprintf(message, message_size, "out of memory for a file of %zu bytes", want);
      return FL_ERR_NOMEM;
    }
    free(*buf);
    *buf = p;
    *cap = want ? want : 1;
  }
  while (got < want) {
    const ssize_t r = pread(fd, *buf + got, want - got, (off_t)(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *os_error = errno;
      close(fd);
      snprintf(message, message_size, "cannot read: %s", strerror(*os_error));
      return FL_ERR_UNREADABLE;
    }
    if (r == 0) break; /* the file shrank: decode what is there */
    got += (size_t)r;
  }
  close(fd);
  *size = got;
  return FL_OK;
}

fl_status fl_decode_file(fl_decoder *d, const char *path, int64_t offset, int64_t length,
                         const fl_recipe *r, uint64_t key, int16_t *out, int32_t *layout,
                         fl_info *info, int *os_error) {
  uint8_t **buf;
  size_t *cap, size;
  fl_status st;
  fl_decoder_file_buffer(d, &buf, &cap);
  st = fl_read_file(path, offset, length, r->options.max_file_size, buf, cap, &size, os_error,
                    fl_decoder_message_buffer(d), FL_MESSAGE_MAX);
  if (st != FL_OK) {
    memset(out, 0, fl_recipe_out_elements(r) * sizeof(int16_t));
    if (r->output == FL_OUTPUT_PLANES) memset(layout, 0, FL_LAYOUT_INTS * sizeof(int32_t));
    return st;
  }
  return fl_decode_sample(d, *buf, size, r, key, out, layout, info);
}
