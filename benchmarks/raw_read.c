/*
 * The reference point for benchmarks/decode.py: libjpeg's own coefficient read
 * (jpeg_read_header + jpeg_read_coefficients, libjpeg's memory manager, no copy
 * out, nothing else), one decompressor per thread reused across images, files
 * in memory. Independent of freqload's code.
 *
 * Built with -DFL_CORE_READ (benchmarks/_common.build_core_reader), the same loop reads
 * with freqload's native core instead (fl_begin + fl_read_coefficients into planes the
 * thread reuses, as the engines do): the two reads compared like with like, both C loops
 * over the same files.
 *
 *   raw_read THREADS SECONDS FILE...   ->  prints "images seconds"
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef FL_CORE_READ
#include "fl_core.h"
#else
#include <jpeglib.h>
#endif

typedef struct { unsigned char *data; unsigned long size; } blob;

static blob *files;
static int nfiles;
static double seconds;
static pthread_barrier_t start;

#ifndef FL_CORE_READ
typedef struct { struct jpeg_error_mgr pub; jmp_buf jump; } err_mgr;
static void on_error(j_common_ptr c) { longjmp(((err_mgr *)c->err)->jump, 1); }
static void on_message(j_common_ptr c, int level) { (void)c; (void)level; }
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { int id, nthreads; long images; double elapsed; } job;

#ifdef FL_CORE_READ
/* One image through the core into the thread's planes (grown when too small). */
static void read_one(fl_decoder *d, const blob *f, int16_t **buf, size_t *cap) {
  static const fl_options opts = {0, 0, 1, 0, 0, 0, 0};
  fl_info info;
  fl_plane planes[3];
  uint16_t quant[3][64];
  size_t need = 0, at = 0;
  int c;
  if (fl_begin(d, f->data, f->size, &opts, &info) != FL_OK) return;
  for (c = 0; c < info.num_components; c++)
    need += (size_t)info.comp[c].alloc_blocks_h * info.comp[c].alloc_blocks_w * 64;
  if (need > *cap) {
    free(*buf);
    *buf = malloc(need * sizeof **buf);
    *cap = *buf ? need : 0;
    if (!*buf) {
      fl_end(d);
      return;
    }
  }
  for (c = 0; c < info.num_components; c++) {
    planes[c].data = *buf + at;
    planes[c].rows = info.comp[c].alloc_blocks_h;
    planes[c].cols = info.comp[c].alloc_blocks_w;
    planes[c].row_stride = (ptrdiff_t)planes[c].cols * 64;
    at += (size_t)planes[c].rows * planes[c].cols * 64;
  }
  if (fl_read_coefficients(d, planes, info.num_components, quant) != FL_OK)
    fprintf(stderr, "%s\n", fl_decoder_message(d));
}
#endif

static void *worker(void *arg) {
  job *j = (job *)arg;
  long n = 0;
  int i = j->id;
  double t0, deadline;
#ifdef FL_CORE_READ
  char message[FL_MESSAGE_MAX];
  fl_decoder *d = fl_decoder_new(message, sizeof message);
  int16_t *buf = NULL;
  size_t cap = 0;
  if (!d) {
    fprintf(stderr, "%s\n", message);
    exit(1);
  }
#else
  struct jpeg_decompress_struct c;
  err_mgr e;
  c.err = jpeg_std_error(&e.pub);
  e.pub.error_exit = on_error;
  e.pub.emit_message = on_message;
  jpeg_create_decompress(&c);
#endif
  pthread_barrier_wait(&start);
  t0 = now();
  deadline = t0 + seconds;
  for (;;) {
#ifdef FL_CORE_READ
    read_one(d, &files[i], &buf, &cap);
#else
    if (setjmp(e.jump) == 0) {
      jpeg_mem_src(&c, files[i].data, files[i].size);
      jpeg_read_header(&c, TRUE);
      if (jpeg_read_coefficients(&c) == NULL) fprintf(stderr, "suspended\n");
    }
    jpeg_abort_decompress(&c);
#endif
    n++;
    i = (i + j->nthreads) % nfiles;
    if ((n & 7) == 0 && now() >= deadline) break;
  }
  j->elapsed = now() - t0;
  j->images = n;
#ifdef FL_CORE_READ
  free(buf);
  fl_decoder_free(d);
#else
  jpeg_destroy_decompress(&c);
#endif
  return NULL;
}

int main(int argc, char **argv) {
  int nthreads, t;
  pthread_t th[64];
  job jobs[64];
  long total = 0;
  double elapsed = 0;
  if (argc < 4) {
    fprintf(stderr, "usage: %s THREADS SECONDS FILE...\n", argv[0]);
    return 2;
  }
  nthreads = atoi(argv[1]);

  seconds = atof(argv[2]);
  if (nthreads < 1 || nthreads > 64) return 2;
  nfiles = argc - 3;
  files = calloc(nfiles, sizeof *files);
  for (t = 0; t < nfiles; t++) {
    FILE *f = fopen(argv[3 + t], "rb");
    if (!f) { perror(argv[3 + t]); return 1; }
    fseek(f, 0, SEEK_END);
    files[t].size = (unsigned long)ftell(f);
    fseek(f, 0, SEEK_SET);
    files[t].data = malloc(files[t].size);
    if (fread(files[t].data, 1, files[t].size, f) != files[t].size) return 1;
    fclose(f);
  }
  pthread_barrier_init(&start, NULL, nthreads);
  for (t = 0; t < nthreads; t++) {
    jobs[t].id = t;
    jobs[t].nthreads = nthreads;
    pthread_create(&th[t], NULL, worker, &jobs[t]);
  }
  for (t = 0; t < nthreads; t++) {
    pthread_join(th[t], NULL);
    total += jobs[t].images;
    if (jobs[t].elapsed > elapsed) elapsed = jobs[t].elapsed;
  }
  printf("%ld %.6f\n", total, elapsed);
  return 0;
}
