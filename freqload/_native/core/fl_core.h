/*
 * freqload native core: JPEG bytes -> quantised DCT coefficients -> channel grid.
 *
 * Plain C over libjpeg(-turbo). No Python, torch or DALI in here: the Python
 * extension (../python) and the DALI operator are thin fronts over this API.
 *
 * Shapes first, then fill:
 *
 *   fl_decoder *d = fl_decoder_new();            // once per thread, reused
 *   fl_info info;
 *   fl_begin(d, bytes, size, &opts, &info);      // header, limits, support check
 *   ... caller allocates one plane per component, at least
 *       info.comp[c].alloc_blocks_h x info.comp[c].alloc_blocks_w blocks ...
 *   fl_read_coefficients(d, planes, quant);      // entropy decode into the planes
 *
 * Every call returns an fl_status; on failure fl_decoder_message() holds
 * libjpeg's own message with freqload's explanation. No call exits, aborts or
 * allocates memory that changes owner.
 */
#ifndef FL_CORE_H
#define FL_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FL_MAX_COMPONENTS 10 /* libjpeg's MAX_COMPONENTS */
#define FL_MESSAGE_MAX 512

typedef enum {
  FL_OK = 0,
  FL_ERR_DECODE = 1,      /* corrupt data (strict mode: also corrupt-data warnings) */
  FL_ERR_UNSUPPORTED = 2, /* not an 8-bit YCbCr/grey DCT JPEG (CMYK, 12-bit, PNG, ...) */
  FL_ERR_TOO_LARGE = 3,   /* over the caller's pixel limit */
  FL_ERR_NOMEM = 4,
  FL_ERR_ARGUMENT = 5,    /* the caller's buffers or call order are wrong */
  FL_ERR_UNREADABLE = 6   /* a front could not read the file (a sample's status only) */
} fl_status;

typedef enum {
  FL_COLOR_UNKNOWN = 0,
  FL_COLOR_GRAY = 1,
  FL_COLOR_YCBCR = 2,
  FL_COLOR_RGB = 3,
  FL_COLOR_CMYK = 4,
  FL_COLOR_YCCK = 5
} fl_color;

typedef struct {
  int id;                 /* component identifier from SOF */
  int h_samp, v_samp;     /* sampling factors */
  int quant_index;        /* quant table slot (0..3) */
  int blocks_h, blocks_w; /* libjpeg height_in_blocks / width_in_blocks: no MCU padding */
  int alloc_blocks_h;     /* blocks_h rounded up to v_samp: rows a plane must hold */
  int alloc_blocks_w;     /* blocks_w rounded up to h_samp: columns a plane must hold */
} fl_component;

typedef struct {
  int width, height;
  int num_components;
  int color_space;      /* fl_color, as libjpeg infers it (JFIF, Adobe, component ids) */
  int adobe_transform;  /* -1 without an Adobe APP14 marker */
  int jfif;             /* 1 if a JFIF APP0 marker was seen */
  int precision;        /* bits per sample */
  int progressive;
  int arithmetic;
  int restart_interval; /* MCUs per restart interval, 0 for none */
  int max_h_samp, max_v_samp;
  /* fl_options.partial_decode may stop early in this file: sequential, its first scan
   * holds every component, and the data ends with an EOI marker. A stray marker in the
   * scan data (any but RSTn where a restart interval is set, and the final EOI) makes a
   * partial decode read the file whole after all: header-only reads
   * (require_coefficients = 0) scan the data for one and count it here; decoding calls
   * scan only the part they skip, when they skip it. */
  int partial_decodable;
  /* The EXIF Orientation tag (fl_exif_orientation): 1..8, 1 without one; exif_warning:
   * FL_EXIF_OK, or why a tag there was ignored. */
  int orientation;
  int exif_warning;
  /* A file freqload pack wrote (fl_write_jpeg's row_restarts: its APP15 segment, and
   * restart intervals of at most one MCU row): a partial decode may start at any MCU row,
   * and (several intervals per row) pass over those outside the columns it reads. */
  int row_restarts;
  int quant_defined[4];     /* tables defined before the first scan */
  uint16_t quant[4][64];    /* raster order (index 8*row + col) */
  fl_component comp[FL_MAX_COMPONENTS];
} fl_info;

typedef struct {
  uint64_t max_pixels; /* 0: no limit */
  int strict;          /* corrupt-data warnings become FL_ERR_DECODE */
  int require_coefficients; /* refuse what has no 8-bit YCbCr/grey coefficients */
  /* Resource limits, each FL_ERR_TOO_LARGE with a message naming it; 0: no limit. */
  uint64_t max_file_size; /* bytes of JPEG data */
  int max_scans;          /* scans (a progressive file may have very many: CPU bombs) */
  uint64_t max_memory;    /* bytes of coefficient planes one decode needs */
  /* fl_decode_channels / fl_decode_planes: stop entropy decoding once the rows the
   * sample reads are decoded (a sequential single-scan file ending with EOI; others
   * are read whole). The sample is the same; damage below those rows goes unseen. In
   * freqload's packs (fl_info.row_restarts) the fast path also starts at the restart
   * marker above the first row the sample reads, and passes over the restart intervals
   * left and right of its columns: damage there goes unseen too. */
  int partial_decode;
} fl_options;

/* A caller-owned coefficient plane: blocks of 64 int16 in raster order,
 * rows of `row_stride` int16 apart. */
typedef struct {
  int16_t *data;
  ptrdiff_t row_stride; /* int16 elements between block rows, >= cols * 64 */
  int rows, cols;       /* blocks held: >= alloc_blocks_h, alloc_blocks_w */
} fl_plane;

typedef struct fl_decoder fl_decoder;

/* NULL when out of memory or when the libjpeg loaded at run time does not
 * match the headers this was built with (the message says which). */
fl_decoder *fl_decoder_new(char *message, size_t message_size);
void fl_decoder_free(fl_decoder *d);

/* Read the header of `data` (which must stay alive until the image ends).
 * With opts->require_coefficients, refuse unsupported files and images over
 * opts->max_pixels before anything image-sized is allocated. On FL_OK the
 * decoder holds the image open for fl_read_coefficients or fl_end. */
fl_status fl_begin(fl_decoder *d, const uint8_t *data, size_t size,
                   const fl_options *opts, fl_info *info);

/* Entropy-decode the open image into planes[0..num_planes-1] (caller owned,
 * see fl_plane; num_planes must equal info.num_components) and copy each
 * component's quant table (raster order) into quant[c]. Always ends the image. */
fl_status fl_read_coefficients(fl_decoder *d, const fl_plane *planes,
                               int num_planes, uint16_t quant[][64]);

/* End the open image without decoding it (no-op when none is open). */
void fl_end(fl_decoder *d);

/* Header only: fl_begin with no checks, then fl_end. */
fl_status fl_read_header(fl_decoder *d, const uint8_t *data, size_t size,
                         fl_info *info);

/* Entropy decoding takes a fast path (fl_entropy.c) for one sequential Huffman scan
 * holding every component, well formed, and libjpeg for everything else; both give the
 * same coefficients. libjpeg_only (default: environment FREQLOAD_ENTROPY=libjpeg) makes
 * libjpeg decode everything, to compare. fast_path_used: the last image took it. */
void fl_decoder_set_libjpeg_only(fl_decoder *d, int on);
int fl_decoder_libjpeg_only(const fl_decoder *d);
int fl_decoder_fast_path_used(const fl_decoder *d);

/* ---- EXIF orientation: fl_exif.c ------------------------------------- */

enum { FL_EXIF_OK = 0, FL_EXIF_MALFORMED = 1, FL_EXIF_BAD_ORIENTATION = 2 };

/* The Orientation tag of the first EXIF APP1 segment before SOS: 1 (as stored) .. 8,
 * 1 without one. A malformed segment or value is ignored (1) with *warning saying so. */
int fl_exif_orientation(const uint8_t *data, size_t size, int *warning);

/* The payload (after the length) of the first segment with this marker code (0xE1: APP1)
 * before the first SOS whose payload begins with the sig_len bytes of sig; *len its
 * length. NULL when there is none (or the headers are malformed: libjpeg judges those). */
const uint8_t *fl_find_segment(const uint8_t *data, size_t size, unsigned marker,
                               const void *sig, size_t sig_len, size_t *len);

const char *fl_decoder_message(const fl_decoder *d); /* last error */
int fl_decoder_warnings(const fl_decoder *d);        /* libjpeg warnings, last image */
const char *fl_decoder_warning(const fl_decoder *d); /* first warning text, "" if none */
const char *fl_libjpeg_version(void);

/* JPEG's orthonormal 8-point DCT-II basis, 64 doubles: C[8*k + n] (frequency k, sample
 * n); the one table the core (and freqload.dct) uses. Thread-safe; built on first use. */
const double *fl_dct_basis(void);

/* ---- channel grid: fl_channels.c ------------------------------------- */

typedef enum { FL_CHROMA_DCT = 0, FL_CHROMA_NEAREST = 1 } fl_chroma;

/* One component's coefficients as the caller holds them. */
typedef struct {
  const int16_t *data;
  ptrdiff_t row_stride; /* int16 elements between block rows */
  int blocks_h, blocks_w;
  int h_samp, v_samp;
  const uint16_t *quant; /* 64 entries, raster order */
} fl_coef_view;

/* Where fl_to_channels writes: channel k, row y, column x goes to
 * data[k * plane_stride + y * row_stride + x]. */
typedef struct {
  int16_t *data;
  ptrdiff_t plane_stride;
  ptrdiff_t row_stride;
} fl_out;

/* Write the selected channels of the (H8, W8, 192) grid, channels first:
 * channel k < count is grid channel component[k]*64 + coef[k], where
 * H8 x W8 = comps[0].blocks_h x comps[0].blocks_w (the luma block grid).
 * Subsampled chroma is aligned to the luma grid (see fl_channels.c for the
 * exact definition of FL_CHROMA_DCT). Components missing from `comps`
 * (grayscale) give zero channels. Values saturate to int16. Only the listed
 * channels are computed and written. */
fl_status fl_to_channels(const fl_coef_view *comps, int num_components,
                         const uint8_t *component, const uint8_t *coef,
                         int count, int dequantize, int chroma, const fl_out *out,
                         char *message, size_t message_size);

/* ---- one training sample: fl_sample.c -------------------------------- */

/* How a sample's output grid is taken from the image (fl_augment.c). */
typedef enum {
  FL_TRANSFORM_BLOCKS = 0, /* block-aligned centre crop / zero padding: exact, no resampling */
  FL_TRANSFORM_EVAL = 1,   /* resize the shorter side to out*8/crop_ratio, centre crop */
  FL_TRANSFORM_TRAIN = 2   /* RandomResizedCrop + horizontal flip, drawn from the sample's key */
} fl_transform_kind;

typedef struct {
  int kind;                       /* fl_transform_kind */
  double scale_min, scale_max;    /* TRAIN: fraction of the image area (0.08, 1) */
  double ratio_min, ratio_max;    /* TRAIN: aspect ratio w/h (3/4, 4/3) */
  double flip_p;                  /* TRAIN: probability of a horizontal flip (0.5) */
  double crop_ratio;              /* EVAL: crop / resized shorter side (0.875) */
} fl_transform;

/* What a sample is made of: the channels, their alignment, the output
 * grid in blocks, and how that grid is taken from the image. */
typedef struct {
  const uint8_t *component; /* per output channel: 0 = Y, 1 = Cb, 2 = Cr */
  const uint8_t *coef;      /* per output channel: raster index 0..63 */
  int count;
  int dequantize;
  int chroma;               /* fl_chroma */
  int out_h, out_w;         /* output grid in blocks (56 x 56 = 448 pixels) */
  fl_transform transform;   /* all zero: FL_TRANSFORM_BLOCKS */
  int orient;               /* 1: the sample of the upright picture (EXIF orientation);
                             * 0: as stored */
} fl_channel_spec;

/* The window fl_sample_channels takes from a luma grid of h8 x w8 blocks. */
typedef struct {
  int y0, x0;     /* first luma block taken (MCU-aligned) */
  int rows, cols; /* blocks taken */
  int dy, dx;     /* where they land in the output (zero padding around) */
} fl_window;

/* Centre crop or centred zero padding of a luma grid to out_h x out_w. The
 * crop offset is rounded down to a whole MCU (align_y x align_x luma blocks)
 * so chroma blocks stay whole; padding splits the difference, extra on the
 * bottom/right. */
fl_window fl_centre_window(int h8, int w8, int out_h, int out_w, int align_y,
                           int align_x);

/* Coefficients -> int16 [count, out_h, out_w] through fl_centre_window: the
 * components are cropped first (like jpegtran -crop, so chroma edges are
 * replicated at the crop border), then regrouped with fl_to_channels. */
fl_status fl_sample_channels(const fl_coef_view *comps, int num_components,
                             const fl_channel_spec *spec, int16_t *out,
                             char *message, size_t message_size);

/* ---- regroup on the device: the sample's planes at native resolution ---- */

enum { FL_PLANES_NONE = 0, FL_PLANES_CHANNELS = 1, FL_PLANES_COEFS = 2 };

typedef struct {
  int kind;       /* FL_PLANES_CHANNELS: the selected channels of this component
                   * on its own cropped grid (luma: the window), dequantised as
                   * fl_to_channels writes them; FL_PLANES_COEFS: all 64 quantised
                   * coefficients, channels first, for DCT-domain upsampling;
                   * FL_PLANES_NONE: nothing (greyscale chroma, no channel selected) */
  int count;      /* planes */
  int h, w;       /* their grid, in blocks */
  int fv, fh;     /* luma blocks per block of this component */
  size_t offset;  /* first element in the payload */
} fl_plane_group;

typedef struct {
  fl_window window;
  int num_components;
  fl_plane_group group[3];
  uint16_t quant[3][64];
  size_t total; /* payload elements written */
} fl_planes_layout;

/* A layout as FL_LAYOUT_INTS int32, the form both fronts hand to Python:
 * [y0, x0, rows, cols, dy, dx, num_components, total,
 *  then per component c < 3: kind, count, h, w, fv, fh, offset,
 *  then the 3 x 64 quant tables]. */
#define FL_LAYOUT_INTS (8 + 3 * 7 + 3 * 64)
void fl_layout_pack(const fl_planes_layout *layout, int32_t *out);

/* Elements fl_sample_planes may write for spec (an upper bound). */
size_t fl_planes_capacity(const fl_channel_spec *spec);

/* What fl_sample_channels would compute, before chroma alignment: the
 * components cropped to the same window, written into `out` (up to
 * `capacity` int16) and described by `layout`, so that aligning and masking
 * can finish on another device (freqload/regroup.py) with identical results. */
fl_status fl_sample_planes(const fl_coef_view *comps, int num_components,
                           const fl_channel_spec *spec, int16_t *out, size_t capacity,
                           fl_planes_layout *layout, char *message, size_t message_size);

/* JPEG bytes -> fl_sample_planes in one call (as fl_decode_channels). */
fl_status fl_decode_planes(fl_decoder *d, const uint8_t *data, size_t size,
                           const fl_options *opts, const fl_channel_spec *spec, int16_t *out,
                           size_t capacity, fl_planes_layout *layout, fl_info *info);

/* The tables of FL_CHROMA_DCT for factor f (1..4), as float: A[j][u][r],
 * P[j][u], N[j][u] for output block j < f, and the first/last sample of a
 * block from its coefficients. */
void fl_upsample_tables(int f, float A[4][8][8], float P[4][8], float N[4][8],
                        float first[8], float last[8]);

/* JPEG bytes -> int16 [count, out_h, out_w] in one call: header (limits and
 * support checks from opts), entropy decode into the decoder's own reused
 * planes, then fl_sample with the sample's `key` (used by FL_TRANSFORM_TRAIN).
 * `info` (may be NULL) receives the header. */
fl_status fl_decode_channels(fl_decoder *d, const uint8_t *data, size_t size,
                             const fl_options *opts, const fl_channel_spec *spec,
                             uint64_t key, int16_t *out, fl_info *info);

/* ---- the recipe: everything that decides a sample, one definition: fl_recipe.c ---- */

#define FL_MAX_CHANNELS 192 /* Y, Cb, Cr x 64 frequencies */
#define FL_MAX_GRID 8192    /* output blocks per side (65,536 pixels) */

/* Default limits (freqload.coefficients and the loader read them from here). */
#define FL_DEFAULT_MAX_PIXELS 100000000ull
#define FL_DEFAULT_MAX_FILE_SIZE (256ull << 20)
#define FL_DEFAULT_MAX_SCANS 1000
#define FL_DEFAULT_MAX_MEMORY (2ull << 30)

typedef enum {
  FL_OUTPUT_CHANNELS = 0, /* int16 [count, out_h, out_w] (fl_decode_channels) */
  FL_OUTPUT_PLANES = 1    /* planes + layout, aligned on the device (fl_decode_planes) */
} fl_output_kind;

/* ---- augmentation policies (fl_policy.c draws, fl_ops.c applies) ---- */

/* torchvision.transforms.v2's automatic augmentation ops, in its _AUGMENTATION_SPACE
 * order (TrivialAugmentWide, RandAugment: the first FL_OP_POLICY_KINDS), then ColorJitter's
 * hue (a turn fraction h, the (Cb, Cr) plane rotated by 2 pi h) and RandomGrayscale's grey,
 * which the policies never draw. */
typedef enum {
  FL_OP_IDENTITY = 0, FL_OP_SHEAR_X, FL_OP_SHEAR_Y, FL_OP_TRANSLATE_X, FL_OP_TRANSLATE_Y,
  FL_OP_ROTATE, FL_OP_BRIGHTNESS, FL_OP_COLOR, FL_OP_CONTRAST, FL_OP_SHARPNESS,
  FL_OP_POSTERIZE, FL_OP_SOLARIZE, FL_OP_AUTOCONTRAST, FL_OP_EQUALIZE, FL_OP_HUE,
  FL_OP_GRAYSCALE, FL_OP_KINDS
} fl_op_kind;
#define FL_OP_POLICY_KINDS FL_OP_HUE

/* FL_POLICY_FIXED: one given op at one given magnitude on every sample (freqload show
 * --augment, the tests, a user's own experiments). */
typedef enum {
  FL_POLICY_NONE = 0, FL_POLICY_TRIVIAL_WIDE = 1, FL_POLICY_RAND_AUGMENT = 2, FL_POLICY_FIXED = 3
} fl_policy_kind;

#define FL_POLICY_MAX_OPS 16

typedef struct {
  int kind;      /* fl_policy_kind */
  int num_ops;   /* RandAugment: ops per sample (2) */
  int magnitude; /* RandAugment: the magnitude bin (9) */
  int num_bins;  /* magnitude bins (31) */
  int op;        /* FIXED: the op (fl_op_kind) */
  double value;  /* FIXED: its magnitude, in the units of fl_op */
} fl_policy;

/* One drawn op: its kind and magnitude (signed where the op is; the units are
 * torchvision's: shear as a factor, translate in pixels, rotate in degrees, brightness /
 * color / contrast / sharpness as factor - 1, posterize in bits, solarize as a fraction
 * of the value range; 0 for ops without one). */
typedef struct {
  int op;
  double magnitude;
} fl_op;

/* torchvision.transforms.v2.ColorJitter and RandomGrayscale, drawn from the sample's key
 * (streams of their own) and applied after the policy's ops: the four ops in a random order
 * (torchvision's fn_idx: the permutation sorting four uniforms), each factor uniform in
 * [lo, hi]; then grey with probability gray_p. */
enum { FL_JITTER_BRIGHTNESS = 0, FL_JITTER_CONTRAST, FL_JITTER_SATURATION, FL_JITTER_HUE };
typedef struct {
  int active;       /* bit k: jitter op k is on (FL_JITTER_*) */
  double lo[4], hi[4];
  double gray_p;    /* 0: no RandomGrayscale */
} fl_jitter;

/* A key's jitter draw: the order (op indices FL_JITTER_*, stage by stage) and the factors
 * (per op; the identity, 1 or hue 0, where an op is off); returns whether it turns grey. */
int fl_jitter_draw(const fl_jitter *j, uint64_t key, int order[4], double factor[4]);
/* The draw as ops (fl_op, in order: the active jitter ops, then grey): their count. */
int fl_jitter_ops(const fl_jitter *j, uint64_t key, fl_op ops[5]);
fl_status fl_jitter_check(const fl_jitter *j, char *message, size_t message_size);

/* Everything that decides a sample: the channels (output order), the output grid, chroma
 * alignment, dequantisation, the transform, the output kind and the decode options
 * (limits, strictness, partial decoding). Every front takes one whole, in the packed form
 * (fl_recipe_pack): the Python extension and the DALI operator's `recipe` argument. */
typedef struct {
  int count;
  uint8_t component[FL_MAX_CHANNELS]; /* per output channel: 0 = Y, 1 = Cb, 2 = Cr */
  uint8_t coef[FL_MAX_CHANNELS];      /* per output channel: raster index 0..63 */
  int out_h, out_w;                   /* output grid in blocks */
  int dequantize;
  int chroma;                         /* fl_chroma */
  fl_transform transform;
  int output;                         /* fl_output_kind */
  int orient;                         /* 1: apply the EXIF orientation; 0: as stored */
  fl_options options;                 /* require_coefficients: always 1 for a sample */
  fl_policy augment;                  /* per-sample ops after the transform (fl_ops.c);
                                       * kind FL_POLICY_NONE: none */
  fl_jitter jitter;                   /* after the policy's ops; all zero: none */
} fl_recipe;

/* Whether the recipe augments its samples (a policy, colour jitter or random grayscale). */
int fl_recipe_augments(const fl_recipe *r);
/* The recipe's augment on a finished channels sample (int16 [count, out_h, out_w], in
 * place), with `key`'s draws; scratch: fl_recipe_augment_doubles(r) doubles. Nothing
 * without an augment. fl_decode_sample does this itself; a front that makes a sample
 * otherwise (fl_sample, the pixel fallback's) calls it after. */
size_t fl_recipe_augment_doubles(const fl_recipe *r);
void fl_recipe_augment(const fl_recipe *r, uint64_t key, int16_t *out, double *scratch);

/* The rules a recipe obeys, in one place: FL_OK, or FL_ERR_ARGUMENT with a message
 * naming the setting by its Python name (size, scale, ratio, flip, crop_ratio, ...). */
fl_status fl_recipe_check(const fl_recipe *r, char *message, size_t message_size);
/* The transform's part of those rules (freqload.Transform checks with it). */
fl_status fl_transform_check(const fl_transform *t, char *message, size_t message_size);

/* The packed form: bytes with a fixed little-endian layout (doubles as their IEEE bits,
 * so nothing is rounded on the way). fl_recipe_pack writes at most FL_RECIPE_PACKED_MAX
 * bytes and returns how many; fl_recipe_unpack reads them back and checks the recipe. */
#define FL_RECIPE_PACKED_MAX (8 + 2 * FL_MAX_CHANNELS + 256)
#define FL_RECIPE_VERSION 3
size_t fl_recipe_pack(const fl_recipe *r, uint8_t out[FL_RECIPE_PACKED_MAX]);
fl_status fl_recipe_unpack(const uint8_t *data, size_t size, fl_recipe *r, char *message,
                           size_t message_size);

/* The recipe's channel spec (pointing into r) and the int16 elements one sample's output
 * needs (channels: count * out_h * out_w; planes: fl_planes_capacity). */
fl_channel_spec fl_recipe_spec(const fl_recipe *r);
size_t fl_recipe_out_elements(const fl_recipe *r);

/* The one file reader: `length` bytes at `offset` of the file at `path` (length < 0: from
 * offset to the end; (0, -1) is the whole file; a member of a tar shard is its data's
 * range) into *buf (grown with malloc as needed, *cap its size; never shrunk; free() it).
 * FL_OK with *size bytes; FL_ERR_TOO_LARGE when the bytes to read are over max_size
 * (> 0), nothing read; FL_ERR_UNREADABLE when the file cannot be read (errno in
 * *os_error), the offset is negative or the range runs past its end (a truncated archive,
 * a damaged index; *os_error 0), or FL_ERR_NOMEM, the message saying which (without the
 * path: the caller names it). */
fl_status fl_read_file(const char *path, int64_t offset, int64_t length, uint64_t max_size,
                       uint8_t **buf, size_t *cap, size_t *size, int *os_error, char *message,
                       size_t message_size);

/* fl_read_file (that range of the file) into the decoder's own buffer (reused across
 * files), then fl_decode_sample on those bytes; the recipe's max_file_size applies.
 * *os_error: errno when the file could not be read (FL_ERR_UNREADABLE), else 0. */
fl_status fl_decode_file(fl_decoder *d, const char *path, int64_t offset, int64_t length,
                         const fl_recipe *r, uint64_t key, int16_t *out, int32_t *layout,
                         fl_info *info, int *os_error);

/* JPEG bytes -> one sample by the recipe: fl_decode_channels or, for FL_OUTPUT_PLANES,
 * fl_decode_planes with the layout packed into layout[FL_LAYOUT_INTS] (zeros on failure).
 * `out` holds fl_recipe_out_elements(r) int16, zeros on failure. `key` draws the train
 * transform. `info` may be NULL. The message is fl_decoder_message(d). */
fl_status fl_decode_sample(fl_decoder *d, const uint8_t *data, size_t size, const fl_recipe *r,
                           uint64_t key, int16_t *out, int32_t *layout, fl_info *info);

/* ---- batches: fl_batch.c ----------------------------------------------------------- */

/* One sample of a batch: encoded bytes (path NULL), or the `length` bytes at `offset` of
 * the file at `path` (NUL-terminated; (0, -1): the whole file; a tar member: its range),
 * read by the core (fl_decode_file). `key` draws the train transform. */
typedef struct {
  const uint8_t *data;
  size_t size;
  const char *path;
  int64_t offset, length;
  uint64_t key;
} fl_item;

/* Where a batch goes, caller-owned, slot s of each: out + s * out_stride (int16, at least
 * fl_recipe_out_elements; zeros on failure), status[s] (an fl_status), layouts + s *
 * FL_LAYOUT_INTS (FL_OUTPUT_PLANES only, else may be NULL) and messages + s *
 * FL_MESSAGE_MAX (NUL-terminated, "" when OK; may be NULL). */
typedef struct {
  int16_t *out;
  size_t out_stride;
  int32_t *status;
  int32_t *layouts;
  char *messages;
} fl_batch_out;

/* The batch entry point, on this thread's decoder: items[0..n) into slots first..first+n
 * of out, each sample its own status and message (a bad file never disturbs the others).
 * d NULL: every item fails with FL_ERR_NOMEM. Both engines' threads call this: the
 * native pool (below) and the DALI operator. */
void fl_decode_items(fl_decoder *d, const fl_recipe *r, const fl_item *items, int n,
                     const fl_batch_out *out, size_t first);

/* The core's own thread pool: `threads` pthreads (0: none; fl_job_wait's caller decodes),
 * each with its own decoder, decoding the submitted jobs' items in submission order
 * (several jobs in flight, no barrier between them). Free every job before its pool. */
#define FL_POOL_MAX_THREADS 1024
typedef struct fl_pool fl_pool;
typedef struct fl_job fl_job;
fl_pool *fl_pool_new(int threads, char *message, size_t message_size);
int fl_pool_threads(const fl_pool *p);
/* Stops taking items (queued jobs are cancelled), lets the threads finish the items they
 * hold and joins them; jobs can still be waited for and freed, and later submits are
 * cancelled at once. */
void fl_pool_stop(fl_pool *p);
/* fl_pool_stop, then frees the pool (its jobs must be freed already). */
void fl_pool_free(fl_pool *p);
/* A batch: the recipe is copied; items and out stay the caller's and must stay alive
 * until the job is done (fl_job_wait) or freed. NULL (message says why) on bad
 * arguments. (A planes recipe without out->layouts: each item fails, fl_decode_items.) */
fl_job *fl_pool_submit(fl_pool *p, const fl_recipe *r, const fl_item *items, int n,
                       const fl_batch_out *out, char *message, size_t message_size);
/* Wait until every item is decoded (or, cancelled, every item taken is): 1 when done, 0
 * when timeout_s (< 0: none) passed first. */
int fl_job_wait(fl_job *j, double timeout_s);
/* No more items of j are taken; those being decoded finish. */
void fl_job_cancel(fl_job *j);
/* Items taken so far (all of them once the job is done, unless cancelled). */
int fl_job_taken(const fl_job *j);
/* Cancel, wait for the items being decoded, free. */
void fl_job_free(fl_job *j);

/* ---- augmentation in the DCT domain: fl_augment.c --------------------- */

/* A box in image pixels (may be fractional). */
typedef struct {
  double top, left, height, width;
} fl_box;

/* torchvision's RandomResizedCrop sampling (10 tries, then the clamped whole
 * image) and a flip, from a splitmix64 stream seeded with `key`: the box is in
 * whole pixels; returns 1 to flip. Same key, same result, on any thread. */
int fl_random_resized_crop(uint64_t key, int height, int width, const fl_transform *t,
                           fl_box *box);

/* Resize so the shorter side is max(out_h, out_w) * 8 / crop_ratio pixels,
 * then take the centred out_h*8 x out_w*8 window: that window as a box in the
 * image's pixels (fractional). */
void fl_eval_box(int height, int width, int out_h, int out_w, double crop_ratio, fl_box *box);

/* The part of an image a sample reads, in iMCU rows [first_row, end_row) and iMCU columns
 * [first_col, end_col) (an iMCU: max_v_samp x max_h_samp blocks of the image's grid);
 * end_row 0: every row from first_row on; end_col 0: every column. */
typedef struct {
  int first_row, end_row, first_col, end_col;
} fl_imcu_region;

/* Blocks of one component's plane: rows [top, bottom) x columns [left, right). */
typedef struct {
  int top, left, bottom, right;
} fl_block_region;

/* The blocks of each component that fl_resize_channels reads for `box` onto out_h x out_w
 * blocks (region[c] for c < num_components; h_samp, v_samp: the components' sampling
 * factors; width, height: the image's pixels): what its operators span, nothing more. */
void fl_resize_region(int num_components, const int *h_samp, const int *v_samp, int width,
                      int height, int out_h, int out_w, const fl_box *box,
                      fl_block_region *region);

/* Scratch memory of fl_resize_channels, grown as needed and reused. */
typedef struct fl_workspace fl_workspace;
fl_workspace *fl_workspace_new(void);
void fl_workspace_free(fl_workspace *ws);

/* fl_resize_channels' flags: the output mirrored (columns, rows), then transposed. */
enum { FL_MIRROR_H = 1, FL_MIRROR_V = 2, FL_TRANSPOSE = 4 };

/* The dequantised coefficients of `box` (image pixels) resized onto the
 * spec's out_h x out_w block grid, the spec's channels only, optionally
 * mirrored and transposed (`flags`, exact in the DCT domain; with FL_TRANSPOSE the
 * resize makes an out_w x out_h grid, transposed at the end): Pillow BILINEAR resize of each component's plane from the box
 * scaled into its coordinates, then the 8x8 DCT, computed in the DCT domain
 * (see fl_augment.c). Writes int16 (rounded, saturated) to out16 or float to
 * out32 (exactly one non-NULL), [count, out_h, out_w]. width/height: the
 * image's pixel size. spec->dequantize and spec->chroma are ignored (always
 * dequantised; chroma comes at full resolution by construction). */
fl_status fl_resize_channels(const fl_coef_view *comps, int num_components, int width,
                             int height, const fl_box *box, int flags,
                             const fl_channel_spec *spec, fl_workspace *ws, int16_t *out16,
                             float *out32, char *message, size_t message_size);

/* One sample by spec->transform: FL_TRANSFORM_BLOCKS -> fl_sample_channels;
 * EVAL -> fl_eval_box + fl_resize_channels; TRAIN -> fl_random_resized_crop(key)
 * + fl_resize_channels. With spec->orient, of the upright picture (`orientation`: the
 * image's EXIF orientation 1..8): "blocks" on the coefficients oriented losslessly
 * (fl_orient_fill, jpegtran -trim's rules), "eval" and "train" with their boxes drawn
 * in the upright picture and mapped back onto the stored one, the mirrors and the
 * transpose done on the output blocks (no pixel lost). */
fl_status fl_sample(const fl_coef_view *comps, int num_components, int width, int height,
                    int orientation, const fl_channel_spec *spec, uint64_t key,
                    fl_workspace *ws, int16_t *out, char *message, size_t message_size);

/* spec->orient and FL_TRANSFORM_BLOCKS with a turned picture (orientation > 1): the
 * coefficients oriented into the workspace's own planes (views[c] point there), the
 * upright width and height in *width / *height. */
fl_status fl_orient_views(const fl_coef_view *comps, int num_components, int *width,
                          int *height, int orientation, fl_workspace *ws, fl_coef_view *views,
                          char *message, size_t message_size);

/* ---- augmentation policies: fl_policy.c --------------------------------------------- */


fl_status fl_policy_check(const fl_policy *p, char *message, size_t message_size);
/* Bin `bin` of op's magnitudes under policy `kind` for an image of height x width pixels
 * (RandAugment's translations scale with it): 1 with *value and *is_signed, or 0 for an
 * op without magnitudes. */
int fl_policy_magnitude(int kind, int op, int bin, int num_bins, int height, int width,
                        double *value, int *is_signed);
/* Ops per sample: 1 (TrivialAugmentWide), num_ops (RandAugment), 0 (none). */
int fl_policy_count(const fl_policy *p);
/* The ops a sample with `key` gets (at most FL_POLICY_MAX_OPS, in order): their count. */
int fl_policy_draw(const fl_policy *p, uint64_t key, int height, int width, fl_op *ops);

/* The ops on one sample's dequantised channels [count, out_h, out_w] (float x, in place),
 * in order (fl_ops.c says what each does and how exact it is). work: at least
 * fl_ops_work_doubles(spec) doubles. */
size_t fl_ops_work_doubles(const fl_channel_spec *spec);
void fl_ops_apply(const fl_channel_spec *spec, const fl_op *ops, int num_ops, float *x,
                  double *work);
/* A sample's policy and jitter: the ops drawn from `key` (the policy's for its out_h*8 x
 * out_w*8 pixels, then the jitter's), applied to out (int16 [count, out_h, out_w], rounded
 * and saturated back) through x (count * out_h * out_w floats) and work. Returns the ops
 * drawn. */
int fl_policy_sample(const fl_policy *p, const fl_jitter *j, const fl_channel_spec *spec,
                     uint64_t key, int16_t *out, float *x, double *work);

/* torchvision.transforms.v2.RandomErasing's draw on a height x width grid, from `key` (a
 * stream of its own): with probability p, up to 10 tries of an area in [scale_min,
 * scale_max] of the grid and an aspect in [ratio_min, ratio_max] (log-uniform), sides
 * rounded half to even, kept when both are smaller than the grid, then a uniform corner.
 * 1 with box = (top, left, height, width), or 0 (nothing erased). */
int fl_erasing_draw(uint64_t key, int height, int width, double p, double scale_min,
                    double scale_max, double ratio_min, double ratio_max, int box[4]);

/* n uniforms in [0, 1) of a key's stream `stream` (a constant naming what draws them,
 * mixed into the key): the draws of operations defined outside the core (colour jitter,
 * random grayscale) on the same splitmix64 stream as everything else. */
void fl_key_uniforms(uint64_t key, uint64_t stream, int n, double *out);

/* ---- orientation: fl_orient.c ------------------------------------------ */

/* EXIF orientation 1..8 as operations on the stored picture: mirror horizontally (mh),
 * vertically (mv), then transpose (tr). */
void fl_orientation_ops(int orientation, int *mh, int *mv, int *tr);

/* The upright picture's shape (fl_orient_plan) for fl_orient_fill. */
typedef struct {
  int width, height;               /* the upright picture, in pixels */
  int num_components;
  int h_samp[3], v_samp[3];        /* upright sampling (swapped by a transpose) */
  int blocks_h[3], blocks_w[3];    /* upright block grids */
  int alloc_h[3], alloc_w[3];      /* rounded up to whole MCUs: what fl_orient_fill writes */
  int src_h[3], src_w[3];          /* the stored blocks kept (mirrored axes: whole MCUs) */
  int mh, mv, tr;
} fl_oriented;

/* Shapes first: what orienting these coefficients gives (jpegtran -trim's rules: a
 * mirrored axis is trimmed to whole MCUs; one smaller than an MCU keeps its padded MCU). */
fl_status fl_orient_plan(const fl_coef_view *in, int num_components, int width, int height,
                         int orientation, fl_oriented *g, char *message, size_t message_size);
/* Then fill: out[c] holds g->alloc_h[c] x g->alloc_w[c] blocks; quant_out[c] gets the
 * component's quant table, transposed with it. Lossless: only moves and negates. */
void fl_orient_fill(const fl_coef_view *in, const fl_oriented *g, const fl_plane *out,
                    uint16_t quant_out[][64]);

/* ---- writing: fl_encode.c --------------------------------------------- */

/* Coefficients (quantised int16 planes, 1 = grey or 3 = YCbCr components, each
 * with its sampling factors and quant table) -> a baseline JPEG with optimised
 * Huffman tables, through libjpeg's transcoder (the coefficients are stored as
 * given). row_restarts: restart intervals of ceil(MCUs per row / FL_PACK_ROW_INTERVALS)
 * MCUs, and freqload's APP15 segment saying so (freqload pack's files: a loader may start
 * decoding at any MCU row, and pass over the intervals left and right of what it reads).
 * *out is allocated; free it with fl_free. */
fl_status fl_write_jpeg(const fl_coef_view *comps, int num_components, int width, int height,
                        int row_restarts, uint8_t **out, size_t *out_size, char *message,
                        size_t message_size);

/* freqload's APP15 segment in the files fl_write_jpeg writes with row_restarts: the
 * signature (FL_PACK_SIGNATURE_LEN bytes, its NUL included) and a version byte (1: a
 * restart marker ends every MCU row; 2: restart intervals of at most one MCU row, so a
 * row holds several). */
#define FL_PACK_MARKER 0xEF
#define FL_PACK_SIGNATURE "freqload-pack"
#define FL_PACK_SIGNATURE_LEN 14
#define FL_PACK_VERSION 2
#define FL_PACK_ROW_INTERVALS 16
void fl_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
