/*
 * Augmentation policies: which operations a sample gets, drawn from its key.
 *
 * The op lists and magnitude bins are torchvision.transforms.v2's (_auto_augment.py:
 * TrivialAugmentWide and RandAugment's _AUGMENTATION_SPACE, forward()), in the same
 * order, drawn in the same order (op, then the bin where the op has magnitudes, then
 * the sign where it is signed), from a splitmix64 stream of the key with a seed of its
 * own (not the crop's), so a sample's augmentation is the same on any engine, thread,
 * worker or rank, and the RGB baseline can take the same draws. See fl_core.h.
 */
#include <math.h>
#include <stdio.h>

#include "fl_core.h"
#include "fl_internal.h"

/* The policy stream's seed: the key mixed with a constant of its own, so the ops are
 * independent of the crop and flip the same key draws. */
#define FL_POLICY_SEED 0xD1B54A32D192ED03ull

static double linspace(double a, double b, int i, int n) {
  return n == 1 ? a : a + (b - a) * (double)i / (double)(n - 1);
}

int fl_policy_magnitude(int kind, int op, int bin, int num_bins, int height, int width,
                        double *value, int *is_signed) {
  const int trivial = kind == FL_POLICY_TRIVIAL_WIDE;
  *value = 0.0;
  *is_signed = 0;
  if (bin < 0 || bin >= num_bins) return 0;
  switch (op) {
  case FL_OP_SHEAR_X:
  case FL_OP_SHEAR_Y:
    *value = linspace(0.0, trivial ? 0.99 : 0.3, bin, num_bins);
    *is_signed = 1;
    return 1;
  case FL_OP_TRANSLATE_X:
    *value = linspace(0.0, trivial ? 32.0 : 150.0 / 331.0 * width, bin, num_bins);
    *is_signed = 1;
    return 1;
  case FL_OP_TRANSLATE_Y:
    *value = linspace(0.0, trivial ? 32.0 : 150.0 / 331.0 * height, bin, num_bins);
    *is_signed = 1;
    return 1;
  case FL_OP_ROTATE:
    *value = linspace(0.0, trivial ? 135.0 : 30.0, bin, num_bins);
    *is_signed = 1;
    return 1;
  case FL_OP_BRIGHTNESS:
  case FL_OP_COLOR:
  case FL_OP_CONTRAST:
  case FL_OP_SHARPNESS:
    *value = linspace(0.0, trivial ? 0.99 : 0.9, bin, num_bins);
    *is_signed = 1;
    return 1;
  case FL_OP_POSTERIZE: /* bits: 8 - bin / ((n - 1) / (6 or 4)), rounded half to even */
    *value = num_bins == 1 ? 8.0
                           : rint(8.0 - (double)bin / ((double)(num_bins - 1) /
                                                       (trivial ? 6.0 : 4.0)));
    return 1;
  case FL_OP_SOLARIZE: /* the threshold as a fraction of the value range (1 .. 0) */
    *value = linspace(1.0, 0.0, bin, num_bins);
    return 1;
  default: /* identity, autocontrast, equalize: no magnitude */
    return 0;
  }
}

fl_status fl_policy_check(const fl_policy *p, char *message, size_t message_size) {
  if (p->kind == FL_POLICY_NONE) return FL_OK;
  if (p->kind == FL_POLICY_FIXED) {
    if (p->op < 0 || p->op >= FL_OP_KINDS) {
      snprintf(message, message_size, "augment: op must be 0..%d, got %d", FL_OP_KINDS - 1, p->op);
      return FL_ERR_ARGUMENT;
    }
    if (!isfinite(p->value)) {
      snprintf(message, message_size, "augment: the op's magnitude must be finite");
      return FL_ERR_ARGUMENT;
    }
    if (p->op == FL_OP_POSTERIZE && !(p->value >= 0 && p->value <= 8)) {
      snprintf(message, message_size, "augment: posterize's bits must be 0..8, got %g", p->value);
      return FL_ERR_ARGUMENT;
    }
    return FL_OK;
  }
  if (p->kind != FL_POLICY_TRIVIAL_WIDE && p->kind != FL_POLICY_RAND_AUGMENT) {
    snprintf(message, message_size, "augment: unknown policy %d", p->kind);
    return FL_ERR_ARGUMENT;
  }
  if (p->num_bins < 1 || p->num_bins > 1000) {
    snprintf(message, message_size, "augment: num_magnitude_bins must be 1..1000, got %d",
             p->num_bins);
    return FL_ERR_ARGUMENT;
  }
  if (p->kind == FL_POLICY_RAND_AUGMENT) {
    if (p->num_ops < 0 || p->num_ops > FL_POLICY_MAX_OPS) {
      snprintf(message, message_size, "augment: num_ops must be 0..%d, got %d",
               FL_POLICY_MAX_OPS, p->num_ops);
      return FL_ERR_ARGUMENT;
    }
    if (p->magnitude < 0 || p->magnitude >= p->num_bins) {
      snprintf(message, message_size,
               "augment: magnitude must be a bin 0..%d (num_magnitude_bins - 1), got %d",
               p->num_bins - 1, p->magnitude);
      return FL_ERR_ARGUMENT;
    }
  }
  return FL_OK;
}

int fl_policy_count(const fl_policy *p) {
  return p->kind == FL_POLICY_TRIVIAL_WIDE || p->kind == FL_POLICY_FIXED ? 1
         : p->kind == FL_POLICY_RAND_AUGMENT                          ? p->num_ops
                                                                      : 0;
}

int fl_policy_draw(const fl_policy *p, uint64_t key, int height, int width, fl_op *ops) {
  uint64_t s = key ^ FL_POLICY_SEED;
  const int count = fl_policy_count(p);
  if (p->kind == FL_POLICY_FIXED) {
    ops[0].op = p->op;
    ops[0].magnitude = p->value;
    return 1;
  }
  for (int k = 0; k < count; k++) {
    const int op = (int)(fl_uniform(&s) * FL_OP_POLICY_KINDS);
    double value;
    int is_signed;
    /* the bin only where the op has magnitudes (TrivialAugmentWide draws it, RandAugment's
     * is fixed), then the sign only where the op is signed: torchvision's order */
    if (fl_policy_magnitude(p->kind, op, 0, p->num_bins, height, width, &value, &is_signed)) {
      const int bin = p->kind == FL_POLICY_TRIVIAL_WIDE ? (int)(fl_uniform(&s) * p->num_bins)
                                                        : p->magnitude;
      fl_policy_magnitude(p->kind, op, bin, p->num_bins, height, width, &value, &is_signed);
      if (is_signed && fl_uniform(&s) < 0.5) value = -value;
    }
    ops[k].op = op;
    ops[k].magnitude = value;
  }
  return count;
}

/* ---- random erasing ------------------------------------------------------------------ */

#define FL_ERASING_SEED 0x8CB92BA72F3D8DD7ull

int fl_erasing_draw(uint64_t key, int height, int width, double p, double scale_min,
                    double scale_max, double ratio_min, double ratio_max, int box[4]) {
  uint64_t s = key ^ FL_ERASING_SEED;
  const double area = (double)height * (double)width;
  const double lr0 = log(ratio_min), lr1 = log(ratio_max);
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!(fl_uniform(&s) < p)) return 0; /* torchvision: torch.rand(1) >= p keeps the image */
  for (int attempt = 0; attempt < 10; attempt++) {
    const double erase_area = area * (scale_min + (scale_max - scale_min) * fl_uniform(&s));
    const double aspect = exp(lr0 + (lr1 - lr0) * fl_uniform(&s));
    /* Python's round(): half to even, as rint in the default rounding mode */
    const int h = (int)rint(sqrt(erase_area * aspect));
    const int w = (int)rint(sqrt(erase_area / aspect));
    if (!(h < height && w < width)) continue;
    box[0] = (int)(fl_uniform(&s) * (height - h + 1)); /* top */
    box[1] = (int)(fl_uniform(&s) * (width - w + 1));  /* left */
    box[2] = h;
    box[3] = w;
    return 1;
  }
  return 0; /* ten misses: torchvision leaves the image as it is */
}

/* ---- colour jitter and random grayscale ----------------------------------------------- */

/* the streams of their draws (the constants freqload.codec.jitter names) */
#define FL_JITTER_STREAM 0x5851F42D4C957F2Dull
#define FL_GRAYSCALE_STREAM 0x2545F4914F6CDD1Dull

fl_status fl_jitter_check(const fl_jitter *j, char *message, size_t message_size) {
  static const char *names[4] = {"brightness", "contrast", "saturation", "hue"};
  if (j->active & ~15) {
    snprintf(message, message_size, "jitter: unknown ops 0x%x", j->active);
    return FL_ERR_ARGUMENT;
  }
  for (int k = 0; k < 4; k++) {
    if (!(j->active & (1 << k))) continue;
    const double lo = k == FL_JITTER_HUE ? -0.5 : 0.0, hi = k == FL_JITTER_HUE ? 0.5 : INFINITY;
    if (!(j->lo[k] >= lo && j->lo[k] <= j->hi[k] && j->hi[k] <= hi && isfinite(j->hi[k]))) {
      snprintf(message, message_size, "%s: a range within (%g, %g), got (%g, %g)", names[k], lo,
               hi, j->lo[k], j->hi[k]);
      return FL_ERR_ARGUMENT;
    }
  }
  if (!(j->gray_p >= 0 && j->gray_p <= 1)) {
    snprintf(message, message_size, "grayscale: p must be in [0, 1], got %g", j->gray_p);
    return FL_ERR_ARGUMENT;
  }
  return FL_OK;
}

int fl_jitter_draw(const fl_jitter *j, uint64_t key, int order[4], double factor[4]) {
  double u[8], g;
  fl_key_uniforms(key, FL_JITTER_STREAM, 8, u);
  for (int k = 0; k < 4; k++) order[k] = k;
  for (int a = 1; a < 4; a++) /* a stable insertion sort of u[0..3]: the permutation */
    for (int b = a; b > 0 && u[order[b]] < u[order[b - 1]]; b--) {
      const int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (int k = 0; k < 4; k++)
    factor[k] = !(j->active & (1 << k)) ? (k == FL_JITTER_HUE ? 0.0 : 1.0)
                                        : j->lo[k] + (j->hi[k] - j->lo[k]) * u[4 + k];
  fl_key_uniforms(key, FL_GRAYSCALE_STREAM, 1, &g);
  return g < j->gray_p;
}

int fl_jitter_ops(const fl_jitter *j, uint64_t key, fl_op ops[5]) {
  static const int op_of[4] = {FL_OP_BRIGHTNESS, FL_OP_CONTRAST, FL_OP_COLOR, FL_OP_HUE};
  int order[4], n = 0;
  double factor[4];
  const int grey = fl_jitter_draw(j, key, order, factor);
  for (int s = 0; s < 4; s++) {
    const int k = order[s];
    if (!(j->active & (1 << k))) continue;
    ops[n].op = op_of[k];
    /* the policy ops' units: brightness / contrast / color as factor - 1 */
    ops[n++].magnitude = k == FL_JITTER_HUE ? factor[k] : factor[k] - 1.0;
  }
  if (grey) {
    ops[n].op = FL_OP_GRAYSCALE;
    ops[n++].magnitude = 0.0;
  }
  return n;
}

/* ---- a key's own uniforms -------------------------------------------------------------- */

void fl_key_uniforms(uint64_t key, uint64_t stream, int n, double *out) {
  uint64_t s = key ^ stream;
  for (int i = 0; i < n; i++) out[i] = fl_uniform(&s);
}
