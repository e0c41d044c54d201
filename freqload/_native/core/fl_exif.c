/*
 * The EXIF Orientation tag (0x0112) of a JPEG's APP1 segment: how a viewer turns the
 * stored picture upright (1 as stored, 2 mirrored, 3 rotated 180, 4 flipped, 5
 * transposed, 6 rotated 90 clockwise, 7 transversed, 8 rotated 270 clockwise).
 *
 * Read from the bytes before the first SOS (fl_find_segment, which also finds freqload's
 * own segments), every offset checked against the segment:
 * a malformed segment or a value outside 1..8 is ignored (orientation 1) and reported
 * as a warning, never an error.
 */
#include "fl_core.h"

#include <string.h>

static unsigned get16(const uint8_t *p, int big) {
  return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t get32(const uint8_t *p, int big) {
  return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
             : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The orientation in one APP1 payload (after the length), or 0 when it holds no EXIF
 * orientation; *warning set when it is EXIF but unreadable. */
static int from_app1(const uint8_t *p, size_t n, int *warning) {
  const uint8_t *tiff;
  size_t len;
  uint32_t ifd;
  unsigned count, i;
  int big;
  if (n < 6 || memcmp(p, "Exif\0\0", 6) != 0) return 0;
  tiff = p + 6;
  len = n - 6;
  if (len < 8 || !(memcmp(tiff, "II", 2) == 0 || memcmp(tiff, "MM", 2) == 0)) {
    *warning = FL_EXIF_MALFORMED;
    return 0;
  }
  big = tiff[0] == 'M';
  ifd = get32(tiff + 4, big);
  if (get16(tiff + 2, big) != 42 || ifd < 8 || ifd > len - 2) {
    *warning = FL_EXIF_MALFORMED;
    return 0;
  }
  count = get16(tiff + ifd, big);
  if ((size_t)count * 12 > len - ifd - 2) {
    *warning = FL_EXIF_MALFORMED;
    return 0;
  }
  for (i = 0; i < count; i++) {
    const uint8_t *e = tiff + ifd + 2 + (size_t)i * 12;
    if (get16(e, big) == 0x0112) {
      unsigned type = get16(e + 2, big), value;
      if (type != 3 || get32(e + 4, big) != 1) { /* SHORT, one value */
        *warning = FL_EXIF_BAD_ORIENTATION;
        return 0;
      }
      value = get16(e + 8, big);
      if (value < 1 || value > 8) {
        *warning = FL_EXIF_BAD_ORIENTATION;
        return 0;
      }
      return (int)value;
    }
  }
  return 0;
}

const uint8_t *fl_find_segment(const uint8_t *data, size_t size, unsigned marker,
                               const void *sig, size_t sig_len, size_t *len) {
  size_t i = 2;
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) return NULL;
  while (i + 4 <= size) {
    unsigned m, n;
    if (data[i] != 0xFF) return NULL; /* not a marker: libjpeg judges the file */
    while (i < size && data[i] == 0xFF) i++; /* fill bytes */
    if (i + 3 > size) return NULL;
    m = data[i];
    if (m == 0xDA || m == 0xD9) return NULL; /* SOS, EOI: no more headers */
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length */
      i++;
      continue;
    }
    n = (unsigned)data[i + 1] << 8 | data[i + 2];
    if (n < 2 || i + 1 + n > size) return NULL;
    if (m == marker && n - 2 >= sig_len && memcmp(data + i + 3, sig, sig_len) == 0) {
      *len = n - 2;
      return data + i + 3;
    }
    i += 1 + n;
  }
  return NULL;
}

int fl_exif_orientation(const uint8_t *data, size_t size, int *warning) {
  size_t len;
  const uint8_t *app1 = fl_find_segment(data, size, 0xE1, "Exif\0\0", 6, &len);
  int o;
  *warning = FL_EXIF_OK;
  if (app1 == NULL) return 1;
  o = from_app1(app1, len, warning);
  return o > 0 ? o : 1;
}
