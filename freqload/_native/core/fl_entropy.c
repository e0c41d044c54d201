/*
 * A fast path for the common case of entropy decoding: one sequential Huffman scan
 * holding every component, well formed from its first bit to the EOI marker after it.
 * It writes each block straight into the caller's planes.
 *
 * Why it is identical to libjpeg: it decodes exactly the syntax libjpeg decodes
 * (canonical codes from the same DHT counts and values, DC prediction per component
 * reset at each restart, run/size AC symbols, EOB, ZRL, zig-zag to raster order), and
 * it declines, handing the whole image back to libjpeg, at everything where libjpeg
 * would do something other than decode quietly: a table libjpeg refuses, a code longer
 * than 16 bits, a run past coefficient 63, a bit taken from beyond the end of a
 * segment, a restart marker missing or out of sequence, more than padding between a
 * segment's last MCU and its marker, and a scan followed by anything but EOI. So either
 * the result is libjpeg's (no warning raised, none missed), or libjpeg decodes the file.
 * tests/test_entropy.py holds it to that over every corpus file, every photo, re-encoded
 * variants and thousands of mutated files; scripts/sanitize.sh diff fuzzes it.
 *
 * Speed comes from a 64-bit bit buffer topped up 8 bytes at a time up to the next 0xFF
 * byte (found with memchr, about once per 256 bytes), so the top-up tests one pointer; from
 * lookup tables that resolve a Huffman code together with its value bits when both fit in
 * FL_LOOK bits (most AC coefficients of photographs), and two such AC coefficients in one
 * lookup where both fit (the pair table: about half the lookups of a photograph's AC
 * symbols decode two), so the loop runs fewer, longer iterations; and from branches the
 * predictor gets right: the AC loop tops its buffer up once per two lookups whatever is
 * left (not when it runs low, which follows the data), a block's end (EOB, a full block,
 * a value then EOB) is taken without branching on which, and extend() has no branch.
 * Each step was measured (benchmarks/decode.py's freqload-core against raw-libjpeg, and
 * the decoder before it); decoding two images interleaved in one loop, and parsing
 * without storing the blocks a sample never reads, did not pay on the machine this was
 * tuned on, and were left out.
 */
#include "fl_entropy.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MCU_BLOCKS 10 /* libjpeg's D_MAX_BLOCKS_IN_MCU */

/* zig-zag position -> raster index (8 * row + col) */
static const uint8_t zigzag[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* lookup entry: bits 0-5 bits to consume (0: a code longer than FL_LOOK bits, or none);
 * bit 7 set: value complete (code and value bits both fit); bits 8-15 the symbol, except
 * in an AC entry with bit 7 set, where they are the step to the coefficient (run + 1 for
 * a value; 64 for end-of-block, bit 6 set, so the decoder's run check ends the block);
 * bits 16-31 the value (int16) */
#define E_LEN(e) ((int)((e)&63u))
#define E_EOB 64u
#define E_FULL 128u
#define E_SYM(e) ((int)(((e) >> 8) & 0xFFu))
#define E_VAL(e) ((int)(int16_t)((e) >> 16))

/* The JPEG value of s > 0 bits v: v, or v - 2^s + 1 below 2^(s-1); without a branch (which
 * follows the data): (v - 2^(s-1)) >> 31 is -1 exactly then (an arithmetic shift, as every
 * compiler this builds with does it). */
static inline int extend(int v, int s) {
  return v + (((v - (1 << (s - 1))) >> 31) & (1 - (1 << s)));
}

/* pair entry (AC tables): the AC symbol at the top of the lookup bits, with its value bits,
 * and the symbol after it when both fit in FL_LOOK bits (a photograph's AC coefficients are
 * mostly short codes with short values, so two often do); 0 where the slow path decodes
 * from `fast` (a code or value too long, a ZRL). Laid out for the hot loop's x86 code: the
 * low byte is the length taken (a shift count as it is), the next one an offset.
 *   bits 0-7   length taken when the entry is used whole (code and value bits of both)
 *   bits 8-15  the first coefficient's offset from the next one free, k (its run; 64 for EOB)
 *   bits 16-23 the second's offset from k (the first's again when there is no second;
 *              64 more than the first's when the second is EOB)
 *   bits 24-29 the first symbol's length; bit 30: it is EOB; bit 31: the second is EOB
 *   bits 32-47 the first value, bits 48-63 the second (the first again when none) */
#define P_EOB1 (1ull << 30)
#define P_EOB2 (1ull << 31)
#define P_LEN(e) ((int)((e)&0xFFu))
#define P_OFF1(e) ((unsigned)(((e) >> 8) & 0xFFu))
#define P_OFF2(e) ((unsigned)(((e) >> 16) & 0xFFu))
#define P_LEN1(e) ((int)(((e) >> 24) & 63u))
#define P_VAL1(e) ((int16_t)(uint16_t)((e) >> 32))
#define P_VAL2(e) ((int16_t)(uint16_t)((e) >> 48))

/* t->pair from t->fast (an AC table). */
static void build_pairs(fl_huff_table *t) {
  const uint32_t mask = (1u << FL_LOOK) - 1;
  uint32_t i;
  for (i = 0; i <= mask; i++) {
    const uint32_t e1 = t->fast[i];
    const uint64_t len1 = (uint64_t)E_LEN(e1);
    uint64_t pe, run1;
    if (!(e1 & E_FULL)) { /* a long code or value, a ZRL: the slow path */
      t->pair[i] = 0;
      continue;
    }
    if (e1 & E_EOB) {
      t->pair[i] = len1 | (64ull << 8) | (64ull << 16) | (len1 << 24) | P_EOB1;
      continue;
    }
    run1 = (uint64_t)E_SYM(e1) - 1;
    pe = len1 | (run1 << 8) | (run1 << 16) | (len1 << 24) |
         ((uint64_t)(uint16_t)E_VAL(e1) << 32) | ((uint64_t)(uint16_t)E_VAL(e1) << 48);
    if (len1 < FL_LOOK) {
      /* the bits after the first symbol, known for FL_LOOK - len1 of them: an entry no
       * longer than that is the second symbol's, whatever the unknown bits are */
      const uint32_t e2 = t->fast[(i << len1) & mask];
      const uint64_t len2 = (uint64_t)E_LEN(e2);
      if ((e2 & E_FULL) && len1 + len2 <= FL_LOOK) {
        pe = (pe & 0x0000FFFFFF00FF00ull) | (len1 + len2);
        if (e2 & E_EOB) /* the first's offset + 64: past 63 */
          pe |= P_EOB2 | ((run1 + 64) << 16);
        else /* the second's run after the first */
          pe |= ((run1 + (uint64_t)E_SYM(e2)) << 16) | ((uint64_t)(uint16_t)E_VAL(e2) << 48);
      }
    }
    t->pair[i] = pe;
  }
}

/* Build t from spec as jpeg_make_d_derived_tbl does; 0 where libjpeg refuses the table
 * (too many symbols, code space overrun, a DC symbol above 15). */
static int build_table(fl_huff_table *t, const fl_huff_spec *spec, int dc) {
  uint8_t size[257];
  uint32_t code[257];
  int p = 0, l, i, n;
  uint32_t c;
  for (l = 1; l <= 16; l++) {
    int count = spec->bits[l];
    if (p + count > 256) return 0;
    while (count--) size[p++] = (uint8_t)l;
  }
  size[p] = 0;
  n = p;
  c = 0;
  p = 0;
  l = size[0];
  while (size[p]) {
    while (size[p] == l) {
      code[p++] = c;
      c++;
    }
    if (c >= (1u << l)) return 0;
    c <<= 1;
    l++;
  }
  p = 0;
  for (l = 1; l <= 16; l++) {
    if (spec->bits[l]) {
      t->valoffset[l] = p - (int32_t)code[p];
      p += spec->bits[l];
      t->maxcode[l] = (int32_t)code[p - 1];
    } else {
      t->maxcode[l] = -1;
    }
  }
  t->maxcode[17] = 0x7FFFFFFF; /* unused: the search stops at 16 */
  if (dc)
    for (i = 0; i < n; i++)
      if (spec->huffval[i] > 15) return 0;
  memcpy(t->huffval, spec->huffval, 256);
  memset(t->fast, 0, sizeof t->fast);
  for (p = 0; p < n; p++) {
    const int len = size[p], sym = spec->huffval[p];
    const int s = dc ? sym : (sym & 15);
    uint32_t *out, count, k, e;
    if (len > FL_LOOK) break; /* sizes ascend */
    out = t->fast + (code[p] << (FL_LOOK - len));
    count = 1u << (FL_LOOK - len);
    e = (uint32_t)len | ((uint32_t)sym << 8);
    if (s == 0) {
      if (dc) e |= E_FULL; /* a DC difference of 0 */
      else if (sym == 0) e = (uint32_t)len | E_FULL | E_EOB | (64u << 8);
    }
    if (s == 0 || len + s > FL_LOOK) { /* one entry for every index under the code */
      for (k = 0; k < count; k++) out[k] = e;
    } else { /* the value bits follow the code: 2^s runs of equal entries, one per value */
      const uint32_t field = dc ? (uint32_t)sym : (uint32_t)(sym >> 4) + 1;
      const uint32_t run = count >> s, head = (uint32_t)(len + s) | E_FULL | (field << 8);
      int bits;
      for (bits = 0; bits < (1 << s); bits++, out += run) {
        const uint32_t v = head | ((uint32_t)(uint16_t)(int16_t)extend(bits, s) << 16);
        for (k = 0; k < run; k++) out[k] = v;
      }
    }
  }
  if (!dc) build_pairs(t);
  return 1;
}

/* The table for spec, rebuilt only when spec differs from the slot's last one. */
static const fl_huff_table *table_for(fl_entropy *e, int slot, const fl_huff_spec *spec,
                                      int dc) {
  fl_huff_table *t = &e->table[slot];
  if (t->built && memcmp(&t->spec, spec, sizeof *spec) == 0) return t;
  t->built = 0;
  if (!build_table(t, spec, dc)) return NULL;
  t->spec = *spec;
  t->built = 1;
  return t;
}

/* ---- bits ------------------------------------------------------------- */

typedef struct {
  uint64_t buf;  /* next bit is the top bit */
  int n;         /* bits in buf, the trailing `fake` of them zeros standing after a marker */
  int fake;
  int marker;    /* 0: none met yet; the marker code at p; -1: data ended without one */
  const uint8_t *p, *end;
  const uint8_t *fast_end; /* 8-byte loads may start at p <= fast_end: they hold no 0xFF
                            * byte and stay in the data (NULL: none may, e.g. at a marker) */
} bits;

/* 8 bytes as loaded by memcpy -> the same bytes as a big-endian number */
static inline uint64_t load_be64(uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return w;
#else
  return __builtin_bswap64(w);
#endif
}

/* Where 8-byte loads may go from p on: up to the next 0xFF byte (a stuffed byte or a
 * marker, for refill_slow) or the end of the data; found once per 0xFF byte (photographs
 * have about one in 256), so the fast top-ups test one pointer. */
static void set_fast_end(bits *b) {
  const uint8_t *q;
  if (b->marker) {
    b->fast_end = NULL;
    return;
  }
  q = b->p < b->end ? (const uint8_t *)memchr(b->p, 0xFF, (size_t)(b->end - b->p)) : NULL;
  if (q == NULL) q = b->end;
  b->fast_end = q - b->p >= 8 ? q - 8 : NULL;
}

/* Top up to more than 56 bits: real data while there is some, then zeros (counted in
 * fake) once a marker or the end of the data is met. p never passes a marker. */
static void refill_slow(bits *b) {
  while (b->n <= 56) {
    int c;
    if (b->marker) {
      b->n += 8;
      b->fake += 8;
      continue;
    }
    if (b->p >= b->end) {
      b->marker = -1;
      b->fast_end = NULL;
      continue;
    }
    c = b->p[0];
    if (c == 0xFF) {
      if (b->p + 1 < b->end && b->p[1] == 0x00) {
        b->p += 2;
      } else {
        b->marker = b->p + 1 < b->end ? b->p[1] : -1;
        b->fast_end = NULL;
        continue;
      }
    } else {
      b->p++;
    }
    b->buf |= (uint64_t)c << (56 - b->n);
    b->n += 8;
  }
  set_fast_end(b);
}

/* The bit reader's hot state lives in locals (registers) inside a block; BITS_LOAD and
 * BITS_SAVE move it to and from the bits struct around the rare slow calls. */
#define BITS_LOAD(b) (buf = (b)->buf, n = (b)->n, p = (b)->p, fast_end = (b)->fast_end)
#define BITS_SAVE(b) ((b)->buf = buf, (b)->n = n, (b)->p = p)

/* At least 32 bits in buf (a code of up to 16 bits and up to 15 value bits). */
#define REFILL(b)                                                                        \
  do {                                                                                   \
    if (n < 32) {                                                                        \
      uint64_t w_;                                                                       \
      if ((uintptr_t)p <= (uintptr_t)fast_end) {                                         \
        memcpy(&w_, p, 8);                                                               \
        const int bytes_ = (64 - n) >> 3;                                                \
        w_ = load_be64(w_);                                                              \
        buf |= (w_ >> n) & (~0ull << (64 - n - 8 * bytes_));                             \
        p += bytes_;                                                                     \
        n += 8 * bytes_;                                                                 \
      } else {                                                                           \
        BITS_SAVE(b);                                                                    \
        refill_slow(b);                                                                  \
        BITS_LOAD(b);                                                                    \
      }                                                                                  \
    }                                                                                    \
  } while (0)

/* REFILL without its test of n: where the next 8 bytes may be loaded, top buf up to 56-63
 * bits whatever n is (the bits below the count are the stream's next bits, which the next
 * top-up ORs in again, unchanged); else top up below 31 + FL_LOOK bits. A test that almost
 * always passes instead of one (n < 32) that follows the data, which the branch predictor
 * misses often. After it, two AC_SYMBOLs may follow: a slow one (31 bits at most, a code
 * and its value) leaves the next lookup the FL_LOOK real bits a table entry is built from. */
#define REFILL_EVERY(b)                                                                  \
  do {                                                                                   \
    uint64_t w_;                                                                         \
    if ((uintptr_t)p <= (uintptr_t)fast_end) {                                           \
      memcpy(&w_, p, 8);                                                                 \
      buf |= load_be64(w_) >> n;                                                         \
      p += (unsigned)(63 - n) >> 3; /* unsigned: no sign extension */                  \
      n |= 56;                                                                           \
    } else if (n < 31 + FL_LOOK) {                                                       \
      BITS_SAVE(b);                                                                      \
      refill_slow(b);                                                                    \
      BITS_LOAD(b);                                                                      \
    }                                                                                    \
  } while (0)

#define TAKE(s, out)                         \
  do {                                       \
    (out) = (int)(buf >> (64 - (s)));        \
    buf <<= (s);                             \
    n -= (s);                                \
  } while (0)

#define SKIP(s)                              \
  do {                                       \
    buf <<= (s);                             \
    n -= (s);                                \
  } while (0)

/* A code longer than FL_LOOK bits (libjpeg's jpeg_huff_decode) at the top of *buf;
 * -1: none within 16 bits. */
static int slow_symbol(uint64_t *buf, int *n, const fl_huff_table *t) {
  int l;
  for (l = FL_LOOK + 1; l <= 16; l++) {
    const int32_t code = (int32_t)(*buf >> (64 - l));
    if (code <= t->maxcode[l]) {
      const int32_t at = code + t->valoffset[l];
      if (at < 0 || at > 255) return -1;
      *buf <<= l;
      *n -= l;
      return t->huffval[at];
    }
  }
  return -1;
}

/* Zero one block of 64 coefficients: eight plain 16-byte stores (a 128-byte memset
 * becomes "rep stos" here, which costs more than decoding a sparse block). */
static inline void clear_block(int16_t *blk) {
#ifdef __SSE2__
  const __m128i z = _mm_setzero_si128();
  int i;
  for (i = 0; i < 8; i++) _mm_storeu_si128((__m128i *)(blk + 8 * i), z);
#else
  memset(blk, 0, 64 * sizeof *blk);
#endif
}

/* One iteration of decode_block's AC loop (in it: buf, n, p, fast_end, k, blk, ac, e, s,
 * v, sink): one or two coefficients, or the block's end (goto done), or a decline (return 0).
 * A fast entry takes at most FL_LOOK bits; the slow path tops up for itself. */
#define AC_SYMBOL()                                                                      \
  do {                                                                                   \
    const uint64_t pe_ = ac->pair[buf >> (64 - FL_LOOK)];                                \
    if (pe_) { /* one or two coefficients, or EOB */                                     \
      const unsigned k1_ = k + P_OFF1(pe_), k2_ = k + P_OFF2(pe_);                       \
      if (k2_ > 63) {                                                                    \
        /* the block ends here, one of three ways: EOB (k1 past 63); its last             \
         * coefficient, the second symbol being the next block's (k1 = 63); a value       \
         * then EOB. Anything else is a run past 63, which libjpeg writes to coefficient  \
         * 63 quietly: declined. Selected without branching on which (the predictor       \
         * cannot tell them apart): one store, to a sink when there is no value. */       \
        const unsigned past_ = k1_ > 63, last_ = k1_ == 63;                              \
        const unsigned ok_ = ((past_ & (unsigned)(pe_ >> 30)) |                          \
                              (~past_ & (last_ | (unsigned)(pe_ >> 31)))) & 1u;          \
        int16_t *const to_[2] = {blk + zigzag[k1_ & 63], &sink};                         \
        const int len_ = P_LEN(pe_), len1_ = P_LEN1(pe_);                                \
        if (!ok_) return 0;                                                              \
        *to_[past_] = P_VAL1(pe_);                                                       \
        SKIP(len_ - ((len_ - len1_) & -(int)last_));                                     \
        goto done;                                                                       \
      }                                                                                  \
      blk[zigzag[k1_]] = P_VAL1(pe_);                                                    \
      blk[zigzag[k2_]] = P_VAL2(pe_); /* the first again when there is no second */      \
      SKIP(P_LEN(pe_));                                                                  \
      k = k2_ + 1;                                                                       \
    } else {                                                                             \
      int r_;                                                                            \
      REFILL(b);                                                                         \
      e = ac->fast[buf >> (64 - FL_LOOK)];                                               \
      if (E_LEN(e)) {                                                                    \
        SKIP(E_LEN(e));                                                                  \
        s = E_SYM(e);                                                                    \
      } else if ((s = slow_symbol(&buf, &n, ac)) < 0) {                                  \
        return 0;                                                                        \
      }                                                                                  \
      r_ = s >> 4;                                                                       \
      s &= 15;                                                                           \
      if (s) {                                                                           \
        k += (unsigned)r_;                                                               \
        if (k > 63) return 0;                                                            \
        TAKE(s, v);                                                                      \
        blk[zigzag[k++]] = (int16_t)extend(v, s);                                        \
      } else {                                                                           \
        if (r_ != 15) goto done; /* EOB */                                               \
        k += 16; /* ZRL; one past 63 simply ends the block, as in libjpeg */             \
      }                                                                                  \
    }                                                                                    \
    if (k > 63) goto done;                                                               \
  } while (0)

/* One block into blk (zeroed here). 0: decline. */
static inline int decode_block(bits *b, const fl_huff_table *dc, const fl_huff_table *ac,
                        int *last_dc, int16_t *blk) {
  uint64_t buf;
  int n;
  const uint8_t *p, *fast_end;
  uint32_t e;
  int s, v;
  unsigned k; /* the next coefficient (zig-zag position); unsigned: it indexes */
  int16_t sink; /* AC_SYMBOL's store where a block ends without a value */
  BITS_LOAD(b);
  clear_block(blk);
  REFILL(b);
  e = dc->fast[buf >> (64 - FL_LOOK)];
  if (e & E_FULL) {
    SKIP(E_LEN(e));
    s = E_VAL(e);
  } else {
    if (E_LEN(e)) {
      SKIP(E_LEN(e));
      s = E_SYM(e);
    } else if ((s = slow_symbol(&buf, &n, dc)) < 0) {
      return 0;
    }
    if (s) {
      TAKE(s, v);
      s = extend(v, s);
    }
  }
  /* libjpeg adds in unsigned arithmetic and keeps the low 16 bits: so does this */
  *last_dc = (int)((unsigned)*last_dc + (unsigned)s);
  blk[0] = (int16_t)(uint16_t)(unsigned)*last_dc;
  k = 1;
  for (;;) { /* two symbols per top-up: 56 bits or more, a fast one takes 11 at most */
    REFILL_EVERY(b);
    AC_SYMBOL();
    AC_SYMBOL();
  }
done:
  BITS_SAVE(b);
  return 1;
}

/* After a segment's last MCU: what is left before the marker must be padding. */
static int segment_ends(bits *b, int marker) {
  refill_slow(b);
  return b->marker == marker && b->n - b->fake >= 0 && b->n - b->fake < 8;
}

static void start_segment(bits *b, const uint8_t *p) {
  b->buf = 0;
  b->n = b->fake = b->marker = 0;
  b->p = p;
  set_fast_end(b);
}

const uint8_t *fl_next_marker(const uint8_t *p, const uint8_t *end) {
  while (p < end && (p = (const uint8_t *)memchr(p, 0xFF, (size_t)(end - p))) != NULL) {
    const uint8_t *q = p + 1;
    while (q < end && *q == 0xFF) q++; /* fill bytes before a marker */
    if (q == end) return NULL;
    if (*q != 0x00) return q;
    p = q + 1; /* a stuffed data byte */
  }
  return NULL;
}

/* Past the next marker of the scan data [p, end) when it is RSTn (n mod 8): where the
 * restart interval after it begins; NULL when another marker, or the end, comes first. */
static const uint8_t *past_restart(const uint8_t *p, const uint8_t *end, long n) {
  const uint8_t *q = fl_next_marker(p, end);
  return q != NULL && *q == 0xD0 + (n & 7) ? q + 1 : NULL;
}

/* Past the first `count` restart markers of the scan data [p, end): where the next
 * restart interval begins; NULL when a marker out of sequence, or any other marker, or the
 * end comes first (the caller then decodes from the top, where its checks judge it). */
static const uint8_t *skip_intervals(const uint8_t *p, const uint8_t *end, long count) {
  long n;
  for (n = 0; n < count && p != NULL; n++) p = past_restart(p, end, n);
  return p;
}

/* At the start of the restart interval at MCU (my, mx), nothing of it read: pass over it
 * and the ones after it while each lies within the row wholly outside the MCU columns of
 * r's iMCU columns, is not the scan's last, and ends at the restart marker expected next
 * (else it is decoded, and its checks judge it). Returns the MCUs passed over. Out of line:
 * the decoding loop keeps its registers. */
static __attribute__((noinline)) int pass_over(bits *b, const fl_scan_layout *s,
                                               const fl_imcu_region *r, int my, int mx,
                                               int *next_rst) {
  const int col0 = r->first_col * s->imcu_mcu_cols, col1 = r->end_col * s->imcu_mcu_cols;
  const int len = s->restart_interval, at = mx;
  const long total = (long)s->mcus_per_row * s->mcu_rows;
  const uint8_t *p = b->p, *q;
  if (b->n != 0) return 0;
  while (mx + len <= s->mcus_per_row && (mx + len <= col0 || mx >= col1) &&
         (long)my * s->mcus_per_row + mx + len < total &&
         (q = past_restart(p, b->end, *next_rst)) != NULL) {
    p = q;
    *next_rst = (*next_rst + 1) & 7;
    mx += len;
  }
  if (mx != at) start_segment(b, p); /* once, where decoding resumes */
  return mx - at;
}

int fl_entropy_decode(fl_entropy *e, const fl_scan_layout *s, const uint8_t *data,
                      size_t size, const fl_plane *planes, const fl_imcu_region *r,
                      fl_entropy_stop *stop) {
  const int start_imcu_rows = r ? r->first_row : 0, stop_imcu_rows = r ? r->end_row : 0;
  /* non-NULL: the columns outside which restart intervals are passed over (pass_over) */
  const fl_imcu_region *cols = r && r->end_col > 0 && s->restart_interval > 0 &&
                                       s->restart_interval < s->mcus_per_row
                                   ? r : NULL;
  const fl_huff_table *dc[FL_SCAN_MAX], *ac[FL_SCAN_MAX];
  int last_dc[FL_SCAN_MAX] = {0};
  /* an MCU's blocks in order, listed once: component cj[j] at off[j] from the MCU's first
   * block in its plane (one loop of a fixed count per MCU, which the branch predictor
   * learns, instead of three nested ones) */
  uint8_t cj[MCU_BLOCKS];
  ptrdiff_t off[MCU_BLOCKS], mcu_step[FL_SCAN_MAX], row_step[FL_SCAN_MAX];
  int16_t *row_origin[FL_SCAN_MAX];
  bits b;
  int i, j, nb = 0, my, mx, togo = s->restart_interval, next_rst = 0, rows;
  for (i = 0; i < s->num_components; i++) {
    const fl_scan_component *c = &s->comp[i];
    const fl_plane *pl = &planes[c->plane];
    int v, h;
    dc[i] = table_for(e, c->dc_table, &s->dc_spec[c->dc_table], 1);
    ac[i] = table_for(e, 4 + c->ac_table, &s->ac_spec[c->ac_table], 0);
    if (!dc[i] || !ac[i]) return FL_ENTROPY_DECLINED;
    for (v = 0; v < c->mcu_h; v++)
      for (h = 0; h < c->mcu_w; h++) {
        if (nb == MCU_BLOCKS) return FL_ENTROPY_DECLINED; /* fl_decode.c declines these */
        cj[nb] = (uint8_t)i;
        off[nb++] = (ptrdiff_t)v * pl->row_stride + (ptrdiff_t)h * 64;
      }
    mcu_step[i] = (ptrdiff_t)c->mcu_w * 64;
    row_step[i] = (ptrdiff_t)c->mcu_h * pl->row_stride;
    row_origin[i] = pl->data;
  }
  b.end = data + size;
  start_segment(&b, data);
  rows = s->mcu_rows;
  if (stop_imcu_rows > 0) {
    const int limit = stop_imcu_rows * s->imcu_mcu_rows;
    if (limit < rows) rows = limit;
  }
  my = mx = 0;
  if (start_imcu_rows > 0 && s->restart_interval > 0) { /* freqload's packs */
    const long first = (long)start_imcu_rows * s->imcu_mcu_rows * s->mcus_per_row;
    const long skip = first / s->restart_interval; /* restart intervals wholly above */
    const uint8_t *q = skip > 0 ? skip_intervals(data, b.end, skip) : NULL;
    if (q != NULL) {
      const long mcu = skip * s->restart_interval;
      start_segment(&b, q);
      next_rst = (int)(skip & 7);
      my = (int)(mcu / s->mcus_per_row);
      mx = (int)(mcu % s->mcus_per_row);
      for (i = 0; i < s->num_components; i++) row_origin[i] += (ptrdiff_t)my * row_step[i];
    }
  }
  for (; my < rows; my++, mx = 0) {
    int16_t *origin[FL_SCAN_MAX]; /* the MCU's first block in each component's plane */
    for (i = 0; i < s->num_components; i++) {
      origin[i] = row_origin[i] + (ptrdiff_t)mx * mcu_step[i];
      row_origin[i] += row_step[i];
    }
    for (; mx < s->mcus_per_row; mx++) {
      if (s->restart_interval) {
        if (togo == 0) {
          if (!segment_ends(&b, 0xD0 + next_rst)) return FL_ENTROPY_DECLINED;
          start_segment(&b, b.p + 2);
          memset(last_dc, 0, sizeof last_dc);
          next_rst = (next_rst + 1) & 7;
          togo = s->restart_interval;
        }
        if (cols != NULL && togo == s->restart_interval) { /* an interval starts here */
          const int passed = pass_over(&b, s, cols, my, mx, &next_rst);
          if (passed > 0) {
            mx += passed;
            for (i = 0; i < s->num_components; i++) origin[i] += passed * mcu_step[i];
            if (mx == s->mcus_per_row) break; /* passed over the row's last intervals */
          }
        }
        togo--;
      }
      for (j = 0; j < nb; j++) {
        const int c = cj[j];
        if (!decode_block(&b, dc[c], ac[c], &last_dc[c], origin[c] + off[j]))
          return FL_ENTROPY_DECLINED;
      }
      for (i = 0; i < s->num_components; i++) origin[i] += mcu_step[i];
      if (b.fake > b.n) return FL_ENTROPY_DECLINED; /* took bits from past a marker */
    }
  }
  /* a single-component scan covers the component's own blocks only: zero the padding
   * (the columns of the rows decoded; the rows below when decoded whole) */
  if (s->num_components == 1) {
    const fl_scan_component *c = &s->comp[0];
    const fl_plane *pl = &planes[c->plane];
    int y;
    if (c->alloc_w > s->mcus_per_row)
      for (y = 0; y < rows; y++)
        memset(pl->data + (ptrdiff_t)y * pl->row_stride + (ptrdiff_t)s->mcus_per_row * 64, 0,
               (size_t)(c->alloc_w - s->mcus_per_row) * 64 * sizeof(int16_t));
    if (rows == s->mcu_rows)
      for (y = rows; y < c->alloc_h; y++)
        memset(pl->data + (ptrdiff_t)y * pl->row_stride, 0,
               (size_t)c->alloc_w * 64 * sizeof(int16_t));
  }
  if (rows < s->mcu_rows) {
    stop->p = b.p;
    stop->next_restart = next_rst;
    return FL_ENTROPY_STOPPED;
  }
  if (!segment_ends(&b, 0xD9)) return FL_ENTROPY_DECLINED;
  return FL_ENTROPY_DONE;
}
