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
 *
 *   fl_driver --threads N FILES...: every file's samples (status and values, hashed) are
 *   computed once serially, then by N threads at once, each with its own decoder and each
 *   visiting the files in a different order (so each decode follows a different file);
 *   any difference fails (exit 1). scripts/sanitize.sh tsan runs it under ThreadSanitizer.
 *
 *   fl_driver --pool N FILES...: the core's thread pool (fl_pool, N threads) with several
 *   jobs in flight at once (five recipes: blocks, eval with RandAugment(3, 20), train with
 *   TrivialAugmentWide, colour jitter and grey, planes, orient; bytes and
 *   path items; one job cancelled as it runs, one freed unfinished); every slot's status,
 *   message, values and layout must equal a serial fl_decode_sample on a fresh decoder
 *   (exit 1 otherwise). The pool runs first, so its threads race to build the lazily
 *   made tables. scripts/sanitize.sh tsan runs it under ThreadSanitizer too.
 *
 *   fl_driver --differential N FILES...: every file and N seeded mutations of it (bit
 *   flips, byte changes, truncation, stray and misnumbered markers, cut and repeated
 *   spans) decoded twice, by the fast entropy path and by libjpeg alone: status,
 *   message, warnings and every value must agree (exit 1 otherwise). The libFuzzer
 *   build makes the same comparison on every input. scripts/sanitize.sh diff runs it.
 */
#include <pthread.h>
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
  if (fl_write_jpeg(views, info->num_components, info->width, info->height, 0, &out, &out_size,
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

static const uint8_t comp24[24] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 1, 1, 1, 2, 2, 2, 2};
static const uint8_t coef24[24] = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27,
                                   0, 1, 8, 9, 0, 1, 8, 9};
static uint8_t comp192[192], coef192[192];

static void init_masks(void) {
  int k;
  for (k = 0; k < 192; k++) {
    comp192[k] = (uint8_t)(k / 64);
    coef192[k] = (uint8_t)(k % 64);
  }
}

static void run_one(const uint8_t *data, size_t size) {
  char msg[FL_MESSAGE_MAX];
  fl_info info;
  int mode, kind, chroma;
  if (!dec) {
    dec = fl_decoder_new(msg, sizeof msg);
    if (!dec) abort();
    init_masks();
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

/* ---- --threads: the same samples from many threads ------------------------------- */

typedef struct {
  uint8_t **data;
  size_t *size;
  int count;
} file_set;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = (const uint8_t *)p;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Status and values of every transform's sample (two masks, partial decoding on) and of
 * a whole strict coefficient read, hashed. */
static uint64_t sample_hash(fl_decoder *d, const uint8_t *data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  fl_options o = {20000000, 1, 1, 0, 200, (uint64_t)1 << 28, 1};
  fl_info info;
  int kind;
  for (kind = 0; kind < 3; kind++) {
    int16_t out24[24 * 7 * 9], out192[192 * 3 * 4];
    fl_channel_spec s24 = {comp24, coef24, 24, 1, 0, 7, 9, {kind, 0.08, 1.0, 0.75,
                                                             4.0 / 3, 0.5, 0.875}};
    fl_channel_spec s192 = {comp192, coef192, 192, kind == 0 ? 0 : 1, 1, 3, 4,
                            {kind, 0.5, 1.0, 0.5, 2.0, 0.5, 1.0}};
    fl_status st = fl_decode_channels(d, data, size, &o, &s24, 99u + (unsigned)kind, out24, NULL);
    h = fnv(h, &st, sizeof st);
    if (st == FL_OK) h = fnv(h, out24, sizeof out24);
    st = fl_decode_channels(d, data, size, &o, &s192, 5u, out192, NULL);
    h = fnv(h, &st, sizeof st);
    if (st == FL_OK) h = fnv(h, out192, sizeof out192);
  }
  if (fl_begin(d, data, size, &o, &info) == FL_OK) {
    fl_plane planes[FL_MAX_COMPONENTS];
    uint16_t quant[FL_MAX_COMPONENTS][64];
    int16_t *base;
    size_t n = alloc_planes(&info, planes, &base);
    fl_status st = fl_read_coefficients(d, planes, info.num_components, quant);
    h = fnv(h, &st, sizeof st);
    if (st == FL_OK) h = fnv(h, base, n * sizeof(int16_t));
    free(base);
  }
  return h;
}

typedef struct {
  const file_set *files;
  uint64_t *got; /* per file */
  int start;
} worker;

static void *work(void *arg) {
  worker *w = (worker *)arg;
  char msg[FL_MESSAGE_MAX];
  fl_decoder *d = fl_decoder_new(msg, sizeof msg);
  int i;
  if (!d) abort();
  for (i = 0; i < w->files->count; i++) {
    const int f = (w->start + i) % w->files->count;
    w->got[f] = sample_hash(d, w->files->data[f], w->files->size[f]);
  }
  fl_decoder_free(d);
  return NULL;
}

/* The threads run first, so they also race to build the core's lazily made tables. */
static int run_threads(int threads, const file_set *files) {
  char msg[FL_MESSAGE_MAX];
  pthread_t *tid = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
  worker *w = (worker *)calloc((size_t)threads, sizeof(worker));
  int i, t, bad = 0;
  if (!tid || !w) abort();
  for (t = 0; t < threads; t++) {
    w[t].files = files;
    w[t].got = (uint64_t *)calloc((size_t)files->count + 1, sizeof(uint64_t));
    w[t].start = (int)((long)t * files->count / threads) + t;
    if (!w[t].got || pthread_create(&tid[t], NULL, work, &w[t]) != 0) abort();
  }
  for (t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  for (i = 0; i < files->count; i++) {
    /* each file on a decoder of its own: what a fresh decoder gives */
    fl_decoder *fresh = fl_decoder_new(msg, sizeof msg);
    uint64_t expect;
    if (!fresh) abort();
    expect = sample_hash(fresh, files->data[i], files->size[i]);
    fl_decoder_free(fresh);
    for (t = 0; t < threads; t++) bad += w[t].got[i] != expect;
  }
  printf("fl_driver: %d inputs x %d threads, %d samples differ from a fresh decoder's\n",
         files->count, threads, bad);
  for (t = 0; t < threads; t++) free(w[t].got);
  free(tid);
  free(w);
  return bad ? 1 : 0;
}

/* ---- --pool: the core's thread pool, several jobs in flight ------------------------ */

static fl_recipe pool_recipe(int which) {
  fl_recipe r;
  char msg[FL_MESSAGE_MAX];
  memset(&r, 0, sizeof r);
  r.count = 24;
  memcpy(r.component, comp24, 24);
  memcpy(r.coef, coef24, 24);
  r.out_h = 7;
  r.out_w = 9;
  r.dequantize = 1;
  r.chroma = which == 1 ? FL_CHROMA_NEAREST : FL_CHROMA_DCT;
  r.transform.kind = which == 1 ? FL_TRANSFORM_EVAL : which == 2 ? FL_TRANSFORM_TRAIN
                                                                  : FL_TRANSFORM_BLOCKS;
  r.transform.scale_min = 0.08;
  r.transform.scale_max = 1.0;
  r.transform.ratio_min = 0.75;
  r.transform.ratio_max = 4.0 / 3;
  r.transform.flip_p = 0.5;
  r.transform.crop_ratio = 0.875;
  r.output = which == 3 ? FL_OUTPUT_PLANES : FL_OUTPUT_CHANNELS;
  r.orient = which == 4;
  r.options.max_pixels = 20000000;
  r.options.strict = which == 2;
  r.options.require_coefficients = 1;
  r.options.max_scans = 200;
  r.options.max_memory = (uint64_t)1 << 28;
  r.options.partial_decode = which != 1;
  if (which == 1 || which == 2) { /* grids of 8 blocks and more each way: the warp's
                                    * fast paths (eight blocks at a time, transposed) */
    r.out_h = which == 1 ? 12 : 17;
    r.out_w = which == 1 ? 17 : 10;
  }
  if (which == 1) { /* RandAugment(3, 20): every op, several per sample */
    r.augment.kind = FL_POLICY_RAND_AUGMENT;
    r.augment.num_ops = 3;
    r.augment.magnitude = 20;
    r.augment.num_bins = 31;
  } else if (which == 2) { /* TrivialAugmentWide, colour jitter and grey */
    r.augment.kind = FL_POLICY_TRIVIAL_WIDE;
    r.augment.num_bins = 31;
    r.jitter.active = 15;
    for (int k = 0; k < 3; k++) {
      r.jitter.lo[k] = 0.6;
      r.jitter.hi[k] = 1.4;
    }
    r.jitter.lo[3] = -0.1;
    r.jitter.hi[3] = 0.1;
    r.jitter.gray_p = 0.2;
  }
  if (fl_recipe_check(&r, msg, sizeof msg) != FL_OK) {
    fprintf(stderr, "pool recipe %d: %s\n", which, msg);
    abort();
  }
  return r;
}

typedef struct {
  fl_recipe recipe;
  fl_item *items;
  fl_batch_out out;
  int n;
  fl_job *job;
} pool_batch;

static void pool_batch_make(pool_batch *b, int which, const file_set *files, char **paths,
                            int use_paths) {
  b->recipe = pool_recipe(which);
  b->n = files->count;
  b->items = (fl_item *)calloc((size_t)b->n + 1, sizeof(fl_item));
  b->out.out_stride = fl_recipe_out_elements(&b->recipe);
  b->out.out = (int16_t *)calloc((size_t)b->n * b->out.out_stride + 1, sizeof(int16_t));
  b->out.status = (int32_t *)calloc((size_t)b->n + 1, sizeof(int32_t));
  b->out.layouts = which == 3 ? (int32_t *)calloc((size_t)b->n * FL_LAYOUT_INTS, 4) : NULL;
  b->out.messages = (char *)calloc((size_t)b->n + 1, FL_MESSAGE_MAX);
  if (!b->items || !b->out.out || !b->out.status || !b->out.messages ||
      (which == 3 && !b->out.layouts))
    abort();
  for (int i = 0; i < b->n; i++) {
    b->out.status[i] = -1; /* never an fl_status: a slot no thread wrote */
    b->items[i].key = 1000003u * (uint64_t)i + (uint64_t)which;
    if (use_paths) {
      b->items[i].path = paths[i];
      b->items[i].length = -1;
    } else {
      b->items[i].data = files->data[i];
      b->items[i].size = files->size[i];
    }
  }
}

static void pool_batch_free(pool_batch *b) {
  free(b->items);
  free(b->out.out);
  free(b->out.status);
  free(b->out.layouts);
  free(b->out.messages);
}

/* Slots [0, upto) of b against a serial decode on a fresh decoder: differences. */
static int pool_batch_check(const pool_batch *b, const file_set *files, int upto) {
  char msg[FL_MESSAGE_MAX];
  const size_t stride = b->out.out_stride;
  int16_t *want = (int16_t *)calloc(stride + 1, sizeof(int16_t));
  int32_t layout[FL_LAYOUT_INTS];
  int bad = 0;
  if (!want) abort();
  for (int i = 0; i < upto; i++) {
    fl_decoder *fresh = fl_decoder_new(msg, sizeof msg);
    fl_status st;
    if (!fresh) abort();
    memset(layout, 0, sizeof layout);
    for (size_t e = 0; e < stride; e++) want[e] = (int16_t)0x5a5a; /* every slot written? */
    st = fl_decode_sample(fresh, files->data[i], files->size[i], &b->recipe, b->items[i].key,
                          want, layout, NULL);
    /* planes: the layout's total (its 8th entry) is what a slot holds */
    const size_t used = b->out.layouts ? (size_t)layout[7] : stride;
    if ((int32_t)st != b->out.status[i] ||
        memcmp(want, b->out.out + (size_t)i * stride, used * sizeof(int16_t)) != 0 ||
        strcmp(st == FL_OK ? "" : fl_decoder_message(fresh),
               b->out.messages + (size_t)i * FL_MESSAGE_MAX) != 0 ||
        (b->out.layouts &&
         memcmp(layout, b->out.layouts + (size_t)i * FL_LAYOUT_INTS, sizeof layout) != 0)) {
      fprintf(stderr, "pool: slot %d (recipe output %d, transform %d) differs: status %d vs %d"
              " (values %d, message %d, layout %d)\n",
              i, b->recipe.output, b->recipe.transform.kind, (int)b->out.status[i], (int)st,
              memcmp(want, b->out.out + (size_t)i * stride, used * sizeof(int16_t)) != 0,
              strcmp(st == FL_OK ? "" : fl_decoder_message(fresh),
                     b->out.messages + (size_t)i * FL_MESSAGE_MAX) != 0,
              b->out.layouts && memcmp(layout, b->out.layouts + (size_t)i * FL_LAYOUT_INTS,
                                       sizeof layout) != 0);
      bad++;
    }
    fl_decoder_free(fresh);
  }
  free(want);
  return bad;
}

static int run_pool(int threads, const file_set *files, char **paths) {
  char msg[FL_MESSAGE_MAX];
  enum { JOBS = 7 };
  pool_batch b[JOBS];
  int bad = 0, cancelled_taken;
  fl_pool *pool = fl_pool_new(threads, msg, sizeof msg);
  if (!pool) {
    fprintf(stderr, "fl_pool_new: %s\n", msg);
    return 1;
  }
  /* 0..4: the five recipes on bytes; 5: blocks from paths (the core reads the files);
   * 6: train again, cancelled while it runs */
  for (int k = 0; k < JOBS; k++) {
    pool_batch_make(&b[k], k < 5 ? k : k == 5 ? 0 : 2, files, paths, k == 5);
    b[k].job = fl_pool_submit(pool, &b[k].recipe, b[k].items, b[k].n, &b[k].out, msg,
                              sizeof msg);
    if (!b[k].job) {
      fprintf(stderr, "fl_pool_submit: %s\n", msg);
      abort();
    }
  }
  fl_job_cancel(b[6].job);
  for (int k = 0; k < JOBS; k++) fl_job_wait(b[k].job, -1);
  cancelled_taken = fl_job_taken(b[6].job);
  /* one more job, freed unfinished: fl_job_free waits for the items being decoded */
  {
    pool_batch extra;
    pool_batch_make(&extra, 2, files, paths, 0);
    extra.job = fl_pool_submit(pool, &extra.recipe, extra.items, extra.n, &extra.out, msg,
                               sizeof msg);
    fl_job_free(extra.job);
    pool_batch_free(&extra);
  }
  for (int k = 0; k < JOBS; k++) fl_job_free(b[k].job);
  fl_pool_free(pool);
  for (int k = 0; k < JOBS; k++) {
    /* the cancelled job: the items taken are decoded, the others never written */
    bad += pool_batch_check(&b[k], files, k == 6 ? cancelled_taken : b[k].n);
    if (k == 6)
      for (int i = cancelled_taken; i < b[k].n; i++) bad += b[k].out.status[i] != -1;
    pool_batch_free(&b[k]);
  }
  printf("fl_driver: %d inputs x %d jobs on a pool of %d threads, %d slots differ from a "
         "fresh decoder's\n", files->count, JOBS, threads, bad);
  return bad ? 1 : 0;
}

/* ---- --differential: the fast entropy path against libjpeg alone ---------------- */

/* Everything a caller sees from the decoding calls on one input, hashed: status,
 * message, warning count and text, and values; strict and lenient, whole coefficient
 * reads and the samples of every transform with partial decoding off and on. */
static uint64_t outcome_hash(fl_decoder *d, const uint8_t *data, size_t size, int *fast) {
  uint64_t h = 1469598103934665603ull;
  int mode, kind;
  *fast = 0;
  for (mode = 0; mode < 4; mode++) {
    fl_options o = {20000000, mode & 1, 1, 0, 200, (uint64_t)1 << 28, mode >> 1};
    fl_info info;
    fl_status st = fl_begin(d, data, size, &o, &info);
    int w;
    h = fnv(h, &st, sizeof st);
    if (st == FL_OK) {
      fl_plane planes[FL_MAX_COMPONENTS];
      uint16_t quant[FL_MAX_COMPONENTS][64];
      int16_t *base;
      size_t n = alloc_planes(&info, planes, &base);
      st = fl_read_coefficients(d, planes, info.num_components, quant);
      h = fnv(h, &st, sizeof st);
      *fast += fl_decoder_fast_path_used(d);
      if (st == FL_OK) {
        h = fnv(h, base, n * sizeof(int16_t));
        h = fnv(h, quant, (size_t)info.num_components * sizeof quant[0]);
      }
      free(base);
    }
    h = fnv(h, fl_decoder_message(d), strlen(fl_decoder_message(d)));
    w = fl_decoder_warnings(d);
    h = fnv(h, &w, sizeof w);
    h = fnv(h, fl_decoder_warning(d), strlen(fl_decoder_warning(d)));
    for (kind = 0; kind < 3; kind++) {
      int16_t out24[24 * 7 * 9];
      fl_channel_spec s24 = {comp24, coef24, 24, 1, 0, 7, 9, {kind, 0.08, 1.0, 0.75,
                                                               4.0 / 3, 0.5, 0.875}};
      st = fl_decode_channels(d, data, size, &o, &s24, 31u + (unsigned)kind, out24, NULL);
      h = fnv(h, &st, sizeof st);
      h = fnv(h, fl_decoder_message(d), strlen(fl_decoder_message(d)));
      w = fl_decoder_warnings(d);
      h = fnv(h, &w, sizeof w);
      if (st == FL_OK) h = fnv(h, out24, sizeof out24);
    }
  }
  return h;
}

/* 1 when the fast path and libjpeg alone disagree on data. */
static int differs(const uint8_t *data, size_t size, int *fast) {
  uint64_t a, b;
  int unused;
  fl_decoder_set_libjpeg_only(dec, 0);
  a = outcome_hash(dec, data, size, fast);
  fl_decoder_set_libjpeg_only(dec, 1);
  b = outcome_hash(dec, data, size, &unused);
  fl_decoder_set_libjpeg_only(dec, 0);
  return a != b;
}

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

/* One seeded mutation of data into out (room for size + 64 bytes); returns its size.
 * Most land in the entropy-coded data, where the fast path decides. */
static size_t mutate(const uint8_t *data, size_t size, uint64_t *rng, uint8_t *out) {
  size_t at, n = size, i, len;
  memcpy(out, data, size);
  if (size < 4) return size;
  at = size / 3 + (size_t)(rng_next(rng) % (size - size / 3));
  switch (rng_next(rng) % 10) {
  case 8: /* cut short, then an EOI */
    out[at] = 0xFF;
    out[at + 1 < size ? at + 1 : at] = 0xD9;
    n = at + 2 <= size ? at + 2 : size;
    break;
  case 9: /* the first restart marker after `at` renumbered */
    for (i = at; i + 1 < size; i++)
      if (out[i] == 0xFF && out[i + 1] >= 0xD0 && out[i + 1] <= 0xD7) {
        out[i + 1] = (uint8_t)(0xD0 + (out[i + 1] - 0xD0 + 1 + rng_next(rng) % 7) % 8);
        break;
      }
    break;
  case 0: out[at] ^= (uint8_t)(1u << (rng_next(rng) % 8)); break;
  case 1: out[at] = (uint8_t)rng_next(rng); break;
  case 2: n = at; break; /* truncated */
  case 3: /* a marker: RSTn (maybe out of order), EOI, SOI, DHT, or a bare 0xFF */
    memmove(out + at + 2, out + at, size - at);
    out[at] = 0xFF;
    out[at + 1] = (uint8_t[]){0xD0, 0xD3, 0xD7, 0xD9, 0xD8, 0xC4, 0xFF, 0x01}[rng_next(rng) % 8];
    n = size + 2;
    break;
  case 4: /* cut a span */
    len = 1 + rng_next(rng) % 16;
    if (at + len > size) len = size - at;
    memmove(out + at, out + at + len, size - at - len);
    n = size - len;
    break;
  case 5: /* repeat a span */
    len = 1 + rng_next(rng) % 32;
    if (at + len > size) len = size - at;
    memmove(out + at + len, out + at, size - at);
    n = size + len;
    break;
  case 6: /* 1-3 bytes inserted before the last two (the EOI, in a whole file) */
    len = 1 + rng_next(rng) % 3;
    memmove(out + size - 2 + len, out + size - 2, 2);
    for (i = 0; i < len; i++) out[size - 2 + i] = (uint8_t)(rng_next(rng) % 255);
    n = size + len;
    break;
  default: /* several flips */
    for (i = 0; i < 8; i++)
      out[size / 3 + (size_t)(rng_next(rng) % (size - size / 3))] ^= (uint8_t)rng_next(rng);
  }
  return n;
}

#ifdef FL_FUZZ
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fast;
  run_one(data, size);
  if (differs(data, size, &fast)) abort(); /* the fast path must give libjpeg's outcome */
  return 0;
}
#else
static int read_file(const char *path, uint8_t **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  long n;
  if (!f) return 0;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
  if (n > 0 && fread(*data, 1, (size_t)n, f) != (size_t)n) n = 0;
  fclose(f);
  *size = n > 0 ? (size_t)n : 0;
  return 1;
}

int main(int argc, char **argv) {
  int i, n = 0;
  if (argc > 2 && strcmp(argv[1], "--differential") == 0) {
    const int mutations = atoi(argv[2]);
    char msg[FL_MESSAGE_MAX];
    long inputs = 0, fast_inputs = 0, bad = 0;
    if (!(dec = fl_decoder_new(msg, sizeof msg))) abort();
    init_masks();
    for (i = 3; i < argc; i++) {
      uint8_t *buf, *m;
      size_t size;
      uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)i;
      int k, fast;
      if (!read_file(argv[i], &buf, &size)) continue;
      if (!(m = (uint8_t *)malloc(size + 64))) abort();
      for (k = -1; k < mutations; k++) {
        const size_t len = k < 0 ? size : mutate(buf, size, &rng, m);
        const int d = differs(k < 0 ? buf : m, len, &fast);
        inputs++;
        fast_inputs += fast > 0;
        if (d) {
          bad++;
          fprintf(stderr, "differs: %s, mutation %d\n", argv[i], k);
        }
      }
      free(m);
      free(buf);
    }
    fl_decoder_free(dec);
    printf("fl_driver: %ld inputs, %ld took the fast path, %ld differ from libjpeg alone\n",
           inputs, fast_inputs, bad);
    return bad ? 1 : 0;
  }
  if (argc > 2 && (strcmp(argv[1], "--threads") == 0 || strcmp(argv[1], "--pool") == 0)) {
    file_set files;
    char **paths = (char **)calloc((size_t)argc, sizeof(char *));
    int rc;
    files.data = (uint8_t **)calloc((size_t)argc, sizeof(uint8_t *));
    files.size = (size_t *)calloc((size_t)argc, sizeof(size_t));
    files.count = 0;
    init_masks();
    for (i = 3; i < argc; i++)
      if (read_file(argv[i], &files.data[files.count], &files.size[files.count]))
        paths[files.count++] = argv[i];
    if (strcmp(argv[1], "--pool") == 0)
      rc = run_pool(atoi(argv[2]) >= 0 ? atoi(argv[2]) : 2, &files, paths);
    else
      rc = run_threads(atoi(argv[2]) > 0 ? atoi(argv[2]) : 2, &files);
    free(paths);
    for (i = 0; i < files.count; i++) free(files.data[i]);
    free(files.data);
    free(files.size);
    return rc;
  }
  for (i = 1; i < argc; i++) {
    uint8_t *buf;
    size_t size;
    if (!read_file(argv[i], &buf, &size)) continue;
    run_one(buf, size);
    free(buf);
    n++;
  }
  fl_decoder_free(dec);
  printf("fl_driver: %d inputs\n", n);
  return 0;
}
#endif
