/*
 * freqload._core: the Python front over the native core (../core).
 *
 * Thin by design: it checks buffers, releases the GIL around every call into
 * the core, and turns fl_status codes into freqload.errors exceptions. Shapes
 * and policy live in freqload/coefficients.py and freqload/channels.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fl_core.h"
#include "fl_pool_type.h"

static PyObject *DecodeError, *UnsupportedImageError, *ImageTooLargeError,
    *FreqloadError;

static PyObject *raise_status(fl_status st, const char *message) {
  PyObject *cls;
  switch (st) {
  case FL_ERR_DECODE: cls = DecodeError; break;
  case FL_ERR_UNSUPPORTED: cls = UnsupportedImageError; break;
  case FL_ERR_TOO_LARGE: cls = ImageTooLargeError; break;
  case FL_ERR_NOMEM: return PyErr_NoMemory();
  case FL_ERR_ARGUMENT: cls = PyExc_ValueError; break;
  default: cls = FreqloadError;
  }
  PyErr_SetString(cls, message);
  return NULL;
}

/* ---- recipes ------------------------------------------------------------ */

/* A packed recipe (pack_recipe's bytes) -> r; 0 with a ValueError set when it is not one. */
static int recipe_arg(const Py_buffer *b, fl_recipe *r) {
  char message[FL_MESSAGE_MAX];
  if (fl_recipe_unpack((const uint8_t *)b->buf, (size_t)b->len, r, message, sizeof message) !=
      FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
    return 0;
  }
  return 1;
}

/* pack_recipe(component, coef, size, dequantize, chroma, transform, output, max_pixels, strict,
 *             max_file_size, max_scans, max_memory, partial_decode, orient=False,
 *             augment=(kind, num_ops, magnitude, num_bins, op, value),
 *             jitter=(active, lo, hi x brightness, contrast, saturation, hue, gray_p)) -> bytes:
 * the one place Python's settings become an fl_recipe; checked by fl_recipe_check. */
static PyObject *py_pack_recipe(PyObject *mod, PyObject *args, PyObject *kw) {
  static char *names[] = {"component", "coef", "size", "dequantize", "chroma", "transform",
                          "output", "max_pixels", "strict", "max_file_size", "max_scans",
                          "max_memory", "partial_decode", "orient", "augment", "jitter", NULL};
  Py_buffer comp, coef;
  fl_recipe r;
  fl_transform *t = &r.transform;
  fl_policy *a = &r.augment;
  fl_jitter *j = &r.jitter;
  unsigned long long max_pixels, max_file_size, max_memory;
  uint8_t packed[FL_RECIPE_PACKED_MAX];
  char message[FL_MESSAGE_MAX];
  PyObject *result = NULL;
  memset(&r, 0, sizeof r);
  if (!PyArg_ParseTupleAndKeywords(args, kw,
                                   "y*y*(ii)pi(idddddd)iKpKiKp|p(iiiiid)(iddddddddd):pack_recipe",
                                   names,
                                   &comp, &coef, &r.out_h, &r.out_w, &r.dequantize, &r.chroma,
                                   &t->kind, &t->scale_min, &t->scale_max, &t->ratio_min,
                                   &t->ratio_max, &t->flip_p, &t->crop_ratio, &r.output,
                                   &max_pixels, &r.options.strict, &max_file_size,
                                   &r.options.max_scans, &max_memory, &r.options.partial_decode,
                                   &r.orient, &a->kind, &a->num_ops, &a->magnitude,
                                   &a->num_bins, &a->op, &a->value, &j->active, &j->lo[0],
                                   &j->hi[0], &j->lo[1], &j->hi[1], &j->lo[2], &j->hi[2],
                                   &j->lo[3], &j->hi[3], &j->gray_p))
    return NULL;
  if (comp.len != coef.len || comp.len < 1 || comp.len > FL_MAX_CHANNELS) {
    PyErr_Format(PyExc_ValueError, "the mask must select 1..%d channels", FL_MAX_CHANNELS);
  } else {
    r.count = (int)comp.len;
    memcpy(r.component, comp.buf, (size_t)comp.len);
    memcpy(r.coef, coef.buf, (size_t)coef.len);
    r.options.max_pixels = max_pixels;
    r.options.max_file_size = max_file_size;
    r.options.max_memory = max_memory;
    r.options.require_coefficients = 1;
    if (fl_recipe_check(&r, message, sizeof message) != FL_OK)
      PyErr_SetString(PyExc_ValueError, message);
    else
      result = PyBytes_FromStringAndSize((const char *)packed,
                                         (Py_ssize_t)fl_recipe_pack(&r, packed));
  }
  PyBuffer_Release(&comp);
  PyBuffer_Release(&coef);
  return result;
}

/* unpack_recipe(packed) -> dict of pack_recipe's arguments (checked) */
static PyObject *py_unpack_recipe(PyObject *mod, PyObject *args) {
  Py_buffer b;
  fl_recipe r;
  const fl_transform *t = &r.transform;
  int ok;
  if (!PyArg_ParseTuple(args, "y*:unpack_recipe", &b)) return NULL;
  ok = recipe_arg(&b, &r);
  PyBuffer_Release(&b);
  if (!ok) return NULL;
  return Py_BuildValue(
      "{s:y#,s:y#,s:(ii),s:N,s:i,s:(idddddd),s:i,s:K,s:N,s:K,s:i,s:K,s:N,s:N,s:(iiiiid),"
      "s:(iddddddddd)}",
      "component",
      (const char *)r.component, (Py_ssize_t)r.count, "coef", (const char *)r.coef,
      (Py_ssize_t)r.count, "size", r.out_h, r.out_w, "dequantize", PyBool_FromLong(r.dequantize),
      "chroma", r.chroma, "transform", t->kind, t->scale_min, t->scale_max, t->ratio_min,
      t->ratio_max, t->flip_p, t->crop_ratio, "output", r.output, "max_pixels",
      (unsigned long long)r.options.max_pixels, "strict", PyBool_FromLong(r.options.strict),
      "max_file_size", (unsigned long long)r.options.max_file_size, "max_scans",
      r.options.max_scans, "max_memory", (unsigned long long)r.options.max_memory,
      "partial_decode", PyBool_FromLong(r.options.partial_decode), "orient",
      PyBool_FromLong(r.orient), "augment", r.augment.kind, r.augment.num_ops,
      r.augment.magnitude, r.augment.num_bins, r.augment.op, r.augment.value, "jitter",
      r.jitter.active, r.jitter.lo[0], r.jitter.hi[0], r.jitter.lo[1], r.jitter.hi[1],
      r.jitter.lo[2], r.jitter.hi[2], r.jitter.lo[3], r.jitter.hi[3], r.jitter.gray_p);
}

/* recipe_out_elements(packed) -> int16 elements one sample's output takes */
static PyObject *py_recipe_out_elements(PyObject *mod, PyObject *args) {
  Py_buffer b;
  fl_recipe r;
  int ok;
  if (!PyArg_ParseTuple(args, "y*:recipe_out_elements", &b)) return NULL;
  ok = recipe_arg(&b, &r);
  PyBuffer_Release(&b);
  if (!ok) return NULL;
  return PyLong_FromSize_t(fl_recipe_out_elements(&r));
}

/* check_transform((kind, smin, smax, rmin, rmax, flip_p, crop_ratio)): ValueError or None */
static PyObject *py_check_transform(PyObject *mod, PyObject *args) {
  fl_transform t;
  char message[FL_MESSAGE_MAX];
  if (!PyArg_ParseTuple(args, "(idddddd):check_transform", &t.kind, &t.scale_min, &t.scale_max,
                        &t.ratio_min, &t.ratio_max, &t.flip_p, &t.crop_ratio))
    return NULL;
  if (fl_transform_check(&t, message, sizeof message) != FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
  }
  Py_RETURN_NONE;
}

/* ---- Decoder ------------------------------------------------------------ */

typedef struct {
  PyObject_HEAD
  fl_decoder *dec;
  Py_buffer data; /* held from begin() to fill()/end() */
  int holding;
  int busy;
} DecoderObject;

static void release_data(DecoderObject *self) {
  if (self->holding) {
    PyBuffer_Release(&self->data);
    self->holding = 0;
  }
}

static int Decoder_init(DecoderObject *self, PyObject *args, PyObject *kw) {
  char message[FL_MESSAGE_MAX];
  if (!PyArg_ParseTuple(args, ":Decoder")) return -1;
  if (self->dec != NULL) return 0;
  self->dec = fl_decoder_new(message, sizeof message);
  if (self->dec == NULL) {
    PyErr_SetString(PyExc_RuntimeError, message);
    return -1;
  }
  return 0;
}

static void Decoder_dealloc(DecoderObject *self) {
  if (self->dec) {
    fl_end(self->dec);
    fl_decoder_free(self->dec);
  }
  release_data(self);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int enter(DecoderObject *self) {
  if (self->dec == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "Decoder not initialised");
    return -1;
  }
  if (self->busy) {
    PyErr_SetString(PyExc_RuntimeError,
                    "a Decoder is in use by another thread (use one per thread)");
    return -1;
  }
  self->busy = 1;
  return 0;
}

static PyObject *info_tuple(const fl_info *info) {
  PyObject *comps = PyTuple_New(info->num_components < FL_MAX_COMPONENTS
                                    ? info->num_components
                                    : FL_MAX_COMPONENTS);
  PyObject *quant = PyTuple_New(4);
  int i;
  if (comps == NULL || quant == NULL) goto fail;
  for (i = 0; i < PyTuple_GET_SIZE(comps); i++) {
    const fl_component *c = &info->comp[i];
    PyObject *t = Py_BuildValue("(iiiiiiii)", c->id, c->h_samp, c->v_samp,
                                c->quant_index, c->blocks_h, c->blocks_w,
                                c->alloc_blocks_h, c->alloc_blocks_w);
    if (t == NULL) goto fail;
    PyTuple_SET_ITEM(comps, i, t);
  }
  for (i = 0; i < 4; i++) {
    PyObject *q;
    if (info->quant_defined[i]) {
      q = PyBytes_FromStringAndSize((const char *)info->quant[i], sizeof info->quant[i]);
      if (q == NULL) goto fail;
    } else {
      q = Py_NewRef(Py_None);
    }
    PyTuple_SET_ITEM(quant, i, q);
  }
  return Py_BuildValue("(iiiiiiiiiiiiNNiii)", info->width, info->height,
                       info->num_components, info->color_space,
                       info->adobe_transform, info->jfif, info->precision,
                       info->progressive, info->arithmetic,
                       info->restart_interval, info->max_h_samp,
                       info->max_v_samp, comps, quant, info->partial_decodable,
                       info->orientation, info->exif_warning);
fail:
  Py_XDECREF(comps);
  Py_XDECREF(quant);
  return NULL;
}

/* begin(data, max_pixels, strict, require_coefficients) -> info tuple.
 * With require_coefficients the image stays open (and `data` held) for fill(). */
static PyObject *Decoder_begin(DecoderObject *self, PyObject *args) {
  PyObject *obj;
  unsigned long long max_pixels = 0;
  int strict = 1, require = 1;
  fl_options opts;
  fl_info info;
  fl_status st;
  unsigned long long max_file_size = 0, max_memory = 0;
  int max_scans = 0;
  if (!PyArg_ParseTuple(args, "OKpp|(KiK):begin", &obj, &max_pixels, &strict, &require,
                        &max_file_size, &max_scans, &max_memory))
    return NULL;
  memset(&opts, 0, sizeof opts);
  opts.max_file_size = max_file_size;
  opts.max_scans = max_scans;
  opts.max_memory = max_memory;
  if (enter(self) < 0) return NULL;
  fl_end(self->dec);
  release_data(self);
  if (PyObject_GetBuffer(obj, &self->data, PyBUF_SIMPLE) < 0) {
    self->busy = 0;
    return NULL;
  }
  self->holding = 1;
  opts.max_pixels = max_pixels;
  opts.strict = strict;
  opts.require_coefficients = require;
  Py_BEGIN_ALLOW_THREADS
  st = fl_begin(self->dec, (const uint8_t *)self->data.buf, (size_t)self->data.len,
                &opts, &info);
  if (st == FL_OK && !require) fl_end(self->dec);
  Py_END_ALLOW_THREADS
  self->busy = 0;
  if (st != FL_OK || !require) release_data(self);
  if (st != FL_OK) return raise_status(st, fl_decoder_message(self->dec));
  return info_tuple(&info);
}

static int plane_from_buffer(Py_buffer *b, fl_plane *p, int index) {
  if (b->ndim != 3 || b->itemsize != 2 || b->shape[2] != 64 ||
      b->strides[2] != 2 || b->strides[1] != 128 || b->strides[0] % 2 != 0 ||
      b->strides[0] < b->shape[1] * 128 ||
      (b->format && strcmp(b->format, "h") != 0 && strcmp(b->format, "<h") != 0 &&
       strcmp(b->format, "=h") != 0)) {
    PyErr_Format(PyExc_ValueError,
                 "plane %d must be a writable int16 array [rows, cols, 64] with "
                 "contiguous blocks", index);
    return -1;
  }
  p->data = (int16_t *)b->buf;
  p->rows = (int)b->shape[0];
  p->cols = (int)b->shape[1];
  p->row_stride = b->strides[0] / 2;
  return 0;
}

/* fill(planes) -> (quant bytes per component, warning count, first warning) */
static PyObject *Decoder_fill(DecoderObject *self, PyObject *args) {
  PyObject *seq, *fast = NULL, *quant_list = NULL, *result = NULL;
  Py_buffer views[FL_MAX_COMPONENTS];
  fl_plane planes[FL_MAX_COMPONENTS];
  uint16_t quant[FL_MAX_COMPONENTS][64];
  Py_ssize_t n, i, got = 0;
  fl_status st;
  if (!PyArg_ParseTuple(args, "O:fill", &seq)) return NULL;
  if (enter(self) < 0) return NULL;
  if (!self->holding) {
    self->busy = 0;
    PyErr_SetString(PyExc_RuntimeError, "fill() without a successful begin()");
    return NULL;
  }
  fast = PySequence_Fast(seq, "planes must be a sequence");
  if (fast == NULL) goto done;
  n = PySequence_Fast_GET_SIZE(fast);
  if (n > FL_MAX_COMPONENTS) {
    PyErr_SetString(PyExc_ValueError, "too many planes");
    goto done;
  }
  for (i = 0; i < n; i++) {
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &views[i],
                           PyBUF_RECORDS) < 0)
      goto done;
    got++;
    if (plane_from_buffer(&views[i], &planes[i], (int)i) < 0) goto done;
  }
  Py_BEGIN_ALLOW_THREADS
  st = fl_read_coefficients(self->dec, planes, (int)n, quant);
  Py_END_ALLOW_THREADS
  if (st != FL_OK) {
    raise_status(st, fl_decoder_message(self->dec));
    goto done;
  }
  quant_list = PyTuple_New(n);
  if (quant_list == NULL) goto done;
  for (i = 0; i < n; i++) {
    PyObject *q = PyBytes_FromStringAndSize((const char *)quant[i], sizeof quant[i]);
    if (q == NULL) goto done;
    PyTuple_SET_ITEM(quant_list, i, q);
  }
  result = Py_BuildValue("(Ois)", quant_list, fl_decoder_warnings(self->dec),
                         fl_decoder_warning(self->dec));
done:
  for (i = 0; i < got; i++) PyBuffer_Release(&views[i]);
  Py_XDECREF(fast);
  Py_XDECREF(quant_list);
  if (result == NULL) fl_end(self->dec);
  release_data(self);
  self->busy = 0;
  return result;
}

static PyObject *Decoder_end(DecoderObject *self, PyObject *unused) {
  if (self->dec && !self->busy) {
    fl_end(self->dec);
    release_data(self);
  }
  Py_RETURN_NONE;
}

/* out: a writable C-contiguous int16 [C, H, W] array; on failure *out is released */
static int out_buffer(PyObject *obj, Py_buffer *out, int *count, int *h, int *w) {
  if (PyObject_GetBuffer(obj, out, PyBUF_CONTIG | PyBUF_FORMAT) < 0) return -1;
  if (out->format && strcmp(out->format, "h") != 0 && strcmp(out->format, "<h") != 0 &&
      strcmp(out->format, "=h") != 0) {
    PyBuffer_Release(out);
    PyErr_SetString(PyExc_ValueError, "out must be int16");
    return -1;
  }
  if (out->ndim != 3 || out->itemsize != 2 || !PyBuffer_IsContiguous(out, 'C') ||
      out->readonly) {
    PyBuffer_Release(out);
    PyErr_SetString(PyExc_ValueError, "out must be a writable C-contiguous int16 [C, H, W] array");
    return -1;
  }
  *count = (int)out->shape[0];
  *h = (int)out->shape[1];
  *w = (int)out->shape[2];
  return 0;
}

/* ---- decode: JPEG bytes -> one sample by a recipe -------------------------- */

/* A writable C-contiguous buffer of `elements` items of `itemsize` bytes (exactly, or at
 * least when !exact); 0 with a ValueError naming `what` otherwise (nothing held then). */
static int out_arg(PyObject *obj, Py_buffer *b, size_t elements, int itemsize, int exact,
                   const char *what) {
  if (PyObject_GetBuffer(obj, b, PyBUF_CONTIG) < 0) return 0;
  if (b->itemsize != itemsize ||
      (exact ? (size_t)b->len != elements * (size_t)itemsize
             : (size_t)b->len < elements * (size_t)itemsize)) {
    PyErr_Format(PyExc_ValueError, "%s must be a writable C-contiguous %s buffer of %s%zu items",
                 what, itemsize == 2 ? "int16" : "int32", exact ? "" : "at least ", elements);
    PyBuffer_Release(b);
    return 0;
  }
  return 1;
}

/* A failed fl_read_file / fl_decode_file as a Python error: OSError with the errno and
 * the path when the file could not be read, the status's error otherwise. */
static PyObject *raise_file_status(fl_status st, int os_error, PyObject *path,
                                   const char *message) {
  if (st == FL_ERR_UNREADABLE && os_error) {
    errno = os_error;
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
  }
  if (st == FL_ERR_UNREADABLE) {
    PyErr_SetString(PyExc_OSError, message);
    return NULL;
  }
  return raise_status(st, message);
}

/* What decode and decode_file share: check the recipe and the buffers, then one
 * fl_decode_sample (bytes: (warnings, first warning, width, height), or the error raised)
 * or fl_decode_file (path: the sample's outcome as the DALI operator reports it, (status,
 * message), nothing raised for the file) on this thread's decoder, GIL released. */
static PyObject *run_decode(DecoderObject *self, const Py_buffer *data, PyObject *path,
                            long long offset, long long length, const Py_buffer *rb,
                            unsigned long long key, PyObject *out_obj, PyObject *layout_obj) {
  Py_buffer out, layout;
  PyObject *result = NULL;
  fl_recipe r;
  fl_info info;
  fl_status st;
  int have_out = 0, have_layout = 0, os_error;
  if (!recipe_arg(rb, &r)) goto done;
  if (!(have_out = out_arg(out_obj, &out, fl_recipe_out_elements(&r), 2,
                           r.output == FL_OUTPUT_CHANNELS, "out")))
    goto done;
  if (r.output == FL_OUTPUT_PLANES) {
    if (layout_obj == Py_None) {
      PyErr_SetString(PyExc_ValueError, "a planes recipe needs layout (int32 [LAYOUT_INTS])");
      goto done;
    }
    if (!(have_layout = out_arg(layout_obj, &layout, FL_LAYOUT_INTS, 4, 1, "layout"))) goto done;
  }
  if (enter(self) < 0) goto done;
  fl_end(self->dec);
  release_data(self);
  Py_BEGIN_ALLOW_THREADS
  if (path)
    st = fl_decode_file(self->dec, PyBytes_AS_STRING(path), (int64_t)offset, (int64_t)length,
                        &r, (uint64_t)key, (int16_t *)out.buf,
                        have_layout ? (int32_t *)layout.buf : NULL, &info, &os_error);
  else
    st = fl_decode_sample(self->dec, (const uint8_t *)data->buf, (size_t)data->len, &r,
                          (uint64_t)key, (int16_t *)out.buf,
                          have_layout ? (int32_t *)layout.buf : NULL, &info);
  Py_END_ALLOW_THREADS
  self->busy = 0;
  if (path)
    result = Py_BuildValue("(is)", (int)st, st == FL_OK ? "" : fl_decoder_message(self->dec));
  else if (st != FL_OK)
    raise_status(st, fl_decoder_message(self->dec));
  else
    result = Py_BuildValue("(isii)", fl_decoder_warnings(self->dec),
                           fl_decoder_warning(self->dec), info.width, info.height);
done:
  if (have_out) PyBuffer_Release(&out);
  if (have_layout) PyBuffer_Release(&layout);
  return result;
}

/* decode(data, recipe, key, out, layout=None) -> (warnings, first warning, width, height):
 * fl_decode_sample on this thread's decoder. out: int16, exactly count * out_h * out_w
 * items (output "channels") or at least recipe_out_elements (output "planes", which also
 * needs layout: int32 [LAYOUT_INTS]). */
static PyObject *Decoder_decode(DecoderObject *self, PyObject *args) {
  Py_buffer data, rb;
  PyObject *out_obj, *layout_obj = Py_None, *result;
  unsigned long long key;
  if (!PyArg_ParseTuple(args, "y*y*KO|O:decode", &data, &rb, &key, &out_obj, &layout_obj))
    return NULL;
  result = run_decode(self, &data, NULL, 0, -1, &rb, key, out_obj, layout_obj);
  PyBuffer_Release(&data);
  PyBuffer_Release(&rb);
  return result;
}

/* decode_file(path, recipe, key, out, layout=None, offset=0, length=-1) -> (status,
 * message): the torch engine's per-sample call, the DALI operator's twin. The core reads
 * the file (or its `length` bytes at `offset`: a tar member) into this decoder's reused
 * buffer (fl_decode_file, the recipe's max_file_size applied) and decodes it; a failure
 * (unreadable 6, corrupt 1, ...) is the core's status and message, out zeroed, not an
 * exception. */
static PyObject *Decoder_decode_file(DecoderObject *self, PyObject *args) {
  Py_buffer rb;
  PyObject *path = NULL, *out_obj, *layout_obj = Py_None, *result;
  unsigned long long key;
  long long offset = 0, length = -1;
  if (!PyArg_ParseTuple(args, "O&y*KO|OLL:decode_file", PyUnicode_FSConverter, &path, &rb, &key,
                        &out_obj, &layout_obj, &offset, &length))
    return NULL;
  result = run_decode(self, NULL, path, offset, length, &rb, key, out_obj, layout_obj);
  Py_DECREF(path);
  PyBuffer_Release(&rb);
  return result;
}

static PyMethodDef Decoder_methods[] = {
    {"begin", (PyCFunction)Decoder_begin, METH_VARARGS,
     "begin(data, max_pixels, strict, require_coefficients) -> header tuple"},
    {"fill", (PyCFunction)Decoder_fill, METH_VARARGS,
     "fill(planes) -> (quant tables, warnings, first warning)"},
    {"end", (PyCFunction)Decoder_end, METH_NOARGS, "end the open image"},
    {"decode_file", (PyCFunction)Decoder_decode_file, METH_VARARGS,
     "decode_file(path, recipe, key, out, layout=None, offset=0, length=-1) -> (status, "
     "message): one sample from a file (or that byte range of it) the core reads; failures are"
     " the status and message, as the DALI operator gives"},
    {"decode", (PyCFunction)Decoder_decode, METH_VARARGS,
     "decode(data, recipe, key, out, layout=None) -> (warnings, first warning, width, height):"
     " one sample by a packed recipe (freqload.Recipe.packed)"},
    {NULL, NULL, 0, NULL}};

static PyObject *Decoder_get_libjpeg_only(DecoderObject *self, void *closure) {
  (void)closure;
  if (enter(self) < 0) return NULL;
  self->busy = 0;
  return PyBool_FromLong(fl_decoder_libjpeg_only(self->dec));
}

static int Decoder_set_libjpeg_only(DecoderObject *self, PyObject *value, void *closure) {
  int on;
  (void)closure;
  if (value == NULL) {
    PyErr_SetString(PyExc_TypeError, "libjpeg_only cannot be deleted");
    return -1;
  }
  if ((on = PyObject_IsTrue(value)) < 0) return -1;
  if (enter(self) < 0) return -1;
  fl_decoder_set_libjpeg_only(self->dec, on);
  self->busy = 0;
  return 0;
}

static PyObject *Decoder_get_fast_path_used(DecoderObject *self, void *closure) {
  (void)closure;
  if (enter(self) < 0) return NULL;
  self->busy = 0;
  return PyBool_FromLong(fl_decoder_fast_path_used(self->dec));
}

static PyGetSetDef Decoder_getset[] = {
    {"libjpeg_only", (getter)Decoder_get_libjpeg_only, (setter)Decoder_set_libjpeg_only,
     "True: libjpeg entropy-decodes every file (no fast path); to compare. Default: "
     "environment FREQLOAD_ENTROPY=libjpeg", NULL},
    {"fast_path_used", (getter)Decoder_get_fast_path_used, NULL,
     "the last image's coefficients came from the fast entropy decoder", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "freqload._core.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Per-thread JPEG coefficient decoder (libjpeg state reused).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

/* ---- coefficient views from Python ------------------------------------------ */

typedef struct {
  Py_ssize_t n;
  fl_coef_view views[3];
  Py_buffer cviews[3], qviews[3];
  int got_c, got_q;
} views_t;

static void views_release(views_t *v) {
  int i;
  for (i = 0; i < v->got_c; i++) PyBuffer_Release(&v->cviews[i]);
  for (i = 0; i < v->got_q; i++) PyBuffer_Release(&v->qviews[i]);
  v->got_c = v->got_q = 0;
}

static int views_from_python(views_t *v, PyObject *comps, PyObject *sampling, PyObject *quants) {
  PyObject *fc = NULL, *fs = NULL, *fq = NULL;
  Py_ssize_t i;
  int ok = -1;
  memset(v, 0, sizeof *v);
  fc = PySequence_Fast(comps, "components must be a sequence");
  fs = fc ? PySequence_Fast(sampling, "sampling must be a sequence") : NULL;
  fq = fs ? PySequence_Fast(quants, "quant must be a sequence") : NULL;
  if (fq == NULL) goto done;
  v->n = PySequence_Fast_GET_SIZE(fc);
  if (v->n < 1 || v->n > 3 || PySequence_Fast_GET_SIZE(fs) != v->n ||
      PySequence_Fast_GET_SIZE(fq) != v->n) {
    PyErr_SetString(PyExc_ValueError, "need 1 to 3 components with sampling and quant each");
    goto done;
  }
  for (i = 0; i < v->n; i++) {
    Py_buffer *b = &v->cviews[i], *q = &v->qviews[i];
    int hs, vs;
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fc, i), b, PyBUF_RECORDS_RO) < 0) goto done;
    v->got_c++;
    if (b->ndim != 3 || b->itemsize != 2 || b->shape[2] != 64 || b->strides[2] != 2 ||
        b->strides[1] != 128 || b->strides[0] % 2 != 0 || b->shape[0] < 1 || b->shape[1] < 1) {
      PyErr_Format(PyExc_ValueError,
                   "component %zd must be int16 [blocks_h, blocks_w, 64] with contiguous blocks", i);
      goto done;
    }
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fq, i), q, PyBUF_C_CONTIGUOUS) < 0) goto done;
    v->got_q++;
    if (q->len != 128) {
      PyErr_Format(PyExc_ValueError, "quant table %zd must be 64 uint16", i);
      goto done;
    }
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fs, i), "ii", &hs, &vs)) goto done;
    v->views[i].data = (const int16_t *)b->buf;
    v->views[i].row_stride = b->strides[0] / 2;
    v->views[i].blocks_h = (int)b->shape[0];
    v->views[i].blocks_w = (int)b->shape[1];
    v->views[i].h_samp = hs;
    v->views[i].v_samp = vs;
    v->views[i].quant = (const uint16_t *)q->buf;
  }
  ok = 0;
done:
  Py_XDECREF(fc);
  Py_XDECREF(fs);
  Py_XDECREF(fq);
  if (ok < 0) views_release(v);
  return ok;
}

/* The end of the Python-front calls below: release the coefficient views (safe
 * whether or not views_from_python got them) and the n buffers, then None, or NULL
 * with the Python error already set when !ok. */
static PyObject *finish_call(int ok, views_t *v, Py_buffer *const *bufs, int n) {
  int i;
  views_release(v);
  for (i = 0; i < n; i++) PyBuffer_Release(bufs[i]);
  if (!ok) return NULL;
  Py_RETURN_NONE;
}

/* to_channels(components, sampling, quant, recipe, out, sized): the recipe's channels,
 * dequantisation and chroma alignment. sized=False: out is [C, H8, W8], the whole grid;
 * sized=True: out is [C, out_h, out_w] through the centre crop / pad of fl_sample_channels. */
static PyObject *py_to_channels(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants, *out_obj;
  Py_buffer rb, out;
  views_t v;
  fl_recipe r;
  int sized, count, oh, ow, ok = 0;
  char message[FL_MESSAGE_MAX];
  fl_status st;
  if (!PyArg_ParseTuple(args, "OOOy*Op:to_channels", &comps, &sampling, &quants, &rb, &out_obj,
                        &sized))
    return NULL;
  if (out_buffer(out_obj, &out, &count, &oh, &ow) < 0) {
    PyBuffer_Release(&rb);
    return NULL;
  }
  if (views_from_python(&v, comps, sampling, quants) < 0 || !recipe_arg(&rb, &r)) goto done;
  if (count != r.count || (sized && (oh != r.out_h || ow != r.out_w))) {
    PyErr_SetString(PyExc_ValueError, "out must be [C, out_h, out_w] of the recipe");
    goto done;
  }
  if (!sized && (oh != v.views[0].blocks_h || ow != v.views[0].blocks_w)) {
    PyErr_SetString(PyExc_ValueError, "out must be [C, H8, W8] of the luma grid");
    goto done;
  }
  Py_BEGIN_ALLOW_THREADS
  if (sized) {
    const fl_channel_spec spec = fl_recipe_spec(&r);
    st = fl_sample_channels(v.views, (int)v.n, &spec, (int16_t *)out.buf, message, sizeof message);
  } else {
    fl_out o = {(int16_t *)out.buf, (ptrdiff_t)oh * ow, ow};
    st = fl_to_channels(v.views, (int)v.n, r.component, r.coef, r.count, r.dequantize, r.chroma,
                        &o, message, sizeof message);
  }
  Py_END_ALLOW_THREADS
  if (st != FL_OK) {
    raise_status(st, message);
    goto done;
  }
  ok = 1;
done:
  return finish_call(ok, &v, (Py_buffer *const[]){&rb, &out}, 2);
}

/* sample_planes(components, sampling, quant, recipe, payload, layout, width=0, height=0,
 * orientation=1): fl_sample_planes on Coefficients arrays (the recipe's output kind is not
 * consulted: this is the planes call); with the recipe's orient and an orientation > 1, of
 * the coefficients oriented upright (width and height: the picture's) */
static PyObject *py_sample_planes(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants;
  Py_buffer rb, payload, layout;
  views_t v;
  fl_recipe r;
  fl_channel_spec spec;
  fl_planes_layout l;
  char message[FL_MESSAGE_MAX];
  int ok = 0, width = 0, height = 0, orientation = 1;
  fl_status st = FL_OK;
  fl_workspace *ws = NULL;
  fl_coef_view upright[3];
  const fl_coef_view *views;
  if (!PyArg_ParseTuple(args, "OOOy*w*w*|iii:sample_planes", &comps, &sampling, &quants, &rb,
                        &payload, &layout, &width, &height, &orientation))
    return NULL;
  if (views_from_python(&v, comps, sampling, quants) < 0 || !recipe_arg(&rb, &r)) goto done;
  if (layout.len != FL_LAYOUT_INTS * 4) {
    PyErr_SetString(PyExc_ValueError, "layout must be int32 [LAYOUT_INTS]");
    goto done;
  }
  spec = fl_recipe_spec(&r);
  spec.transform.kind = FL_TRANSFORM_BLOCKS;
  views = v.views;
  if (r.orient && orientation > 1) {
    if ((ws = fl_workspace_new()) == NULL) {
      PyErr_NoMemory();
      goto done;
    }
    st = fl_orient_views(v.views, (int)v.n, &width, &height, orientation, ws, upright, message,
                         sizeof message);
    views = upright;
  }
  Py_BEGIN_ALLOW_THREADS
  if (st == FL_OK)
    st = fl_sample_planes(views, (int)v.n, &spec, (int16_t *)payload.buf,
                          (size_t)payload.len / 2, &l, message, sizeof message);
  if (st == FL_OK) fl_layout_pack(&l, (int32_t *)layout.buf);
  Py_END_ALLOW_THREADS
  fl_workspace_free(ws);
  if (st != FL_OK) {
    raise_status(st, message);
    goto done;
  }
  ok = 1;
done:
  return finish_call(ok, &v, (Py_buffer *const[]){&rb, &payload, &layout}, 3);
}

/* resize_channels(components, sampling, quant, width, height, (top, left, h, w), flip,
 *                 component, coef, out): fl_resize_channels; out float32 or int16 [C, H, W] */
static PyObject *py_resize_channels(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants, *out_obj;
  Py_buffer comp, coef, out;
  views_t v;
  fl_channel_spec spec;
  fl_box box;
  fl_workspace *ws;
  char message[FL_MESSAGE_MAX];
  int width, height, flip, ok = 0, is_float;
  fl_status st;
  memset(&spec, 0, sizeof spec);
  if (!PyArg_ParseTuple(args, "OOOii(dddd)py*y*O:resize_channels", &comps, &sampling, &quants,
                        &width, &height, &box.top, &box.left, &box.height, &box.width, &flip,
                        &comp, &coef, &out_obj))
    return NULL;
  if (PyObject_GetBuffer(out_obj, &out, PyBUF_CONTIG | PyBUF_FORMAT) < 0) {
    PyBuffer_Release(&comp);
    PyBuffer_Release(&coef);
    return NULL;
  }
  is_float = out.format && (strcmp(out.format, "f") == 0 || strcmp(out.format, "<f") == 0 ||
                             strcmp(out.format, "=f") == 0);
  if (views_from_python(&v, comps, sampling, quants) < 0) goto done;
  if (out.ndim != 3 || !(is_float ? out.itemsize == 4 : out.itemsize == 2) ||
      !PyBuffer_IsContiguous(&out, 'C') || comp.len != out.shape[0] || coef.len != comp.len) {
    PyErr_SetString(PyExc_ValueError,
                    "out must be a writable C-contiguous float32 or int16 [C, H, W] array, "
                    "C = the number of channels");
    goto done;
  }
  spec.component = (const uint8_t *)comp.buf;
  spec.coef = (const uint8_t *)coef.buf;
  spec.count = (int)comp.len;
  spec.dequantize = 1;
  spec.out_h = (int)out.shape[1];
  spec.out_w = (int)out.shape[2];
  ws = fl_workspace_new();
  Py_BEGIN_ALLOW_THREADS
  st = fl_resize_channels(v.views, (int)v.n, width, height, &box, flip, &spec, ws,
                          is_float ? NULL : (int16_t *)out.buf, is_float ? (float *)out.buf : NULL,
                          message, sizeof message);
  Py_END_ALLOW_THREADS
  fl_workspace_free(ws);
  if (st != FL_OK) {
    raise_status(st, message);
    goto done;
  }
  ok = 1;
done:
  return finish_call(ok, &v, (Py_buffer *const[]){&comp, &coef, &out}, 3);
}

/* sample(components, sampling, quant, width, height, recipe, key, out, orientation=1): fl_sample on
 * Coefficients arrays; out int16 [C, out_h, out_w] of the recipe */
static PyObject *py_sample(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants, *out_obj;
  Py_buffer rb, out;
  views_t v;
  fl_recipe r;
  fl_channel_spec spec;
  fl_workspace *ws;
  char message[FL_MESSAGE_MAX];
  int width, height, count, oh, ow, ok = 0, orientation = 1;
  unsigned long long key;
  fl_status st;
  if (!PyArg_ParseTuple(args, "OOOiiy*KO|i:sample", &comps, &sampling, &quants, &width, &height,
                        &rb, &key, &out_obj, &orientation))
    return NULL;
  if (out_buffer(out_obj, &out, &count, &oh, &ow) < 0) {
    PyBuffer_Release(&rb);
    return NULL;
  }
  if (views_from_python(&v, comps, sampling, quants) < 0 || !recipe_arg(&rb, &r)) goto done;
  if (count != r.count || oh != r.out_h || ow != r.out_w) {
    PyErr_SetString(PyExc_ValueError, "out must be [C, out_h, out_w] of the recipe");
    goto done;
  }
  spec = fl_recipe_spec(&r);
  ws = fl_workspace_new();
  Py_BEGIN_ALLOW_THREADS
  st = fl_sample(v.views, (int)v.n, width, height, orientation, &spec, (uint64_t)key, ws,
                 (int16_t *)out.buf, message, sizeof message);
  Py_END_ALLOW_THREADS
  fl_workspace_free(ws);
  if (st != FL_OK) {
    raise_status(st, message);
    goto done;
  }
  if (fl_recipe_augments(&r)) { /* as fl_decode_sample does after fl_sample */
    double *scratch = (double *)malloc(fl_recipe_augment_doubles(&r) * sizeof(double));
    if (scratch == NULL) {
      PyErr_NoMemory();
      goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    fl_recipe_augment(&r, (uint64_t)key, (int16_t *)out.buf, scratch);
    Py_END_ALLOW_THREADS
    free(scratch);
  }
  ok = 1;
done:
  return finish_call(ok, &v, (Py_buffer *const[]){&rb, &out}, 2);
}

/* orient(components, sampling, quant, width, height, orientation, outs=None) -> (width,
 * height, ((h_samp, v_samp, blocks_h, blocks_w, alloc_h, alloc_w), ...), tables): the
 * upright shape (fl_orient_plan); with outs (int16 [alloc_h, alloc_w, 64] per component)
 * also fl_orient_fill into them, tables then the quant tables (bytes per component), else
 * None. Shapes first, then fill: call it without outs, allocate, call it with them. */
static PyObject *py_orient(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants, *outs = Py_None, *fo = NULL, *list = NULL;
  PyObject *tables = NULL, *result = NULL;
  views_t v;
  fl_oriented g;
  fl_plane planes[3];
  Py_buffer ob[3];
  uint16_t quant[3][64];
  char message[FL_MESSAGE_MAX];
  int width, height, orientation, c, got = 0;
  if (!PyArg_ParseTuple(args, "OOOiii|O:orient", &comps, &sampling, &quants, &width, &height,
                        &orientation, &outs))
    return NULL;
  if (views_from_python(&v, comps, sampling, quants) < 0) return NULL;
  if (fl_orient_plan(v.views, (int)v.n, width, height, orientation, &g, message,
                     sizeof message) != FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
    goto done;
  }
  if ((list = PyTuple_New(g.num_components)) == NULL) goto done;
  for (c = 0; c < g.num_components; c++) {
    PyObject *t = Py_BuildValue("(iiiiii)", g.h_samp[c], g.v_samp[c], g.blocks_h[c],
                                g.blocks_w[c], g.alloc_h[c], g.alloc_w[c]);
    if (t == NULL) goto done;
    PyTuple_SET_ITEM(list, c, t);
  }
  if (outs == Py_None) {
    tables = Py_NewRef(Py_None);
  } else {
    fo = PySequence_Fast(outs, "outs must be a sequence");
    if (fo == NULL) goto done;
    if (PySequence_Fast_GET_SIZE(fo) != g.num_components) {
      PyErr_SetString(PyExc_ValueError, "one output per component");
      goto done;
    }
    for (c = 0; c < g.num_components; c++) {
      if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fo, c), &ob[c], PyBUF_CONTIG) < 0)
        goto done;
      got++;
      if (ob[c].len != (Py_ssize_t)g.alloc_h[c] * g.alloc_w[c] * 128) {
        PyErr_Format(PyExc_ValueError, "output %d must be int16 [%d, %d, 64]", c,
                     g.alloc_h[c], g.alloc_w[c]);
        goto done;
      }
      planes[c].data = (int16_t *)ob[c].buf;
      planes[c].rows = g.alloc_h[c];
      planes[c].cols = g.alloc_w[c];
      planes[c].row_stride = (ptrdiff_t)g.alloc_w[c] * 64;
    }
    Py_BEGIN_ALLOW_THREADS
    fl_orient_fill(v.views, &g, planes, quant);
    Py_END_ALLOW_THREADS
    if ((tables = PyTuple_New(g.num_components)) == NULL) goto done;
    for (c = 0; c < g.num_components; c++) {
      PyObject *q = PyBytes_FromStringAndSize((const char *)quant[c], 128);
      if (q == NULL) goto done;
      PyTuple_SET_ITEM(tables, c, q);
    }
  }
  result = Py_BuildValue("(iiOO)", g.width, g.height, list, tables);
done:
  for (c = 0; c < got; c++) PyBuffer_Release(&ob[c]);
  Py_XDECREF(fo);
  Py_XDECREF(list);
  Py_XDECREF(tables);
  views_release(&v);
  return result;
}

/* write_jpeg(components, sampling, quant, width, height, row_restarts=0) -> bytes
 * (fl_write_jpeg) */
static PyObject *py_write_jpeg(PyObject *mod, PyObject *args) {
  PyObject *comps, *sampling, *quants, *result = NULL;
  views_t v;
  int width, height, row_restarts = 0;
  uint8_t *buf = NULL;
  size_t size = 0;
  char message[FL_MESSAGE_MAX];
  fl_status st;
  if (!PyArg_ParseTuple(args, "OOOii|p:write_jpeg", &comps, &sampling, &quants, &width, &height,
                        &row_restarts))
    return NULL;
  if (views_from_python(&v, comps, sampling, quants) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  st = fl_write_jpeg(v.views, (int)v.n, width, height, row_restarts, &buf, &size, message,
                     sizeof message);
  Py_END_ALLOW_THREADS
  views_release(&v);
  if (st != FL_OK) return raise_status(st, message);
  result = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)size);
  fl_free(buf);
  return result;
}

/* read_file(path, max_file_size, offset=0, length=-1) -> bytes: the core's one file reader
 * (fl_read_file): the file, or its `length` bytes at `offset` */
static PyObject *py_read_file(PyObject *mod, PyObject *args) {
  PyObject *path = NULL, *result = NULL;
  unsigned long long max_size;
  long long offset = 0, length = -1;
  uint8_t *buf = NULL;
  size_t cap = 0, size = 0;
  int os_error = 0;
  char message[FL_MESSAGE_MAX];
  fl_status st;
  if (!PyArg_ParseTuple(args, "O&K|LL:read_file", PyUnicode_FSConverter, &path, &max_size,
                        &offset, &length))
    return NULL;
  Py_BEGIN_ALLOW_THREADS
  st = fl_read_file(PyBytes_AS_STRING(path), (int64_t)offset, (int64_t)length,
                    (uint64_t)max_size, &buf, &cap, &size, &os_error, message, sizeof message);
  Py_END_ALLOW_THREADS
  if (st != FL_OK)
    raise_file_status(st, os_error, path, message);
  else
    result = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)size);
  free(buf);
  Py_DECREF(path);
  return result;
}

/* random_resized_crop(key, height, width, (kind, smin, smax, rmin, rmax, flip_p, crop_ratio))
 * -> (top, left, h, w, flip) */
static PyObject *py_random_resized_crop(PyObject *mod, PyObject *args) {
  unsigned long long key;
  int height, width, flip;
  fl_transform t;
  fl_box box;
  if (!PyArg_ParseTuple(args, "Kii(idddddd):random_resized_crop", &key, &height, &width, &t.kind,
                        &t.scale_min, &t.scale_max, &t.ratio_min, &t.ratio_max, &t.flip_p,
                        &t.crop_ratio))
    return NULL;
  if (height < 1 || width < 1) {
    PyErr_SetString(PyExc_ValueError, "height and width must be positive");
    return NULL;
  }
  flip = fl_random_resized_crop((uint64_t)key, height, width, &t, &box);
  return Py_BuildValue("(ddddN)", box.top, box.left, box.height, box.width, PyBool_FromLong(flip));
}

/* eval_box(height, width, out_h, out_w, crop_ratio) -> (top, left, h, w) */
static PyObject *py_eval_box(PyObject *mod, PyObject *args) {
  int height, width, oh, ow;
  double ratio;
  fl_box box;
  if (!PyArg_ParseTuple(args, "iiiid:eval_box", &height, &width, &oh, &ow, &ratio)) return NULL;
  if (height < 1 || width < 1 || oh < 1 || ow < 1 || !(ratio > 0)) {
    PyErr_SetString(PyExc_ValueError, "sizes and crop_ratio must be positive");
    return NULL;
  }
  fl_eval_box(height, width, oh, ow, ratio, &box);
  return Py_BuildValue("(dddd)", box.top, box.left, box.height, box.width);
}

static PyObject *py_upsample_tables(PyObject *mod, PyObject *args) {
  int f;
  float A[4][8][8], P[4][8], N[4][8], first[8], last[8];
  if (!PyArg_ParseTuple(args, "i:upsample_tables", &f)) return NULL;
  if (f < 1 || f > 4) {
    PyErr_SetString(PyExc_ValueError, "factor must be 1..4");
    return NULL;
  }
  fl_upsample_tables(f, A, P, N, first, last);
  return Py_BuildValue("(y#y#y#y#y#)", (const char *)A, (Py_ssize_t)sizeof A, (const char *)P,
                       (Py_ssize_t)sizeof P, (const char *)N, (Py_ssize_t)sizeof N,
                       (const char *)first, (Py_ssize_t)sizeof first, (const char *)last,
                       (Py_ssize_t)sizeof last);
}

static PyObject *py_dct_basis(PyObject *mod, PyObject *unused) {
  return PyBytes_FromStringAndSize((const char *)fl_dct_basis(), 64 * sizeof(double));
}

static PyObject *py_libjpeg_version(PyObject *mod, PyObject *unused) {
  return PyUnicode_FromString(fl_libjpeg_version());
}


/* policy_draw(kind, num_ops, magnitude, num_bins, keys, height, width, ops, magnitudes)
 * -> count: every key's ops (fl_policy_draw) into int32 ops [n, count] and float64
 * magnitudes [n, count] (count: 1 for TrivialAugmentWide, num_ops for RandAugment). */
static PyObject *py_policy_draw(PyObject *mod, PyObject *args) {
  fl_policy p;
  Py_buffer keys, ops, mags;
  int height, width, count = 0, ok = 0;
  char message[FL_MESSAGE_MAX];
  memset(&p, 0, sizeof p);
  if (!PyArg_ParseTuple(args, "iiiiy*iiw*w*|id:policy_draw", &p.kind, &p.num_ops, &p.magnitude,
                        &p.num_bins, &keys, &height, &width, &ops, &mags, &p.op, &p.value))
    return NULL;
  if (fl_policy_check(&p, message, sizeof message) != FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
    goto done;
  }
  count = fl_policy_count(&p);
  {
    const Py_ssize_t n = keys.len / 8;
    if (keys.len % 8 || ops.len < n * count * 4 || mags.len < n * count * 8) {
      PyErr_SetString(PyExc_ValueError, "policy_draw: uint64 keys [n], int32 ops and float64 "
                                        "magnitudes [n, count]");
      goto done;
    }
    const uint64_t *k = (const uint64_t *)keys.buf;
    int32_t *o = (int32_t *)ops.buf;
    double *m = (double *)mags.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
      fl_op drawn[FL_POLICY_MAX_OPS];
      fl_policy_draw(&p, k[i], height, width, drawn);
      for (int j = 0; j < count; j++) {
        o[i * count + j] = drawn[j].op;
        m[i * count + j] = drawn[j].magnitude;
      }
    }
    Py_END_ALLOW_THREADS
  }
  ok = 1;
done:
  PyBuffer_Release(&keys);
  PyBuffer_Release(&ops);
  PyBuffer_Release(&mags);
  return ok ? PyLong_FromLong(count) : NULL;
}

/* apply_ops(component, coef, (h, w), x, ops, magnitudes): fl_ops_apply on x (float32
 * [count, h, w], in place): the ops (int32 [k]) at their magnitudes (float64 [k]), in order */
static PyObject *py_apply_ops(PyObject *mod, PyObject *args) {
  Py_buffer comp, coef, x, ops, mags;
  fl_channel_spec spec;
  int ok = 0;
  memset(&spec, 0, sizeof spec);
  if (!PyArg_ParseTuple(args, "y*y*(ii)w*y*y*:apply_ops", &comp, &coef, &spec.out_h, &spec.out_w,
                        &x, &ops, &mags))
    return NULL;
  const Py_ssize_t k = ops.len / 4;
  if (comp.len != coef.len || comp.len < 1 || comp.len > FL_MAX_CHANNELS || spec.out_h < 1 ||
      spec.out_w < 1 || x.len != comp.len * spec.out_h * spec.out_w * 4 || ops.len % 4 ||
      mags.len != k * 8 || k > FL_POLICY_MAX_OPS) {
    PyErr_SetString(PyExc_ValueError, "apply_ops: 1..192 channels, x float32 [count, h, w], "
                                      "int32 ops and float64 magnitudes [k], k <= 16");
    goto done;
  }
  spec.component = (const uint8_t *)comp.buf;
  spec.coef = (const uint8_t *)coef.buf;
  spec.count = (int)comp.len;
  {
    int has_dc = 0;
    fl_op drawn[FL_POLICY_MAX_OPS];
    for (int c = 0; c < spec.count; c++) {
      if (spec.component[c] > 2 || spec.coef[c] > 63) {
        PyErr_SetString(PyExc_ValueError, "apply_ops: a channel out of range");
        goto done;
      }
      has_dc |= spec.component[c] == 0 && spec.coef[c] == 0;
    }
    if (!has_dc) {
      PyErr_SetString(PyExc_ValueError, "apply_ops: the luma DC channel (0) must be there");
      goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
      drawn[j].op = ((const int32_t *)ops.buf)[j];
      drawn[j].magnitude = ((const double *)mags.buf)[j];
      if (drawn[j].op < 0 || drawn[j].op >= FL_OP_KINDS) {
        PyErr_SetString(PyExc_ValueError, "apply_ops: an op out of range");
        goto done;
      }
    }
    double *work = (double *)malloc(fl_ops_work_doubles(&spec) * sizeof(double));
    if (work == NULL) {
      PyErr_NoMemory();
      goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    fl_ops_apply(&spec, drawn, (int)k, (float *)x.buf, work);
    Py_END_ALLOW_THREADS
    free(work);
  }
  ok = 1;
done:
  PyBuffer_Release(&comp);
  PyBuffer_Release(&coef);
  PyBuffer_Release(&x);
  PyBuffer_Release(&ops);
  PyBuffer_Release(&mags);
  if (!ok) return NULL;
  Py_RETURN_NONE;
}

/* jitter_draw(jitter, keys, order, factors, grey): fl_jitter_draw for every key; jitter as
 * pack_recipe's; order int32 [n, 4], factors float64 [n, 4], grey uint8 [n] */
static PyObject *py_jitter_draw(PyObject *mod, PyObject *args) {
  fl_jitter j;
  Py_buffer keys, order, factors, grey;
  char message[FL_MESSAGE_MAX];
  int ok = 0;
  memset(&j, 0, sizeof j);
  if (!PyArg_ParseTuple(args, "(iddddddddd)y*w*w*w*:jitter_draw", &j.active, &j.lo[0], &j.hi[0],
                        &j.lo[1], &j.hi[1], &j.lo[2], &j.hi[2], &j.lo[3], &j.hi[3], &j.gray_p,
                        &keys, &order, &factors, &grey))
    return NULL;
  const Py_ssize_t n = keys.len / 8;
  if (fl_jitter_check(&j, message, sizeof message) != FL_OK) {
    PyErr_SetString(PyExc_ValueError, message);
  } else if (keys.len % 8 || order.len != n * 16 || factors.len != n * 32 || grey.len != n) {
    PyErr_SetString(PyExc_ValueError, "jitter_draw: uint64 keys [n], int32 order [n, 4], "
                                      "float64 factors [n, 4], uint8 grey [n]");
  } else {
    for (Py_ssize_t i = 0; i < n; i++) {
      int o[4];
      ((uint8_t *)grey.buf)[i] = (uint8_t)fl_jitter_draw(&j, ((const uint64_t *)keys.buf)[i], o,
                                                          (double *)factors.buf + 4 * i);
      for (int k = 0; k < 4; k++) ((int32_t *)order.buf)[4 * i + k] = o[k];
    }
    ok = 1;
  }
  PyBuffer_Release(&keys);
  PyBuffer_Release(&order);
  PyBuffer_Release(&factors);
  PyBuffer_Release(&grey);
  if (!ok) return NULL;
  Py_RETURN_NONE;
}

/* policy_magnitude(kind, op, bin, num_bins, height, width) -> (value, signed) or None */
static PyObject *py_policy_magnitude(PyObject *mod, PyObject *args) {
  int kind, op, bin, num_bins, height, width, is_signed;
  double value;
  if (!PyArg_ParseTuple(args, "iiiiii:policy_magnitude", &kind, &op, &bin, &num_bins, &height,
                        &width))
    return NULL;
  if (!fl_policy_magnitude(kind, op, bin, num_bins, height, width, &value, &is_signed))
    Py_RETURN_NONE;
  return Py_BuildValue("(dO)", value, is_signed ? Py_True : Py_False);
}

/* erasing_draw(keys, height, width, p, scale_min, scale_max, ratio_min, ratio_max, boxes):
 * every key's box (fl_erasing_draw) into int32 boxes [n, 4] (top, left, height, width;
 * all zero where nothing is erased). */
static PyObject *py_erasing_draw(PyObject *mod, PyObject *args) {
  Py_buffer keys, boxes;
  int height, width, ok = 0;
  double p, s0, s1, r0, r1;
  if (!PyArg_ParseTuple(args, "y*iidddddw*:erasing_draw", &keys, &height, &width, &p, &s0, &s1,
                        &r0, &r1, &boxes))
    return NULL;
  const Py_ssize_t n = keys.len / 8;
  if (keys.len % 8 || boxes.len < n * 16) {
    PyErr_SetString(PyExc_ValueError, "erasing_draw: uint64 keys [n], int32 boxes [n, 4]");
  } else if (!(p >= 0 && p <= 1) || !(s0 > 0 && s0 <= s1 && s1 <= 1) || !(r0 > 0 && r0 <= r1) ||
             height < 1 || width < 1) {
    PyErr_SetString(PyExc_ValueError, "erasing_draw: p in [0, 1], 0 < scale_min <= scale_max "
                                      "<= 1, 0 < ratio_min <= ratio_max, a grid of >= 1x1");
  } else {
    const uint64_t *k = (const uint64_t *)keys.buf;
    int32_t *b = (int32_t *)boxes.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
      int box[4];
      fl_erasing_draw(k[i], height, width, p, s0, s1, r0, r1, box);
      for (int j = 0; j < 4; j++) b[4 * i + j] = box[j];
    }
    Py_END_ALLOW_THREADS
    ok = 1;
  }
  PyBuffer_Release(&keys);
  PyBuffer_Release(&boxes);
  if (!ok) return NULL;
  Py_RETURN_NONE;
}

/* key_uniforms(keys, stream, out): out float64 [n, k] = k uniforms of each key's stream. */
static PyObject *py_key_uniforms(PyObject *mod, PyObject *args) {
  Py_buffer keys, out;
  unsigned long long stream;
  int ok = 0;
  if (!PyArg_ParseTuple(args, "y*Kw*:key_uniforms", &keys, &stream, &out)) return NULL;
  const Py_ssize_t n = keys.len / 8;
  if (keys.len % 8 || (n > 0 && (out.len % (n * 8) != 0))) {
    PyErr_SetString(PyExc_ValueError, "key_uniforms: uint64 keys [n], float64 out [n, k]");
  } else {
    const int k = n > 0 ? (int)(out.len / (n * 8)) : 0;
    const uint64_t *kk = (const uint64_t *)keys.buf;
    double *o = (double *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) fl_key_uniforms(kk[i], (uint64_t)stream, k, o + i * k);
    Py_END_ALLOW_THREADS
    ok = 1;
  }
  PyBuffer_Release(&keys);
  PyBuffer_Release(&out);
  if (!ok) return NULL;
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"policy_draw", py_policy_draw, METH_VARARGS,
     "policy_draw(kind, num_ops, magnitude, num_bins, keys, height, width, ops, magnitudes) "
     "-> count: every key's augmentation ops"},
    {"key_uniforms", py_key_uniforms, METH_VARARGS,
     "key_uniforms(keys, stream, out): each key's uniforms of a stream of its own"},
    {"erasing_draw", py_erasing_draw, METH_VARARGS,
     "erasing_draw(keys, height, width, p, scale_min, scale_max, ratio_min, ratio_max, "
     "boxes): every key's RandomErasing box"},
    {"jitter_draw", py_jitter_draw, METH_VARARGS,
     "jitter_draw(jitter, keys, order, factors, grey): every key's ColorJitter and "
     "RandomGrayscale draw"},
    {"apply_ops", py_apply_ops, METH_VARARGS,
     "apply_ops(component, coef, (h, w), x, ops, magnitudes): the ops on float32 x "
     "[count, h, w], in place"},
    {"policy_magnitude", py_policy_magnitude, METH_VARARGS,
     "policy_magnitude(kind, op, bin, num_bins, height, width) -> (value, signed) or None"},
    {"to_channels", py_to_channels, METH_VARARGS,
     "to_channels(components, sampling, quant, recipe, out, sized)"},
    {"resize_channels", py_resize_channels, METH_VARARGS,
     "resize_channels(components, sampling, quant, width, height, box, flip, component, coef, out)"},
    {"sample", py_sample, METH_VARARGS,
     "sample(components, sampling, quant, width, height, recipe, key, out): one loader sample"
     " (fl_sample)"},
    {"pack_recipe", (PyCFunction)(void (*)(void))py_pack_recipe, METH_VARARGS | METH_KEYWORDS,
     "pack_recipe(component, coef, size, dequantize, chroma, transform, output, max_pixels,"
     " strict, max_file_size, max_scans, max_memory, partial_decode) -> packed recipe bytes"},
    {"unpack_recipe", py_unpack_recipe, METH_VARARGS,
     "unpack_recipe(packed) -> dict of pack_recipe's arguments"},
    {"recipe_out_elements", py_recipe_out_elements, METH_VARARGS,
     "recipe_out_elements(packed) -> int16 elements of one sample's output"},
    {"check_transform", py_check_transform, METH_VARARGS,
     "check_transform((kind, scale_min, scale_max, ratio_min, ratio_max, flip, crop_ratio))"},
    {"read_file", py_read_file, METH_VARARGS,
     "read_file(path, max_file_size, offset=0, length=-1) -> bytes (fl_read_file; "
     "max_file_size 0: no limit; length -1: to the end)"},
    {"orient", py_orient, METH_VARARGS,
     "orient(components, sampling, quant, width, height, orientation, outs=None) -> (width, "
     "height, per component (h_samp, v_samp, blocks_h, blocks_w, alloc_h, alloc_w), quant "
     "tables or None): fl_orient_plan, and with outs fl_orient_fill into them"},
    {"write_jpeg", py_write_jpeg, METH_VARARGS,
     "write_jpeg(components, sampling, quant, width, height, row_restarts=False) -> baseline "
     "JPEG bytes (row_restarts: restart intervals of ceil(MCUs per row / 16) MCUs, and "
     "freqload's pack segment saying so)"},
    {"random_resized_crop", py_random_resized_crop, METH_VARARGS,
     "random_resized_crop(key, height, width, transform) -> (top, left, h, w, flip)"},
    {"eval_box", py_eval_box, METH_VARARGS,
     "eval_box(height, width, out_h, out_w, crop_ratio) -> (top, left, h, w)"},
    {"libjpeg_version", py_libjpeg_version, METH_NOARGS, "libjpeg build in use"},
    {"dct_basis", py_dct_basis, METH_NOARGS,
     "the core's 8-point DCT-II basis: 64 float64 as bytes, [k][n] (frequency, sample)"},
    {"sample_planes", py_sample_planes, METH_VARARGS, "fl_sample_planes on coefficient arrays"},
    {"upsample_tables", py_upsample_tables, METH_VARARGS,
     "upsample_tables(f) -> float32 bytes of A [4,8,8], P [4,8], N [4,8], first [8], last [8]"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "freqload._core",
                                        "freqload native core front", -1,
                                        module_methods};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject *m, *errors;
  errors = PyImport_ImportModule("freqload.errors");
  if (errors == NULL) return NULL;
  FreqloadError = PyObject_GetAttrString(errors, "FreqloadError");
  DecodeError = PyObject_GetAttrString(errors, "DecodeError");
  UnsupportedImageError = PyObject_GetAttrString(errors, "UnsupportedImageError");
  ImageTooLargeError = PyObject_GetAttrString(errors, "ImageTooLargeError");
  Py_DECREF(errors);
  if (!FreqloadError || !DecodeError || !UnsupportedImageError || !ImageTooLargeError)
    return NULL;
  if (PyType_Ready(&DecoderType) < 0) return NULL;
  m = PyModule_Create(&module_def);
  if (m == NULL) return NULL;
  Py_INCREF(&DecoderType);
  if (PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0) {
    Py_DECREF(&DecoderType);
    Py_DECREF(m);
    return NULL;
  }
  if (fl_add_pool_types(m) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  PyModule_AddIntConstant(m, "CHROMA_DCT", FL_CHROMA_DCT);
  PyModule_AddIntConstant(m, "CHROMA_NEAREST", FL_CHROMA_NEAREST);
  PyModule_AddIntConstant(m, "LAYOUT_INTS", FL_LAYOUT_INTS);
  PyModule_AddIntConstant(m, "TRANSFORM_BLOCKS", FL_TRANSFORM_BLOCKS);
  PyModule_AddIntConstant(m, "TRANSFORM_EVAL", FL_TRANSFORM_EVAL);
  PyModule_AddIntConstant(m, "TRANSFORM_TRAIN", FL_TRANSFORM_TRAIN);
  PyModule_AddIntConstant(m, "PLANES_NONE", FL_PLANES_NONE);
  PyModule_AddIntConstant(m, "PLANES_CHANNELS", FL_PLANES_CHANNELS);
  PyModule_AddIntConstant(m, "PLANES_COEFS", FL_PLANES_COEFS);
  PyModule_AddIntConstant(m, "OUTPUT_CHANNELS", FL_OUTPUT_CHANNELS);
  PyModule_AddIntConstant(m, "OUTPUT_PLANES", FL_OUTPUT_PLANES);
  PyModule_AddIntConstant(m, "MAX_CHANNELS", FL_MAX_CHANNELS);
  PyModule_AddIntConstant(m, "MAX_GRID", FL_MAX_GRID);
  PyModule_AddObject(m, "DEFAULT_MAX_PIXELS", PyLong_FromUnsignedLongLong(FL_DEFAULT_MAX_PIXELS));
  PyModule_AddObject(m, "DEFAULT_MAX_FILE_SIZE",
                     PyLong_FromUnsignedLongLong(FL_DEFAULT_MAX_FILE_SIZE));
  PyModule_AddIntConstant(m, "DEFAULT_MAX_SCANS", FL_DEFAULT_MAX_SCANS);
  PyModule_AddObject(m, "DEFAULT_MAX_MEMORY", PyLong_FromUnsignedLongLong(FL_DEFAULT_MAX_MEMORY));
  PyModule_AddIntConstant(m, "OP_KINDS", FL_OP_KINDS);
  PyModule_AddIntConstant(m, "POLICY_MAX_OPS", FL_POLICY_MAX_OPS);
  PyModule_AddIntConstant(m, "POLICY_TRIVIAL_WIDE", FL_POLICY_TRIVIAL_WIDE);
  PyModule_AddIntConstant(m, "POLICY_FIXED", FL_POLICY_FIXED);
  PyModule_AddIntConstant(m, "POLICY_RAND_AUGMENT", FL_POLICY_RAND_AUGMENT);
  PyModule_AddIntConstant(m, "STATUS_OK", FL_OK);
  PyModule_AddIntConstant(m, "STATUS_DECODE", FL_ERR_DECODE);
  PyModule_AddIntConstant(m, "STATUS_UNSUPPORTED", FL_ERR_UNSUPPORTED);
  PyModule_AddIntConstant(m, "STATUS_TOO_LARGE", FL_ERR_TOO_LARGE);
  PyModule_AddIntConstant(m, "STATUS_NOMEM", FL_ERR_NOMEM);
  PyModule_AddIntConstant(m, "STATUS_ARGUMENT", FL_ERR_ARGUMENT);
  PyModule_AddIntConstant(m, "STATUS_UNREADABLE", FL_ERR_UNREADABLE);
  return m;
}
