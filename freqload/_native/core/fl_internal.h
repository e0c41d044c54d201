/* Between the core's own files only: decoder-owned scratch and messages. */
#ifndef FL_INTERNAL_H
#define FL_INTERNAL_H

#include "fl_core.h"

/* Decoder-owned buffer of at least `elems` int16, reused across images
 * (grown, never shrunk below what is asked); NULL when out of memory. */
int16_t *fl_decoder_scratch(fl_decoder *d, size_t elems);
/* Free the scratch if it holds more than `keep_bytes` (after a huge image). */
void fl_decoder_trim_scratch(fl_decoder *d, size_t keep_bytes);
/* The decoder's message buffer (FL_MESSAGE_MAX bytes) for errors found outside libjpeg. */
char *fl_decoder_message_buffer(fl_decoder *d);

/* fl_read_coefficients for the samples that read only the iMCU region `r` (NULL: all):
 * - it may stop after the first r->end_row iMCU rows (> 0) when that is safe: a sequential
 *   file whose one scan holds every component and whose data ends with an EOI marker.
 *   Rows below are then left undefined.
 * - In freqload's packs (fl_info.row_restarts), stopping early, the fast path also starts
 *   at iMCU row r->first_row (> 0), leaving the rows above undefined; and passes over the
 *   restart intervals that lie wholly outside iMCU columns [r->first_col, r->end_col)
 *   (end_col > 0), leaving their blocks undefined (packs of version 2 have several
 *   intervals per row). */
fl_status fl_read_coefficient_region(fl_decoder *d, const fl_plane *planes, int num_planes,
                                     uint16_t quant[][64], const fl_imcu_region *r);

/* The decoder's file buffer (fl_decode_file's): *buf and *cap as fl_read_file takes them. */
void fl_decoder_file_buffer(fl_decoder *d, uint8_t ***buf, size_t **cap);

/* Decoder-owned doubles for the augmentation (fl_ops_apply's work and its float copy of
 * the sample), grown as needed and kept; NULL when out of memory. */
double *fl_decoder_augment_scratch(fl_decoder *d, size_t doubles);

/* The decoder's fl_workspace (created with the decoder). */
fl_workspace *fl_decoder_workspace(fl_decoder *d);

/* The draws' random stream (splitmix64), seeded with a sample's key: the crop's
 * (fl_random_resized_crop) and the augmentation policy's (fl_policy_draw, its own seed). */
static inline uint64_t fl_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline double fl_uniform(uint64_t *state) { /* [0, 1), 53 bits */
  return (double)(fl_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* An AVX2 and a default build of a hot loop, chosen at load time (an ifunc). Off with
 * -DFL_NO_CLONES: ThreadSanitizer's runtime is not up when ifunc resolvers run. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(FL_NO_CLONES)
#define FL_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FL_VECTOR_CLONES
#endif

#endif
