/*
 * freqload._core.Pool and Job: the Python front of the core's thread pool (fl_batch.c).
 *
 *   pool = Pool(threads)
 *   job = pool.submit(recipe, blob, starts, lengths, files, keys, out, status,
 *                     layouts=None, messages=None, ranges=None, paths=True)
 *   job.wait()        # GIL released; Ctrl-C interrupts it (the job keeps running)
 *
 * Submitting builds the batch's items in C from numpy arrays (no Python object per sample)
 * and holds every buffer the threads write into until the job is freed, so a job dropped
 * while its items are decoded cannot have its memory freed under the threads: freeing a
 * Job cancels what is not yet taken and waits for what is. A pool made before a fork is
 * never used or freed in the child (its threads are not there): the child must make its
 * own.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/fl_core.h"
#include "fl_pool_type.h"

typedef struct {
  PyObject_HEAD
  fl_pool *pool;
  pid_t pid;   /* the process that made it */
  int closed;
  PyObject *weakrefs; /* the engine keeps open pools in a WeakSet (closed at exit) */
} PoolObject;

typedef struct {
  PyObject_HEAD
  PoolObject *owner;
  fl_job *job;
  fl_item *items;
  char *paths;  /* the items' NUL-terminated paths */
  Py_buffer bufs[5]; /* blob (bytes items), out, status, layouts, messages */
  int held[5];
  Py_ssize_t n;
} JobObject;

static PyTypeObject PoolType, JobType;

static int in_forked_child(PoolObject *p) {
  if (p->pid != getpid()) {
    PyErr_SetString(PyExc_RuntimeError,
                    "a freqload native pool made before a fork cannot be used in the child "
                    "(its threads are not there); make the loader in the child");
    return 1;
  }
  return 0;
}

static int Pool_init(PoolObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"threads", NULL};
  int threads;
  char message[FL_MESSAGE_MAX];
  fl_pool *p;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "i:Pool", names, &threads)) return -1;
  if (self->pool) {
    PyErr_SetString(PyExc_RuntimeError, "Pool already initialised");
    return -1;
  }
  Py_BEGIN_ALLOW_THREADS
  p = fl_pool_new(threads, message, sizeof message);
  Py_END_ALLOW_THREADS
  if (p == NULL) {
    PyErr_SetString(threads < 0 || threads > FL_POOL_MAX_THREADS ? PyExc_ValueError
                                                                : PyExc_RuntimeError,
                    message);
    return -1;
  }
  self->pool = p;
  self->pid = getpid();
  return 0;
}

static void Pool_dealloc(PoolObject *self) {
  if (self->weakrefs) PyObject_ClearWeakRefs((PyObject *)self);
  if (self->pool && self->pid == getpid()) {
    Py_BEGIN_ALLOW_THREADS
    fl_pool_free(self->pool);
    Py_END_ALLOW_THREADS
  } /* in a forked child the pool is left alone: its lock may be held by a thread that
     * is not there */
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* close(): no more jobs; the threads finish the items they hold and are joined. Jobs
 * still alive can be waited for (cancelled items stay unwritten) and freed. */
static PyObject *Pool_close(PoolObject *self, PyObject *unused) {
  if (self->pool && !self->closed && !in_forked_child(self)) {
    self->closed = 1;
    Py_BEGIN_ALLOW_THREADS
    fl_pool_stop(self->pool);
    Py_END_ALLOW_THREADS
  }
  if (PyErr_Occurred()) return NULL;
  Py_RETURN_NONE;
}

static int get_array(PyObject *obj, Py_buffer *b, int flags, Py_ssize_t itemsize,
                     Py_ssize_t at_least, const char *name) {
  if (PyObject_GetBuffer(obj, b, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return 0;
  if (b->itemsize != itemsize || b->len / itemsize < at_least) {
    PyErr_Format(PyExc_ValueError, "%s: %zd-byte items, at least %zd of them expected "
                 "(got %zd-byte items, %zd)", name, itemsize, at_least, b->itemsize,
                 b->len / (b->itemsize ? b->itemsize : 1));
    PyBuffer_Release(b);
    return 0;
  }
  return 1;
}

static void Job_release(JobObject *self) {
  if (self->job) {
    fl_job *j = self->job;
    self->job = NULL;
    Py_BEGIN_ALLOW_THREADS
    fl_job_free(j); /* cancels, and waits for the items being decoded */
    Py_END_ALLOW_THREADS
  }
  for (int i = 0; i < 5; i++)
    if (self->held[i]) {
      PyBuffer_Release(&self->bufs[i]);
      self->held[i] = 0;
    }
  free(self->items);
  self->items = NULL;
  free(self->paths);
  self->paths = NULL;
}

/* submit(recipe, blob, starts, lengths, files, keys, out, status, layouts=None,
 *        messages=None, ranges=None, paths=True) -> Job
 * Sample k reads entry files[k] of the (starts, lengths) table over blob: with paths, a
 * file path (ranges[k] = (offset, length) of it, or the whole file), else the encoded bytes
 * themselves (blob must stay unchanged until the job is freed). keys: uint64 [n]. out:
 * int16, n * recipe_out_elements (slot k at k * that); status int32 [n]; layouts int32 [n,
 * LAYOUT_INTS] for a planes recipe; messages uint8 [n, MESSAGE_MAX]. */
static PyObject *Pool_submit(PoolObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"recipe", "blob", "starts", "lengths", "files", "keys", "out",
                          "status", "layouts", "messages", "ranges", "paths", NULL};
  Py_buffer rb, starts, lengths, files, keys, ranges;
  int have_starts = 0, have_lengths = 0, have_files = 0, have_keys = 0, have_ranges = 0;
  PyObject *blob_o, *starts_o, *lengths_o, *files_o, *keys_o, *out_o, *status_o;
  PyObject *layouts_o = Py_None, *messages_o = Py_None, *ranges_o = Py_None;
  int paths = 1;
  fl_recipe r;
  char message[FL_MESSAGE_MAX];
  JobObject *job = NULL;
  PyObject *result = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "y*OOOOOOO|OOOp:submit", names, &rb, &blob_o,
                                   &starts_o, &lengths_o, &files_o, &keys_o, &out_o,
                                   &status_o, &layouts_o, &messages_o, &ranges_o, &paths))
    return NULL;
  if (in_forked_child(self)) goto done;
  if (self->closed || !self->pool) {
    PyErr_SetString(PyExc_RuntimeError, "the pool is closed");
    goto done;
  }
  if (fl_recipe_unpack((const uint8_t *)rb.buf, (size_t)rb.len, &r, message, sizeof message) !=
      FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
    goto done;
  }
  if (!(have_files = get_array(files_o, &files, PyBUF_SIMPLE, 8, 0, "files"))) goto done;
  const Py_ssize_t n = files.len / 8;
  const size_t stride = fl_recipe_out_elements(&r);
  if (!(have_starts = get_array(starts_o, &starts, PyBUF_SIMPLE, 8, 0, "starts")) ||
      !(have_lengths = get_array(lengths_o, &lengths, PyBUF_SIMPLE, 8, starts.len / 8,
                                 "lengths")) ||
      !(have_keys = get_array(keys_o, &keys, PyBUF_SIMPLE, 8, n, "keys")))
    goto done;
  if (ranges_o != Py_None && !(have_ranges = get_array(ranges_o, &ranges, PyBUF_SIMPLE, 8,
                                                       2 * n, "ranges")))
    goto done;
  job = PyObject_New(JobObject, &JobType);
  if (job == NULL) goto done;
  job->owner = NULL;
  job->job = NULL;
  job->items = NULL;
  job->paths = NULL;
  job->n = n;
  memset(job->held, 0, sizeof job->held);
  if (!(job->held[0] = get_array(blob_o, &job->bufs[0], PyBUF_SIMPLE, 1, 0, "blob")) ||
      !(job->held[1] = get_array(out_o, &job->bufs[1], PyBUF_WRITABLE, 2,
                                 (Py_ssize_t)stride * n, "out")) ||
      !(job->held[2] = get_array(status_o, &job->bufs[2], PyBUF_WRITABLE, 4, n, "status")))
    goto done;
  if (r.output == FL_OUTPUT_PLANES) {
    if (layouts_o == Py_None) {
      PyErr_SetString(PyExc_ValueError, "a planes recipe needs layouts (int32 [n, LAYOUT_INTS])");
      goto done;
    }
    if (!(job->held[3] = get_array(layouts_o, &job->bufs[3], PyBUF_WRITABLE, 4,
                                   n * FL_LAYOUT_INTS, "layouts")))
      goto done;
  }
  if (messages_o != Py_None &&
      !(job->held[4] = get_array(messages_o, &job->bufs[4], PyBUF_WRITABLE, 1,
                                 n * FL_MESSAGE_MAX, "messages")))
    goto done;
  {
    const int64_t *st = (const int64_t *)starts.buf, *len = (const int64_t *)lengths.buf;
    const int64_t *fi = (const int64_t *)files.buf;
    const int64_t *rg = have_ranges ? (const int64_t *)ranges.buf : NULL;
    const uint64_t *ky = (const uint64_t *)keys.buf;
    const uint8_t *blob = (const uint8_t *)job->bufs[0].buf;
    const Py_ssize_t entries = starts.len / 8, blob_len = job->bufs[0].len;
    size_t chars = 0;
    for (Py_ssize_t k = 0; k < n; k++) { /* every entry checked before anything is made */
      int64_t e = fi[k];
      if (e < 0 || e >= entries || st[e] < 0 || len[e] < 0 || st[e] > blob_len ||
          len[e] > blob_len - st[e]) {
        PyErr_Format(PyExc_ValueError, "sample %zd: entry %lld is not in the blob's table", k,
                     (long long)e);
        goto done;
      }
      chars += (size_t)len[e] + 1;
    }
    job->items = (fl_item *)calloc(n ? (size_t)n : 1, sizeof(fl_item));
    job->paths = paths ? (char *)malloc(chars ? chars : 1) : NULL;
    if (!job->items || (paths && !job->paths)) {
      PyErr_NoMemory();
      goto done;
    }
    char *at = job->paths;
    for (Py_ssize_t k = 0; k < n; k++) {
      const int64_t e = fi[k];
      fl_item *it = &job->items[k];
      it->key = ky[k];
      if (paths) {
        memcpy(at, blob + st[e], (size_t)len[e]);
        at[len[e]] = '\0';
        if (memchr(at, '\0', (size_t)len[e])) {
          PyErr_Format(PyExc_ValueError, "sample %zd: a path holds a NUL byte", k);
          goto done;
        }
        it->path = at;
        at += len[e] + 1;
        it->offset = rg ? rg[2 * k] : 0;
        it->length = rg ? rg[2 * k + 1] : -1;
      } else {
        it->data = blob + st[e];
        it->size = (size_t)len[e];
      }
    }
  }
  {
    fl_batch_out o = {(int16_t *)job->bufs[1].buf, stride, (int32_t *)job->bufs[2].buf,
                      job->held[3] ? (int32_t *)job->bufs[3].buf : NULL,
                      job->held[4] ? (char *)job->bufs[4].buf : NULL};
    job->job = fl_pool_submit(self->pool, &r, job->items, (int)n, &o, message, sizeof message);
    if (job->job == NULL) {
      PyErr_SetString(PyExc_ValueError, message);
      goto done;
    }
  }
  Py_INCREF(self);
  job->owner = self;
  result = (PyObject *)job;
  job = NULL;
done:
  if (job) Py_DECREF(job);
  PyBuffer_Release(&rb);
  if (have_starts) PyBuffer_Release(&starts);
  if (have_lengths) PyBuffer_Release(&lengths);
  if (have_files) PyBuffer_Release(&files);
  if (have_keys) PyBuffer_Release(&keys);
  if (have_ranges) PyBuffer_Release(&ranges);
  return result;
}

static PyObject *Pool_get_threads(PoolObject *self, void *closure) {
  return PyLong_FromLong(self->pool ? fl_pool_threads(self->pool) : 0);
}

static PyObject *Pool_get_closed(PoolObject *self, void *closure) {
  return PyBool_FromLong(self->closed);
}

static PyMethodDef Pool_methods[] = {
    {"submit", (PyCFunction)(void (*)(void))Pool_submit, METH_VARARGS | METH_KEYWORDS,
     "submit(recipe, blob, starts, lengths, files, keys, out, status, layouts=None, "
     "messages=None, ranges=None, paths=True) -> Job: a batch for the pool's threads"},
    {"close", (PyCFunction)Pool_close, METH_NOARGS,
     "close(): no more jobs; the threads finish the items they hold and are joined"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Pool_getset[] = {
    {"threads", (getter)Pool_get_threads, NULL, "threads asked for (0: the waiter decodes)",
     NULL},
    {"closed", (getter)Pool_get_closed, NULL, "close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PoolType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "freqload._core.Pool",
    .tp_basicsize = sizeof(PoolObject),
    .tp_weaklistoffset = offsetof(PoolObject, weakrefs),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pool(threads): the core's own decoding threads (fl_pool).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Pool_init,
    .tp_dealloc = (destructor)Pool_dealloc,
    .tp_methods = Pool_methods,
    .tp_getset = Pool_getset,
};

/* ---- Job ------------------------------------------------------------------------------ */

static int job_alive(JobObject *self) {
  if (self->job == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "the job was released");
    return 0;
  }
  return !in_forked_child(self->owner);
}

/* wait(timeout=None) -> bool: True when every item is decoded (cancelled: every item
 * taken is). Waits with the GIL released, in slices, so that a signal (Ctrl-C) raises
 * here; the job itself goes on until cancelled or freed. */
static PyObject *Job_wait(JobObject *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"timeout", NULL};
  PyObject *timeout_o = Py_None;
  double timeout = -1, waited = 0;
  int done = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:wait", names, &timeout_o)) return NULL;
  if (timeout_o != Py_None) {
    timeout = PyFloat_AsDouble(timeout_o);
    if (timeout == -1 && PyErr_Occurred()) return NULL;
    if (timeout < 0) timeout = 0;
  }
  if (!job_alive(self)) return NULL;
  for (;;) {
    double slice = 0.1;
    if (timeout >= 0 && timeout - waited < slice) slice = timeout - waited;
    Py_BEGIN_ALLOW_THREADS
    done = fl_job_wait(self->job, slice);
    Py_END_ALLOW_THREADS
    waited += slice;
    if (done || (timeout >= 0 && waited >= timeout)) break;
    if (PyErr_CheckSignals() < 0) return NULL;
  }
  return PyBool_FromLong(done);
}

static PyObject *Job_cancel(JobObject *self, PyObject *unused) {
  if (!job_alive(self)) return NULL;
  fl_job_cancel(self->job); /* brief: takes the pool's lock only */
  Py_RETURN_NONE;
}

/* release(): cancel, wait for the items being decoded, let go of the buffers. */
static PyObject *Job_release_method(JobObject *self, PyObject *unused) {
  if (self->job && in_forked_child(self->owner)) return NULL;
  Job_release(self);
  Py_RETURN_NONE;
}

static PyObject *Job_get_taken(JobObject *self, void *closure) {
  if (!job_alive(self)) return NULL;
  return PyLong_FromLong(fl_job_taken(self->job));
}

static PyObject *Job_get_size(JobObject *self, void *closure) {
  return PyLong_FromSsize_t(self->n);
}

static void Job_dealloc(JobObject *self) {
  if (self->owner && self->owner->pid != getpid()) {
    /* a forked child: the threads writing into these buffers are not here; leak the
     * C job rather than wait on a lock no thread will release */
    self->job = NULL;
  }
  Job_release(self);
  Py_XDECREF(self->owner);
  PyObject_Free(self);
}

static PyMethodDef Job_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))Job_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: every item decoded"},
    {"cancel", (PyCFunction)Job_cancel, METH_NOARGS,
     "cancel(): no more items are taken; those being decoded finish"},
    {"release", (PyCFunction)Job_release_method, METH_NOARGS,
     "release(): cancel, wait for the items being decoded, let go of the buffers"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Job_getset[] = {
    {"taken", (getter)Job_get_taken, NULL, "items taken by the threads so far", NULL},
    {"size", (getter)Job_get_size, NULL, "items in the job", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject JobType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "freqload._core.Job",
    .tp_basicsize = sizeof(JobObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A batch submitted to a Pool (Pool.submit).",
    .tp_dealloc = (destructor)Job_dealloc,
    .tp_methods = Job_methods,
    .tp_getset = Job_getset,
};

int fl_add_pool_types(PyObject *m) {
  if (PyType_Ready(&PoolType) < 0 || PyType_Ready(&JobType) < 0) return -1;
  Py_INCREF(&PoolType);
  if (PyModule_AddObject(m, "Pool", (PyObject *)&PoolType) < 0) {
    Py_DECREF(&PoolType);
    return -1;
  }
  Py_INCREF(&JobType);
  if (PyModule_AddObject(m, "Job", (PyObject *)&JobType) < 0) {
    Py_DECREF(&JobType);
    return -1;
  }
  PyModule_AddIntConstant(m, "MESSAGE_MAX", FL_MESSAGE_MAX);
  PyModule_AddIntConstant(m, "POOL_MAX_THREADS", FL_POOL_MAX_THREADS);
  return 0;
}
