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

/* The decoder's fl_workspace (created with the decoder). */
fl_workspace *fl_decoder_workspace(fl_decoder *d);

#endif
