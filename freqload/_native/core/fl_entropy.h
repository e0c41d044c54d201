/*
 * fl_entropy.c: the fast path of entropy decoding (one sequential Huffman scan holding
 * every component, well formed), declining to libjpeg for everything else. Plain C, no
 * libjpeg types: fl_decode.c describes the scan from libjpeg's parsed header.
 */
#ifndef FL_ENTROPY_H
#define FL_ENTROPY_H

#include "fl_core.h"

#define FL_LOOK 11    /* bits one table lookup resolves */
#define FL_SCAN_MAX 4 /* components in a scan */

typedef struct {
  uint8_t bits[17];     /* bits[l]: codes of length l, 1..16 (bits[0] unused) */
  uint8_t huffval[256]; /* symbols in code order */
} fl_huff_spec;

typedef struct {
  int plane;        /* planes[] index: the component's place in the frame header */
  int dc_table, ac_table; /* 0..3 */
  int mcu_w, mcu_h; /* blocks per MCU (interleaved: h_samp x v_samp; else 1 x 1) */
  int alloc_w, alloc_h; /* the plane's blocks (fl_component.alloc_blocks_*) */
} fl_scan_component;

typedef struct {
  int num_components; /* in the scan, which holds every component of the image */
  fl_scan_component comp[FL_SCAN_MAX];
  int mcus_per_row, mcu_rows;
  int imcu_mcu_rows;    /* MCU rows per iMCU row: 1 interleaved, else the v_samp */
  int imcu_mcu_cols;    /* MCU columns per iMCU column: 1 interleaved, else the h_samp */
  int restart_interval; /* MCUs, 0: none */
  fl_huff_spec dc_spec[4], ac_spec[4];
} fl_scan_layout;

typedef struct {
  fl_huff_spec spec; /* what it was built from */
  int built;
  uint32_t fast[1 << FL_LOOK];
  uint64_t pair[1 << FL_LOOK]; /* AC tables: one or two coefficients per lookup (fl_entropy.c) */
  int32_t maxcode[18], valoffset[18];
  uint8_t huffval[256];
} fl_huff_table;

/* A decoder's tables (DC 0..3, AC 4..7), rebuilt only when a file's differ. */
typedef struct {
  fl_huff_table table[8];
} fl_entropy;

typedef struct {
  const uint8_t *p; /* first byte not taken (a marker's 0xFF where one was met) */
  int next_restart; /* the RSTn expected next (0..7) */
} fl_entropy_stop;

enum { FL_ENTROPY_DECLINED = 0, FL_ENTROPY_DONE = 1, FL_ENTROPY_STOPPED = 2 };

/* The next marker in scan data [p, end), past stuffed bytes (0xFF 0x00) and the fill bytes
 * before it: the address of its code (the byte after its 0xFF run); NULL when none comes
 * before the end. */
const uint8_t *fl_next_marker(const uint8_t *p, const uint8_t *end);

/* Decode the scan whose data starts at `data` (right after its SOS header; `size`
 * bytes to the end of the file) into planes[comp.plane], the iMCU region `r` of it (NULL:
 * all; its fields as fl_imcu_region says):
 * - r->first_row > 0: begin at the restart interval holding that iMCU row's first MCU,
 *   found by counting the restart markers before it (in sequence, no other marker; else
 *   decode from the top); the rows above are left undefined and unread.
 * - r->end_row > 0: stop after that many iMCU rows (FL_ENTROPY_STOPPED, *stop says where;
 *   rows below are left undefined).
 * - r->end_col > 0: a restart interval that lies within one MCU row, wholly left of iMCU
 *   column first_col or right of end_col, and is not the scan's last, is passed over
 *   unread to its restart marker (when that marker comes next, in sequence); its blocks are
 *   left undefined.
 * FL_ENTROPY_DONE: every block decoded (or passed over) and the scan ends in EOI.
 * FL_ENTROPY_DECLINED: libjpeg must decode this file (planes are then undefined). */
int fl_entropy_decode(fl_entropy *e, const fl_scan_layout *s, const uint8_t *data,
                      size_t size, const fl_plane *planes, const fl_imcu_region *r,
                      fl_entropy_stop *stop);

#endif
