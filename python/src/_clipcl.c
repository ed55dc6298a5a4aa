/* clipcl._clipcl: the thin C layer of the Python package over libclipcl
 * (include/clipcl.h). It converts arguments, checks buffers, releases the
 * GIL around every library call that touches pixels, texts or the device,
 * and turns a failed status into clipcl.Error carrying clipcl_last_error().
 * Everything friendlier (numpy arrays, PIL images, batching) is in
 * clipcl/__init__.py. Inputs and outputs are buffers (the buffer protocol:
 * numpy arrays, bytes, memoryviews), so no numpy headers are needed here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <clipcl.h>
#include <string.h>

static PyObject *Error; /* clipcl.Error, a RuntimeError */

/* Raises clipcl.Error(message) with a .status attribute. Call it with the
 * GIL held, on the thread that made the failing call (the message is kept
 * per thread). */
static PyObject *raise_status(int status)
{
    const char *msg = clipcl_last_error();
    PyObject *args = Py_BuildValue("(s)", msg && *msg ? msg : "clipcl: failed (no message)");
    if (!args)
        return NULL;
    PyObject *exc = PyObject_Call(Error, args, NULL);
    Py_DECREF(args);
    if (!exc)
        return NULL;
    PyObject *st = PyLong_FromLong(status);
    if (st) {
        PyObject_SetAttrString(exc, "status", st);
        Py_DECREF(st);
    }
    PyErr_SetObject(Error, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ---- buffers ---- */

/* A C-contiguous buffer of at least `need` items of type fmt ('f', 'd',
 * 'i' for int32, 'B'), writable when asked. */
static int get_buffer(PyObject *obj, Py_buffer *view, char fmt, Py_ssize_t need, int writable,
                      const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    size_t isz = fmt == 'f' ? 4 : fmt == 'd' ? 8 : fmt == 'i' ? 4 : 1;
    int ok = (size_t)view->itemsize == isz &&
             (f[0] == fmt || (fmt == 'i' && f[0] == 'l' && view->itemsize == 4) ||
              (fmt == 'B' && (f[0] == 'b' || f[0] == 'c')));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: buffer of format '%s' (%zd-byte items): expected '%c'",
                     what, view->format ? view->format : "B", view->itemsize, fmt);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->len < need * (Py_ssize_t)isz) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes: expected at least %zd", what,
                     view->len, need * (Py_ssize_t)isz);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ---- string lists ---- */

/* A snapshot of a sequence of str as UTF-8 pointers. The tuple owns the
 * strings, so another thread changing the caller's list while the GIL is
 * released changes nothing here. */
typedef struct strings {
    PyObject *tuple;
    const char **v;
    int n;
} strings;

static void strings_free(strings *s)
{
    PyMem_Free(s->v);
    Py_XDECREF(s->tuple);
    memset(s, 0, sizeof *s);
}

static int strings_get(PyObject *seq, strings *s, const char *what)
{
    memset(s, 0, sizeof *s);
    if (PyUnicode_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a list of str, got one str", what);
        return -1;
    }
    s->tuple = PySequence_Tuple(seq);
    if (!s->tuple)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(s->tuple);
    if (n > 0x7fffffff) {
        PyErr_Format(PyExc_ValueError, "%s: %zd items: too many for one call", what, n);
        strings_free(s);
        return -1;
    }
    s->n = (int)n;
    s->v = PyMem_Calloc((size_t)(n ? n : 1), sizeof *s->v);
    if (!s->v) {
        strings_free(s);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(s->tuple, i);
        if (!PyUnicode_Check(o)) {
            PyErr_Format(PyExc_TypeError, "%s: item %zd is %s: expected str", what, i,
                         Py_TYPE(o)->tp_name);
            strings_free(s);
            return -1;
        }
        Py_ssize_t len = 0;
        s->v[i] = PyUnicode_AsUTF8AndSize(o, &len);
        if (!s->v[i]) {
            strings_free(s);
            return -1;
        }
        if ((size_t)len != strlen(s->v[i])) {
            PyErr_Format(PyExc_ValueError, "%s: item %zd holds a NUL character", what, i);
            strings_free(s);
            return -1;
        }
    }
    return 0;
}

/* ---- Model ---- */

typedef struct {
    PyObject_HEAD
    clipcl_model *m;
    int busy; /* calls running with the GIL released; close() waits for none */
} Model;

static int model_ok(Model *self)
{
    if (!self->m) {
        PyErr_SetString(Error, "the model is closed");
        return 0;
    }
    return 1;
}

static int Model_init(Model *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"path", "device", "dtype", NULL};
    const char *path = NULL, *device = NULL, *dtype = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|zz", names, &path, &device, &dtype))
        return -1;
    /* weight storage: "f32", "f16", "bf16" (clipcl_dtype_flag's names and message) */
    int flags = 0;
    if (dtype && clipcl_dtype_flag(dtype, &flags) != CLIPCL_OK) {
        raise_status(CLIPCL_ERR_INVALID);
        return -1;
    }
    if (self->m) {
        PyErr_SetString(Error, "the model is already loaded");
        return -1;
    }
    clipcl_model *m = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = clipcl_load_opts(path, device, flags, &m);
    Py_END_ALLOW_THREADS
    if (rc != CLIPCL_OK) {
        raise_status(rc);
        return -1;
    }
    self->m = m;
    return 0;
}

static void Model_dealloc(Model *self)
{
    /* a running call holds a reference: busy is 0 here */
    clipcl_free(self->m);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Model_close(Model *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        PyErr_Format(Error, "close: %d call%s still running on this model in other threads",
                     self->busy, self->busy == 1 ? " is" : "s are");
        return NULL;
    }
    clipcl_model *m = self->m;
    self->m = NULL;
    Py_BEGIN_ALLOW_THREADS
    clipcl_free(m);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* Runs `call` with the GIL released and the model marked busy. */
#define RUN_UNLOCKED(self, rc, call) \
    do {                             \
        (self)->busy++;              \
        Py_BEGIN_ALLOW_THREADS       \
        rc = (call);                 \
        Py_END_ALLOW_THREADS         \
        (self)->busy--;              \
    } while (0)

static int flags_of(int normalize) { return normalize ? CLIPCL_NORMALIZE : 0; }

/* encode_image_pixels(pixels, n, normalize, out) */
static PyObject *Model_encode_image_pixels(Model *self, PyObject *args)
{
    PyObject *in_o, *out_o;
    int n, normalize;
    if (!PyArg_ParseTuple(args, "OipO", &in_o, &n, &normalize, &out_o) || !model_ok(self))
        return NULL;
    if (n < 1)
        return PyErr_Format(PyExc_ValueError, "encode_image_pixels: %d images", n);
    Py_ssize_t R = clipcl_image_size(self->m), D = clipcl_embed_dim(self->m);
    Py_buffer in, out;
    if (get_buffer(in_o, &in, 'f', (Py_ssize_t)n * 3 * R * R, 0, "pixels") != 0)
        return NULL;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)n * D, 1, "out") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    int rc;
    RUN_UNLOCKED(self, rc, clipcl_encode_image_pixels(self->m, in.buf, n, flags_of(normalize),
                                                      out.buf));
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

/* encode_image_files(paths, normalize, out) */
static PyObject *Model_encode_image_files(Model *self, PyObject *args)
{
    PyObject *paths_o, *out_o;
    int normalize;
    if (!PyArg_ParseTuple(args, "OpO", &paths_o, &normalize, &out_o) || !model_ok(self))
        return NULL;
    strings s;
    if (strings_get(paths_o, &s, "paths") != 0)
        return NULL;
    Py_buffer out;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)s.n * clipcl_embed_dim(self->m), 1, "out") != 0) {
        strings_free(&s);
        return NULL;
    }
    int rc;
    RUN_UNLOCKED(self, rc, clipcl_encode_image_files(self->m, s.v, s.n, flags_of(normalize),
                                                     out.buf));
    PyBuffer_Release(&out);
    strings_free(&s);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

/* encode_texts(texts, normalize, out) -> number of texts cut to the context */
static PyObject *Model_encode_texts(Model *self, PyObject *args)
{
    PyObject *texts_o, *out_o;
    int normalize;
    if (!PyArg_ParseTuple(args, "OpO", &texts_o, &normalize, &out_o) || !model_ok(self))
        return NULL;
    strings s;
    if (strings_get(texts_o, &s, "texts") != 0)
        return NULL;
    Py_buffer out;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)s.n * clipcl_embed_dim(self->m), 1, "out") != 0) {
        strings_free(&s);
        return NULL;
    }
    int rc, truncated = 0;
    RUN_UNLOCKED(self, rc, clipcl_encode_texts(self->m, s.v, s.n, flags_of(normalize), out.buf,
                                               &truncated));
    PyBuffer_Release(&out);
    strings_free(&s);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    return PyLong_FromLong(truncated);
}

/* encode_token_ids(ids, n, normalize, out) */
static PyObject *Model_encode_token_ids(Model *self, PyObject *args)
{
    PyObject *in_o, *out_o;
    int n, normalize;
    if (!PyArg_ParseTuple(args, "OipO", &in_o, &n, &normalize, &out_o) || !model_ok(self))
        return NULL;
    if (n < 1)
        return PyErr_Format(PyExc_ValueError, "encode_token_ids: %d rows", n);
    Py_ssize_t T = clipcl_context_length(self->m), D = clipcl_embed_dim(self->m);
    Py_buffer in, out;
    if (get_buffer(in_o, &in, 'i', (Py_ssize_t)n * T, 0, "ids") != 0)
        return NULL;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)n * D, 1, "out") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    int rc;
    RUN_UNLOCKED(self, rc, clipcl_encode_token_ids(self->m, in.buf, n, flags_of(normalize),
                                                   out.buf));
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

/* tokenize(texts, out) -> number of texts cut to the context */
static PyObject *Model_tokenize(Model *self, PyObject *args)
{
    PyObject *texts_o, *out_o;
    if (!PyArg_ParseTuple(args, "OO", &texts_o, &out_o) || !model_ok(self))
        return NULL;
    strings s;
    if (strings_get(texts_o, &s, "texts") != 0)
        return NULL;
    Py_buffer out;
    if (get_buffer(out_o, &out, 'i', (Py_ssize_t)s.n * clipcl_context_length(self->m), 1,
                   "out") != 0) {
        strings_free(&s);
        return NULL;
    }
    int rc, truncated = 0;
    RUN_UNLOCKED(self, rc, clipcl_tokenize(self->m, s.v, s.n, out.buf, &truncated));
    PyBuffer_Release(&out);
    strings_free(&s);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    return PyLong_FromLong(truncated);
}

/* zeroshot_classifier(labels, templates, out) -> number of prompts cut */
static PyObject *Model_zeroshot_classifier(Model *self, PyObject *args)
{
    PyObject *labels_o, *tpl_o, *out_o;
    if (!PyArg_ParseTuple(args, "OOO", &labels_o, &tpl_o, &out_o) || !model_ok(self))
        return NULL;
    strings l, t;
    if (strings_get(labels_o, &l, "labels") != 0)
        return NULL;
    if (strings_get(tpl_o, &t, "templates") != 0) {
        strings_free(&l);
        return NULL;
    }
    Py_buffer out;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)l.n * clipcl_embed_dim(self->m), 1, "out") != 0) {
        strings_free(&l);
        strings_free(&t);
        return NULL;
    }
    int rc, truncated = 0;
    RUN_UNLOCKED(self, rc, clipcl_zeroshot_classifier(self->m, l.v, l.n, t.n ? t.v : NULL, t.n,
                                                      out.buf, &truncated));
    PyBuffer_Release(&out);
    strings_free(&l);
    strings_free(&t);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    return PyLong_FromLong(truncated);
}

static PyObject *Model_set_max_batch(Model *self, PyObject *args)
{
    int b;
    if (!PyArg_ParseTuple(args, "i", &b) || !model_ok(self))
        return NULL;
    int rc = clipcl_set_max_batch(self->m, b);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

static PyObject *Model_set_vocab(Model *self, PyObject *args)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path) || !model_ok(self))
        return NULL;
    int rc = clipcl_set_vocab(self->m, path);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

static PyObject *Model_info(Model *self, PyObject *unused)
{
    (void)unused;
    if (!model_ok(self))
        return NULL;
    clipcl_info i;
    int rc = clipcl_get_info(self->m, &i);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    PyObject *rn = i.is_vit ? Py_BuildValue("()")
                            : Py_BuildValue("(iiii)", i.rn_layers[0], i.rn_layers[1],
                                            i.rn_layers[2], i.rn_layers[3]);
    if (!rn)
        return NULL;
    PyObject *d = Py_BuildValue(
        "{s:s,s:O,s:i,s:i,s:i,s:i,s:i,s:N,s:s,s:d,s:i,s:i,s:i,s:i,s:i,s:s,s:d,s:i,s:d,s:L,s:i,"
        "s:s,s:s,s:s,s:s,s:s,s:O,s:N}",
        "naming", i.naming, "is_vit", i.is_vit ? Py_True : Py_False, "image_size", i.image_size,
        "patch_size", i.patch_size, "vision_width", i.vision_width, "vision_layers",
        i.vision_layers, "vision_heads", i.vision_heads, "rn_layers", rn, "vision_act",
        i.vision_act, "vision_eps", (double)i.vision_eps, "text_width", i.text_width,
        "text_layers", i.text_layers, "text_heads", i.text_heads, "context_length",
        i.context_length, "vocab_size", i.vocab_size, "text_act", i.text_act, "text_eps",
        (double)i.text_eps, "embed_dim", i.embed_dim, "logit_scale", (double)i.logit_scale,
        "n_params", (long long)i.n_params, "n_tensors", i.n_tensors, "dtype", i.dtype,
        "weights_path", i.weights_path, "config_path", i.config_path, "tokenizer_path",
        i.tokenizer_path, "device", i.device, "vision_map_head",
        i.vision_map_head ? Py_True : Py_False, "logit_bias",
        i.has_logit_bias ? PyFloat_FromDouble((double)i.logit_bias) : Py_NewRef(Py_None));
    return d;
}

static PyObject *Model_dims(Model *self, PyObject *unused)
{
    (void)unused;
    if (!model_ok(self))
        return NULL;
    return Py_BuildValue("(iiid)", clipcl_embed_dim(self->m), clipcl_image_size(self->m),
                         clipcl_context_length(self->m), (double)clipcl_logit_scale(self->m));
}

/* ---- preprocessing, with (Model methods) or without (module functions) a
 * model: with one, the model's own preprocessing config decides ---- */

static PyObject *preprocess_file_impl(clipcl_model *m, const char *path, int size, PyObject *out_o)
{
    Py_buffer out;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)3 * size * size, 1, "out") != 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = m ? clipcl_preprocess_file_model(m, path, out.buf) : clipcl_preprocess_file(path, size, out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

static PyObject *preprocess_pixels_impl(clipcl_model *m, PyObject *in_o, int w, int h,
                                        Py_ssize_t stride, int mode, int size, PyObject *out_o)
{
    if (w < 1 || h < 1 || stride < 1 || size < 1)
        return PyErr_Format(PyExc_ValueError, "preprocess_pixels: %dx%d, stride %zd, size %d", w,
                            h, stride, size);
    Py_buffer in, out;
    if (get_buffer(in_o, &in, 'B', stride * (h - 1) + (Py_ssize_t)w, 0, "pixels") != 0)
        return NULL;
    if (get_buffer(out_o, &out, 'f', (Py_ssize_t)3 * size * size, 1, "out") != 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    /* the library checks stride against the mode's bytes per pixel; the
     * buffer must then hold the last row's pixels too */
    int bpp = mode == CLIPCL_PIXELS_P ? 3 : mode;
    int rc = CLIPCL_OK;
    if (mode >= CLIPCL_PIXELS_L && mode <= CLIPCL_PIXELS_P &&
        in.len < stride * (h - 1) + (Py_ssize_t)w * bpp) {
        PyBuffer_Release(&in);
        PyBuffer_Release(&out);
        return PyErr_Format(PyExc_ValueError, "pixels: %zd bytes: expected %zd for %dx%d", in.len,
                            stride * (h - 1) + (Py_ssize_t)w * bpp, w, h);
    }
    Py_BEGIN_ALLOW_THREADS
    rc = m ? clipcl_preprocess_pixels8_model(m, in.buf, w, h, (size_t)stride, mode, out.buf)
           : clipcl_preprocess_pixels8(in.buf, w, h, (size_t)stride, mode, size, out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&in);
    PyBuffer_Release(&out);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

/* Model.preprocess_file(path, out) */
static PyObject *Model_preprocess_file(Model *self, PyObject *args)
{
    const char *path;
    PyObject *out_o;
    if (!model_ok(self) || !PyArg_ParseTuple(args, "sO", &path, &out_o))
        return NULL;
    return preprocess_file_impl(self->m, path, clipcl_image_size(self->m), out_o);
}

/* Model.preprocess_pixels(pixels, width, height, row_stride, mode, out) */
static PyObject *Model_preprocess_pixels(Model *self, PyObject *args)
{
    PyObject *in_o, *out_o;
    int w, h, mode;
    Py_ssize_t stride;
    if (!model_ok(self) || !PyArg_ParseTuple(args, "OiiniO", &in_o, &w, &h, &stride, &mode, &out_o))
        return NULL;
    return preprocess_pixels_impl(self->m, in_o, w, h, stride, mode, clipcl_image_size(self->m),
                                  out_o);
}

static PyObject *Model_preprocess_describe(Model *self, PyObject *unused)
{
    (void)unused;
    if (!model_ok(self))
        return NULL;
    char buf[1024];
    int rc = clipcl_preprocess_describe(self->m, buf, sizeof buf);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    return PyUnicode_FromString(buf);
}

static PyMethodDef Model_methods[] = {
    {"preprocess_file", (PyCFunction)Model_preprocess_file, METH_VARARGS,
     "preprocess_file(path, out): the model's preprocessing of an image file"},
    {"preprocess_pixels", (PyCFunction)Model_preprocess_pixels, METH_VARARGS,
     "preprocess_pixels(pixels, width, height, row_stride, mode, out)"},
    {"preprocess_describe", (PyCFunction)Model_preprocess_describe, METH_NOARGS,
     "preprocess_describe() -> str: where the preprocessing comes from and its settings"},
    {"encode_image_pixels", (PyCFunction)Model_encode_image_pixels, METH_VARARGS,
     "encode_image_pixels(pixels, n, normalize, out): n x 3 x R x R float32 -> out n x D"},
    {"encode_image_files", (PyCFunction)Model_encode_image_files, METH_VARARGS,
     "encode_image_files(paths, normalize, out)"},
    {"encode_texts", (PyCFunction)Model_encode_texts, METH_VARARGS,
     "encode_texts(texts, normalize, out) -> texts cut to the context"},
    {"encode_token_ids", (PyCFunction)Model_encode_token_ids, METH_VARARGS,
     "encode_token_ids(ids, n, normalize, out)"},
    {"tokenize", (PyCFunction)Model_tokenize, METH_VARARGS,
     "tokenize(texts, out) -> texts cut to the context"},
    {"zeroshot_classifier", (PyCFunction)Model_zeroshot_classifier, METH_VARARGS,
     "zeroshot_classifier(labels, templates, out) -> prompts cut to the context"},
    {"set_max_batch", (PyCFunction)Model_set_max_batch, METH_VARARGS, "set_max_batch(n)"},
    {"set_vocab", (PyCFunction)Model_set_vocab, METH_VARARGS, "set_vocab(path)"},
    {"info", (PyCFunction)Model_info, METH_NOARGS, "info() -> dict (clipcl_info)"},
    {"dims", (PyCFunction)Model_dims, METH_NOARGS,
     "dims() -> (embed_dim, image_size, context_length, logit_scale)"},
    {"close", (PyCFunction)Model_close, METH_NOARGS, "close(): frees the model now"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clipcl._clipcl.Model",
    .tp_basicsize = sizeof(Model),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Model(path, device=None): a loaded clipcl model (clipcl_load)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Model_init,
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_methods = Model_methods,
};

/* ---- module functions ---- */

static PyObject *mod_preprocess_file(PyObject *mod, PyObject *args)
{
    (void)mod;
    const char *path;
    int size;
    PyObject *out_o;
    if (!PyArg_ParseTuple(args, "siO", &path, &size, &out_o))
        return NULL;
    if (size < 1)
        return PyErr_Format(PyExc_ValueError, "preprocess: size %d", size);
    return preprocess_file_impl(NULL, path, size, out_o);
}

/* preprocess_pixels(pixels, width, height, row_stride, mode, size, out) */
static PyObject *mod_preprocess_pixels(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *in_o, *out_o;
    int w, h, mode, size;
    Py_ssize_t stride;
    if (!PyArg_ParseTuple(args, "OiiniiO", &in_o, &w, &h, &stride, &mode, &size, &out_o))
        return NULL;
    return preprocess_pixels_impl(NULL, in_o, w, h, stride, mode, size, out_o);
}

/* zeroshot_probs(images, n, classifier, labels, dim, logit_scale, out) */
static PyObject *mod_zeroshot_probs(PyObject *mod, PyObject *args)
{
    (void)mod;
    PyObject *img_o, *cls_o, *out_o;
    int n, L, D;
    float scale;
    if (!PyArg_ParseTuple(args, "OiOiifO", &img_o, &n, &cls_o, &L, &D, &scale, &out_o))
        return NULL;
    if (n < 1 || L < 1 || D < 1)
        return PyErr_Format(PyExc_ValueError, "zeroshot_probs: %d images, %d labels, dim %d", n,
                            L, D);
    Py_buffer img, cls, out;
    if (get_buffer(img_o, &img, 'f', (Py_ssize_t)n * D, 0, "images") != 0)
        return NULL;
    if (get_buffer(cls_o, &cls, 'f', (Py_ssize_t)L * D, 0, "classifier") != 0) {
        PyBuffer_Release(&img);
        return NULL;
    }
    if (get_buffer(out_o, &out, 'd', (Py_ssize_t)n * L, 1, "out") != 0) {
        PyBuffer_Release(&img);
        PyBuffer_Release(&cls);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = clipcl_zeroshot_probs(img.buf, n, cls.buf, L, D, scale, out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&img);
    PyBuffer_Release(&cls);
    PyBuffer_Release(&out);
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_devices(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    int n = 0, rc;
    Py_BEGIN_ALLOW_THREADS
    rc = clipcl_list_devices(NULL, 0, &n);
    Py_END_ALLOW_THREADS
    if (rc != CLIPCL_OK)
        return raise_status(rc);
    clipcl_device *d = PyMem_Calloc((size_t)(n ? n : 1), sizeof *d);
    if (!d)
        return PyErr_NoMemory();
    int got = 0;
    Py_BEGIN_ALLOW_THREADS
    rc = clipcl_list_devices(d, n, &got);
    Py_END_ALLOW_THREADS
    if (rc != CLIPCL_OK) {
        PyMem_Free(d);
        return raise_status(rc);
    }
    if (got > n)
        got = n; /* a device appeared in between: the next call lists it */
    PyObject *list = PyList_New(got);
    for (int i = 0; list && i < got; i++) {
        PyObject *e = Py_BuildValue("{s:s,s:s,s:s,s:s,s:i,s:L,s:O}", "spec", d[i].spec, "name",
                                    d[i].name, "platform", d[i].platform, "type", d[i].type,
                                    "compute_units", d[i].compute_units, "global_mem_bytes",
                                    (long long)d[i].global_mem_bytes, "default",
                                    d[i].is_default ? Py_True : Py_False);
        if (!e) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, e);
    }
    PyMem_Free(d);
    return list;
}

static PyObject *mod_version(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
#ifdef CLIPCL_VERSION_MAJOR
    return PyUnicode_FromString(clipcl_version());
#else
    Py_RETURN_NONE;
#endif
}

static PyMethodDef mod_methods[] = {
    {"preprocess_file", mod_preprocess_file, METH_VARARGS,
     "preprocess_file(path, size, out): out 3 x size x size float32"},
    {"preprocess_pixels", mod_preprocess_pixels, METH_VARARGS,
     "preprocess_pixels(pixels, width, height, row_stride, mode, size, out)"},
    {"zeroshot_probs", mod_zeroshot_probs, METH_VARARGS,
     "zeroshot_probs(images, n, classifier, labels, dim, logit_scale, out float64)"},
    {"devices", mod_devices, METH_NOARGS, "devices() -> list of dict (clipcl_list_devices)"},
    {"version", mod_version, METH_NOARGS, "version() -> the library's version (or None)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "clipcl._clipcl",
    "The C layer of the clipcl package over libclipcl (see clipcl/__init__.py).", -1,
    mod_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__clipcl(void)
{
    if (PyType_Ready(&ModelType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Error = PyErr_NewExceptionWithDoc(
        "clipcl.Error",
        "A clipcl call failed; str(e) is clipcl's one-line message and e.status its code.",
        PyExc_RuntimeError, NULL);
    if (!Error || PyModule_AddObject(m, "Error", Error) < 0)
        goto fail;
    Py_INCREF(Error); /* one reference for the module, one for raise_status */
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0) {
        Py_DECREF(&ModelType);
        goto fail;
    }
    if (PyModule_AddIntConstant(m, "PIXELS_L", CLIPCL_PIXELS_L) < 0 ||
        PyModule_AddIntConstant(m, "PIXELS_LA", CLIPCL_PIXELS_LA) < 0 ||
        PyModule_AddIntConstant(m, "PIXELS_RGB", CLIPCL_PIXELS_RGB) < 0 ||
        PyModule_AddIntConstant(m, "PIXELS_RGBA", CLIPCL_PIXELS_RGBA) < 0 ||
        PyModule_AddIntConstant(m, "PIXELS_P", CLIPCL_PIXELS_P) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
