/*
 * Batches: the core's one batch entry point (fl_decode_items) and its own thread pool
 * (fl_pool), which the native engine drives; the DALI operator runs fl_decode_items on
 * DALI's threads instead. See fl_core.h.
 *
 * The pool: `threads` pthreads, each with its own decoder (one libjpeg decompressor,
 * reused planes and file buffer), take items from the oldest job first, FL_POOL_GROUP at a
 * time, so several jobs (batches) are in flight without a barrier between them: a thread
 * that finds the oldest job's items all taken moves on to the next one. One mutex guards
 * the queue and the counts; it is held only to take or return items, never while decoding.
 * No thread runs Python or touches memory the caller did not hand over with the job.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_core.h"

/* Items a pool thread takes at once. One keeps the threads' loads even; the interleaved
 * entropy decoder (several images in one loop) will take groups. */
#define FL_POOL_GROUP 1

void fl_decode_items(fl_decoder *d, const fl_recipe *r, const fl_item *items, int n,
                     const fl_batch_out *out, size_t first) {
  const size_t elements = fl_recipe_out_elements(r);
  for (int k = 0; k < n; k++) {
    const fl_item *it = &items[k];
    const size_t slot = first + (size_t)k;
    int16_t *o = out->out + slot * out->out_stride;
    int32_t *layout = out->layouts ? out->layouts + slot * FL_LAYOUT_INTS : NULL;
    char *msg = out->messages ? out->messages + slot * FL_MESSAGE_MAX : NULL;
    fl_status st;
    if (d == NULL) { /* a pool thread without a decoder: every item it takes fails */
      memset(o, 0, elements * sizeof(int16_t));
      if (layout) memset(layout, 0, FL_LAYOUT_INTS * sizeof(int32_t));
      st = FL_ERR_NOMEM;
      if (msg) snprintf(msg, FL_MESSAGE_MAX, "out of memory: no decoder for this thread");
    } else {
      if (r->output == FL_OUTPUT_PLANES && layout == NULL) {
        st = FL_ERR_ARGUMENT; /* planes need their layout: refused, never written past */
        memset(o, 0, elements * sizeof(int16_t));
        if (msg) snprintf(msg, FL_MESSAGE_MAX, "a planes recipe needs the layouts output");
        out->status[slot] = (int32_t)st;
        continue;
      }
      if (it->path) {
        int os_error = 0;
        st = fl_decode_file(d, it->path, it->offset, it->length, r, it->key, o, layout, NULL,
                            &os_error);
      } else {
        st = fl_decode_sample(d, it->data, it->size, r, it->key, o, layout, NULL);
      }
      if (msg) {
        if (st == FL_OK)
          msg[0] = '\0';
        else
          snprintf(msg, FL_MESSAGE_MAX, "%s", fl_decoder_message(d));
      }
    }
    out->status[slot] = (int32_t)st;
  }
}

/* ---- the pool ------------------------------------------------------------------------ */

struct fl_job {
  fl_recipe recipe;
  const fl_item *items;
  fl_batch_out out;
  int n;
  int next;      /* first item not yet taken */
  int finished;  /* items decoded */
  int cancelled; /* no more items are taken */
  int queued;    /* in the pool's queue (items left to take) */
  fl_job *queue_next;
  fl_pool *pool;
};

struct fl_pool {
  pthread_mutex_t lock;
  pthread_cond_t work; /* a job was queued, or the pool stops */
  pthread_cond_t done; /* items were finished */
  fl_job *head, *tail; /* jobs with items left to take, oldest first */
  int stop;
  int size;             /* threads asked for */
  int threads;          /* started, not yet joined */
  pthread_t *thread;
  fl_decoder *caller;   /* threads == 0: fl_job_wait's caller decodes with this one */
};

/* With the lock held: j leaves the queue (all its items taken, or cancelled). */
static void unqueue(fl_pool *p, fl_job *j) {
  fl_job **q = &p->head, *prev = NULL;
  if (!j->queued) return;
  while (*q && *q != j) {
    prev = *q;
    q = &(*q)->queue_next;
  }
  if (*q) {
    *q = j->queue_next;
    if (p->tail == j) p->tail = prev;
  }
  j->queued = 0;
  j->queue_next = NULL;
}

/* With the lock held: take up to `max` items of j (the oldest job with items left when
 * j is NULL). */
static fl_job *take(fl_pool *p, fl_job *j, int max, int *first, int *count) {
  if (j == NULL) j = p->head;
  if (j == NULL || j->cancelled || j->next == j->n) return NULL;
  *first = j->next;
  *count = j->n - j->next < max ? j->n - j->next : max;
  j->next += *count;
  if (j->next == j->n) unqueue(p, j);
  return j;
}

/* With the lock held: `count` items of j are done. */
static void finish(fl_pool *p, fl_job *j, int count) {
  j->finished += count;
  if (j->finished == j->next && (j->next == j->n || j->cancelled))
    pthread_cond_broadcast(&p->done);
}

static void *worker(void *arg) {
  fl_pool *p = (fl_pool *)arg;
  char message[FL_MESSAGE_MAX];
  fl_decoder *d = fl_decoder_new(message, sizeof message); /* NULL: its items fail */
  int first, count;
#ifdef __linux__
  pthread_setname_np(pthread_self(), "freqload-pool"); /* in top -H, gdb, py-spy */
#endif
  pthread_mutex_lock(&p->lock);
  for (;;) {
    fl_job *j;
    while (!p->stop && p->head == NULL) pthread_cond_wait(&p->work, &p->lock);
    if (p->stop) break;
    j = take(p, NULL, FL_POOL_GROUP, &first, &count);
    pthread_mutex_unlock(&p->lock);
    fl_decode_items(d, &j->recipe, j->items + first, count, &j->out, (size_t)first);
    pthread_mutex_lock(&p->lock);
    finish(p, j, count);
  }
  pthread_mutex_unlock(&p->lock);
  fl_decoder_free(d);
  return NULL;
}

fl_pool *fl_pool_new(int threads, char *message, size_t message_size) {
  fl_pool *p;
  if (threads < 0 || threads > FL_POOL_MAX_THREADS) {
    snprintf(message, message_size, "threads must be 0..%d, got %d", FL_POOL_MAX_THREADS,
             threads);
    return NULL;
  }
  p = (fl_pool *)calloc(1, sizeof *p);
  if (p == NULL) {
    snprintf(message, message_size, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->size = threads;
  if (threads == 0) {
    p->caller = fl_decoder_new(message, message_size);
    if (p->caller == NULL) {
      fl_pool_free(p);
      return NULL;
    }
    return p;
  }
  p->thread = (pthread_t *)calloc((size_t)threads, sizeof(pthread_t));
  if (p->thread == NULL) {
    snprintf(message, message_size, "out of memory");
    fl_pool_free(p);
    return NULL;
  }
  for (int i = 0; i < threads; i++) {
    int e = pthread_create(&p->thread[i], NULL, worker, p);
    if (e != 0) {
      snprintf(message, message_size, "cannot start thread %d of %d: %s", i + 1, threads,
               strerror(e));
      fl_pool_free(p);
      return NULL;
    }
    p->threads++;
  }
  return p;
}

int fl_pool_threads(const fl_pool *p) { return p->size; }

void fl_pool_stop(fl_pool *p) {
  int threads;
  if (p == NULL) return;
  pthread_mutex_lock(&p->lock);
  while (p->head) { /* nothing more is taken */
    p->head->cancelled = 1;
    unqueue(p, p->head);
  }
  p->stop = 1;
  threads = p->threads;
  p->threads = -1; /* joined below: never twice */
  pthread_cond_broadcast(&p->work);
  pthread_cond_broadcast(&p->done); /* cancelled jobs may be done now */
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < threads; i++) pthread_join(p->thread[i], NULL); /* items finish */
  pthread_mutex_lock(&p->lock);
  p->threads = 0;
  pthread_cond_broadcast(&p->done);
  pthread_mutex_unlock(&p->lock);
}

void fl_pool_free(fl_pool *p) {
  if (p == NULL) return;
  fl_pool_stop(p);
  free(p->thread);
  fl_decoder_free(p->caller);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

fl_job *fl_pool_submit(fl_pool *p, const fl_recipe *r, const fl_item *items, int n,
                       const fl_batch_out *out, char *message, size_t message_size) {
  fl_job *j;
  if (n < 0 || (n > 0 && (items == NULL || out == NULL || out->out == NULL ||
                          out->status == NULL))) {
    snprintf(message, message_size, "a job needs its items and the outputs they go to");
    return NULL;
  }
  j = (fl_job *)calloc(1, sizeof *j);
  if (j == NULL) {
    snprintf(message, message_size, "out of memory");
    return NULL;
  }
  j->recipe = *r;
  j->items = items;
  j->out = *out;
  j->n = n;
  j->pool = p;
  pthread_mutex_lock(&p->lock);
  if (n > 0 && !p->stop) {
    j->queued = 1;
    if (p->tail)
      p->tail->queue_next = j;
    else
      p->head = j;
    p->tail = j;
    pthread_cond_broadcast(&p->work);
  } else {
    j->cancelled = p->stop;
  }
  pthread_mutex_unlock(&p->lock);
  return j;
}

static int job_done(const fl_job *j) {
  return j->finished == j->next && (j->next == j->n || j->cancelled);
}

int fl_job_wait(fl_job *j, double timeout_s) {
  fl_pool *p = j->pool;
  int done;
  pthread_mutex_lock(&p->lock);
  if (p->size == 0) { /* no threads: the caller decodes this job's items itself (only
                          * this job's: an older one, abandoned, is not this caller's work) */
    int first, count;
    while (take(p, j, FL_POOL_GROUP, &first, &count)) {
      pthread_mutex_unlock(&p->lock);
      fl_decode_items(p->caller, &j->recipe, j->items + first, count, &j->out, (size_t)first);
      pthread_mutex_lock(&p->lock);
      finish(p, j, count);
    }
  }
  if (timeout_s < 0) {
    while (!job_done(j)) pthread_cond_wait(&p->done, &p->lock);
  } else if (!job_done(j)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while (!job_done(j))
      if (pthread_cond_timedwait(&p->done, &p->lock, &until) == ETIMEDOUT) break;
  }
  done = job_done(j);
  pthread_mutex_unlock(&p->lock);
  return done;
}

void fl_job_cancel(fl_job *j) {
  fl_pool *p = j->pool;
  pthread_mutex_lock(&p->lock);
  if (!j->cancelled && j->next < j->n) {
    j->cancelled = 1;
    unqueue(p, j);
    if (job_done(j)) pthread_cond_broadcast(&p->done);
  }
  pthread_mutex_unlock(&p->lock);
}

int fl_job_taken(const fl_job *j) {
  fl_pool *p = j->pool;
  int taken;
  pthread_mutex_lock(&p->lock);
  taken = j->next;
  pthread_mutex_unlock(&p->lock);
  return taken;
}

void fl_job_free(fl_job *j) {
  if (j == NULL) return;
  fl_job_cancel(j);
  fl_job_wait(j, -1); /* the items already taken finish: their outputs stay the caller's */
  free(j);
}
