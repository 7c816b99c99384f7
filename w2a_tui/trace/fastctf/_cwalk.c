/* The compiled event walk of the fast CTF reader (see cwalk.py, which drives it).
 *
 * `Table.walk` decodes the events of one packet, from a bit position, into the same
 * tuples the generated Python handlers of layout.py build, and appends them to a list.
 * What each event class reads is a small program of steps (align, skip, integer, text
 * array, string) compiled in Python from the metadata; the header is LTTng's compact or
 * large one. Anything else (an unknown class, a class without a program) stops the walk
 * *before* that event, and the Python reader decodes it: both readers always agree on
 * where an event starts. Asked to, the walk also packs runs of guest entries the way
 * analysis/runs.py describes, so that those events never become tuples.
 *
 * The input is untrusted: every read is checked against the buffer's length, positions
 * are 64-bit bit offsets that cannot wrap for buffers below 2^60 bytes, and all damage
 * raises ValueError (the reader turns it into one sentence about the trace).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    OP_ALIGN = 1,  /* a: bits (a power of two) */
    OP_SKIP = 2,   /* a: bits */
    OP_INT = 3,    /* a: slot, b: size bits (8/16/32/64), c: signed, d: little-endian */
    OP_TEXT = 4,   /* a: slot, b: length in bytes */
    OP_STRING = 5, /* a: slot (-1: skipped) */
    OP_CID = 6,    /* extended header: b: size, d: little-endian -> class id */
    OP_CLOCK = 7,  /* extended header: b: size, d: little-endian -> clock */
};
#define OP_WIDTH 5       /* every step is 5 int64: op, a, b, c, d */
#define MAX_SLOTS 64
#define MAX_TEXT 64      /* the text cache remembers arrays up to this many bytes */
#define TEXT_CACHE 4096  /* its entries (a power of two) */
#define MAX_CLASSES 65536
#define EMIT_TS (-1)
#define EMIT_CPU (-2)
/* emit codes <= -3 name constant (-3 - code) of the class */

typedef struct {
    Py_ssize_t len;
    char raw[MAX_TEXT];
    PyObject *text; /* owned, or NULL */
} TextCache;

typedef struct {
    int64_t *ops;
    Py_ssize_t nops; /* steps */
    Py_ssize_t *emit; /* tuple positions; NULL: a skipped class */
    Py_ssize_t nemit;
    PyObject *consts; /* tuple */
    int nslots;
    int role; /* ROLE_*: its part in runs of guest entries */
} ClassProg;

enum { ROLE_NONE = 0, ROLE_ENTRY = 1, ROLE_EXIT = 2, ROLE_INJ = 3 };
enum { HAS_EXIT = 1, HAS_INJ = 2 };
#define RUN_FIELDS 16

typedef struct {
    PyObject_HEAD
    int le;                 /* byte order of the header's id (and compact word) */
    int64_t header_align;   /* bits */
    int64_t base;           /* ns of clock value 0 */
    ClassProg **classes;    /* by class id, NULL: no program */
    Py_ssize_t nclasses;
    int id_bits;            /* 5: LTTng's compact header; 8, 16, 32: an id of its own */
    uint64_t ext_id;        /* the id value announcing the extended header */
    int64_t *ext_ops;       /* the extended header's steps after the id */
    Py_ssize_t next_ops;
    int64_t *compact_ops;   /* with an id of its own: the steps after any other id */
    Py_ssize_t ncompact_ops;
    /* Text arrays already seen, by their bytes: the same name is one str object, as
     * the Python reader's TextCache gives (the analysis keeps many of them). */
    TextCache *texts;
    /* Runs of guest entries (analysis/runs.py): the packed tuple's kind and two states. */
    PyObject *run_kind;
    int guest_state, exit_state;
    int64_t *starts, *exits;
    unsigned char *states;
    Py_ssize_t cap;
} Table;

static void class_free(ClassProg *c) {
    if (c == NULL) return;
    PyMem_Free(c->ops);
    PyMem_Free(c->emit);
    Py_XDECREF(c->consts);
    PyMem_Free(c);
}

static void Table_dealloc(Table *self) {
    if (self->classes != NULL) {
        for (Py_ssize_t i = 0; i < self->nclasses; i++) class_free(self->classes[i]);
        PyMem_Free(self->classes);
    }
    PyMem_Free(self->ext_ops);
    PyMem_Free(self->compact_ops);
    PyMem_Free(self->starts);
    PyMem_Free(self->exits);
    PyMem_Free(self->states);
    Py_XDECREF(self->run_kind);
    if (self->texts != NULL) {
        for (Py_ssize_t i = 0; i < TEXT_CACHE; i++) Py_XDECREF(self->texts[i].text);
        PyMem_Free(self->texts);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A bytes object of int64 steps (native order), copied and checked. */
static int64_t *read_ops(PyObject *blob, Py_ssize_t *nops, int header) {
    if (!PyBytes_Check(blob)) {
        PyErr_SetString(PyExc_TypeError, "steps must be bytes");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(blob);
    if (size % (8 * OP_WIDTH)) {
        PyErr_SetString(PyExc_ValueError, "steps of a wrong size");
        return NULL;
    }
    Py_ssize_t n = size / (8 * OP_WIDTH);
    int64_t *ops = PyMem_Malloc(size ? (size_t)size : 1);
    if (ops == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(ops, PyBytes_AS_STRING(blob), (size_t)size);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t *s = ops + i * OP_WIDTH;
        int ok = 0;
        switch (s[0]) {
        case OP_ALIGN: ok = s[1] > 0 && s[1] <= 4096 && (s[1] & (s[1] - 1)) == 0; break;
        case OP_SKIP: ok = s[1] >= 0 && s[1] < ((int64_t)1 << 40); break;
        case OP_INT:
            ok = !header && s[1] >= 0 && s[1] < MAX_SLOTS &&
                 (s[2] == 8 || s[2] == 16 || s[2] == 32 || s[2] == 64);
            break;
        case OP_TEXT:
            ok = !header && s[1] >= 0 && s[1] < MAX_SLOTS && s[2] >= 0 &&
                 s[2] < ((int64_t)1 << 24);
            break;
        case OP_STRING: ok = !header && s[1] >= -1 && s[1] < MAX_SLOTS; break;
        case OP_CID:
        case OP_CLOCK:
            ok = header && (s[2] == 8 || s[2] == 16 || s[2] == 32 || s[2] == 64);
            break;
        }
        if (!ok) {
            PyMem_Free(ops);
            PyErr_SetString(PyExc_ValueError, "a bad step");
            return NULL;
        }
    }
    *nops = n;
    return ops;
}

/* Table(little_endian, header_align, base_ns, extended_steps, id_bits,
 *       compact_steps): id_bits 5 is LTTng's compact header (id and 27-bit timestamp in
 * one 32-bit word; compact_steps unused), 8/16/32 an id of its own ("large" header) then
 * compact_steps, or extended_steps after the id 2^id_bits - 1. */
static int Table_init(Table *self, PyObject *args, PyObject *kwds) {
    int le, id_bits;
    long long header_align, base;
    PyObject *ext, *compact;
    if (!PyArg_ParseTuple(args, "pLLOiO", &le, &header_align, &base, &ext, &id_bits, &compact))
        return -1;
    if (id_bits != 5 && id_bits != 8 && id_bits != 16 && id_bits != 32) {
        PyErr_SetString(PyExc_ValueError, "bad id size");
        return -1;
    }
    if (self->ext_ops != NULL || self->texts != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a table is set up once");
        return -1;
    }
    self->id_bits = id_bits;
    self->ext_id = id_bits == 5 ? 31 : (((uint64_t)1 << id_bits) - 1);
    if (header_align <= 0 || header_align > 4096 || (header_align & (header_align - 1))) {
        PyErr_SetString(PyExc_ValueError, "bad header alignment");
        return -1;
    }
    self->le = le;
    self->header_align = header_align;
    self->base = base;
    self->ext_ops = read_ops(ext, &self->next_ops, 1);
    if (self->ext_ops == NULL) return -1;
    self->compact_ops = read_ops(compact, &self->ncompact_ops, 1);
    if (self->compact_ops == NULL) return -1;
    self->texts = PyMem_Calloc(TEXT_CACHE, sizeof(TextCache));
    if (self->texts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* set_class(class_id, steps, emit or None, consts, slots, role) */
static int ready(Table *self);

static PyObject *Table_set_class(Table *self, PyObject *args) {
    if (!ready(self)) return NULL;
    Py_ssize_t cid, nslots;
    int role;
    PyObject *blob, *emit, *consts;
    if (!PyArg_ParseTuple(args, "nSOO!ni", &cid, &blob, &emit, &PyTuple_Type, &consts, &nslots,
                          &role))
        return NULL;
    if (role < ROLE_NONE || role > ROLE_INJ) {
        PyErr_SetString(PyExc_ValueError, "bad role");
        return NULL;
    }
    if (cid < 0 || cid >= MAX_CLASSES || nslots < 0 || nslots > MAX_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "class id or slot count out of range");
        return NULL;
    }
    ClassProg *c = PyMem_Calloc(1, sizeof(ClassProg));
    if (c == NULL) return PyErr_NoMemory();
    c->nslots = (int)nslots;
    c->role = role;
    c->ops = read_ops(blob, &c->nops, 0);
    if (c->ops == NULL) goto fail;
    for (Py_ssize_t i = 0; i < c->nops; i++) {
        int64_t *s = c->ops + i * OP_WIDTH;
        if ((s[0] == OP_INT || s[0] == OP_TEXT || s[0] == OP_STRING) && s[1] >= nslots) {
            PyErr_SetString(PyExc_ValueError, "a step writes past the slots");
            goto fail;
        }
    }
    Py_INCREF(consts);
    c->consts = consts;
    if (emit == Py_None && role != ROLE_NONE) {
        PyErr_SetString(PyExc_ValueError, "a run member must be decoded");
        goto fail;
    }
    if (emit != Py_None) {
        if (!PyTuple_Check(emit)) {
            PyErr_SetString(PyExc_TypeError, "emit must be a tuple or None");
            goto fail;
        }
        c->nemit = PyTuple_GET_SIZE(emit);
        c->emit = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(c->nemit ? c->nemit : 1));
        if (c->emit == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < c->nemit; i++) {
            Py_ssize_t code = PyLong_AsSsize_t(PyTuple_GET_ITEM(emit, i));
            if (code == -1 && PyErr_Occurred()) goto fail;
            int ok = code == EMIT_TS || code == EMIT_CPU ||
                     (code >= 0 && code < nslots) ||
                     (code <= -3 && -3 - code < PyTuple_GET_SIZE(consts));
            if (!ok) {
                PyErr_SetString(PyExc_ValueError, "bad emit code");
                goto fail;
            }
            c->emit[i] = code;
        }
        /* A run member needs its tid, pid, procname (and an exit its reason and isa). */
        if (role != ROLE_NONE && c->nemit < (role == ROLE_EXIT ? 8 : 6)) {
            PyErr_SetString(PyExc_ValueError, "a run member with too few fields");
            goto fail;
        }
        /* Every slot an emitted tuple uses must be written by a step. */
        for (Py_ssize_t i = 0; i < c->nemit; i++) {
            if (c->emit[i] < 0) continue;
            int written = 0;
            for (Py_ssize_t k = 0; k < c->nops; k++) {
                int64_t *s = c->ops + k * OP_WIDTH;
                if ((s[0] == OP_INT || s[0] == OP_TEXT || s[0] == OP_STRING) &&
                    s[1] == c->emit[i])
                    written = 1;
            }
            if (!written) {
                PyErr_SetString(PyExc_ValueError, "an emitted slot is never written");
                goto fail;
            }
        }
    }
    if (cid >= self->nclasses) {
        Py_ssize_t grow = cid + 1 > 2 * self->nclasses ? cid + 1 : 2 * self->nclasses;
        if (grow > MAX_CLASSES) grow = MAX_CLASSES;
        ClassProg **bigger = PyMem_Realloc(self->classes, sizeof(ClassProg *) * (size_t)grow);
        if (bigger == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memset(bigger + self->nclasses, 0, sizeof(ClassProg *) * (size_t)(grow - self->nclasses));
        self->classes = bigger;
        self->nclasses = grow;
    }
    class_free(self->classes[cid]);
    self->classes[cid] = c;
    Py_RETURN_NONE;
fail:
    class_free(c);
    return NULL;
}

/* set_runs(run_kind, guest_state, exit_state): what packed runs are made of. */
static PyObject *Table_set_runs(Table *self, PyObject *args) {
    PyObject *kind;
    int guest, exit_state;
    if (!PyArg_ParseTuple(args, "O!ii", &PyLong_Type, &kind, &guest, &exit_state)) return NULL;
    if (guest < 0 || guest > 255 || exit_state < 0 || exit_state > 255) {
        PyErr_SetString(PyExc_ValueError, "states are bytes");
        return NULL;
    }
    Py_INCREF(kind);
    Py_XSETREF(self->run_kind, kind);
    self->guest_state = guest;
    self->exit_state = exit_state;
    Py_RETURN_NONE;
}

static inline uint64_t load(const unsigned char *at, int bytes, int le) {
    uint64_t v = 0;
    if (le) {
        for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | at[i];
    } else {
        for (int i = 0; i < bytes; i++) v = (v << 8) | at[i];
    }
    return v;
}

typedef unsigned __int128 u128;

static PyObject *from_u128(u128 v) {
    if (v <= (u128)UINT64_MAX) return PyLong_FromUnsignedLongLong((unsigned long long)v);
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(v >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)v);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *result = NULL, *up = NULL;
    if (hi && lo && shift && (up = PyNumber_Lshift(hi, shift)) != NULL)
        result = PyNumber_Or(up, lo);
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    Py_XDECREF(up);
    return result;
}

static PyObject *damaged(const char *what) {
    PyErr_SetString(PyExc_ValueError, what);
    return NULL;
}

static PyObject *text_of(Table *self, const unsigned char *raw, Py_ssize_t len) {
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < len && i < MAX_TEXT; i++) hash = (hash ^ raw[i]) * 16777619u;
    TextCache *cache = &self->texts[(hash ^ (uint32_t)len) & (TEXT_CACHE - 1)];
    if (len <= MAX_TEXT && cache->text != NULL && cache->len == len &&
        memcmp(cache->raw, raw, (size_t)len) == 0) {
        Py_INCREF(cache->text);
        return cache->text;
    }
    const unsigned char *nul = memchr(raw, 0, (size_t)len);
    Py_ssize_t n = nul ? nul - raw : len;
    PyObject *text = PyUnicode_DecodeUTF8((const char *)raw, n, "surrogateescape");
    if (text != NULL && len <= MAX_TEXT) {
        Py_XSETREF(cache->text, Py_NewRef(text));
        cache->len = len;
        memcpy(cache->raw, raw, (size_t)len);
    }
    return text;
}

/* Header steps after the id: alignment, skips, the full class id, the timestamp. -1 and
 * ValueError when they run past the buffer. */
static inline int header_steps(const int64_t *ops, Py_ssize_t nops, const unsigned char *buf,
                               int64_t nbits, int64_t *pp, uint64_t *cid, u128 *clock) {
    int64_t p = *pp;
    for (Py_ssize_t i = 0; i < nops; i++) {
        const int64_t *s = ops + i * OP_WIDTH;
        if (s[0] == OP_ALIGN) { p = (p + s[1] - 1) & -s[1]; continue; }
        if (s[0] == OP_SKIP) { p += s[1]; continue; }
        if ((p & 7) || p + s[2] > nbits) {
            damaged("an event header past the end of the file");
            return -1;
        }
        uint64_t v = load(buf + (p >> 3), (int)(s[2] / 8), (int)s[4]);
        p += s[2];
        if (s[0] == OP_CID) {
            *cid = v;
        } else if (s[2] == 64) {
            *clock = (u128)v >= *clock ? (u128)v : ((u128)1 << 65);
        } else {
            uint64_t m = ((uint64_t)1 << s[2]) - 1;
            if (v < (uint64_t)(*clock & m)) *clock += (u128)m + 1;
            *clock = (*clock & ~(u128)m) | v;
        }
    }
    if (p > nbits) {
        damaged("an event header past the end of the file");
        return -1;
    }
    *pp = p;
    return 0;
}

/* The open run of guest entries of one walk (runs never outlive a call: the list they
 * are in is handed over in between). */
typedef struct {
    int open;
    Py_ssize_t at;       /* the lead's index in `out` */
    PyObject *lead;      /* borrowed: `out` holds it */
    long long count, last_ts;
    Py_ssize_t len;      /* entries in starts/states/exits */
    int state, flags;
    PyObject *last_exit, *last_isa; /* owned, or NULL */
} Run;

static int run_room(Table *self, Py_ssize_t len) {
    if (len < self->cap) return 0;
    Py_ssize_t cap = self->cap ? 2 * self->cap : 256;
    int64_t *starts = PyMem_Realloc(self->starts, sizeof(int64_t) * (size_t)cap);
    if (starts == NULL) return -1;
    self->starts = starts;
    int64_t *exits = PyMem_Realloc(self->exits, sizeof(int64_t) * (size_t)cap);
    if (exits == NULL) return -1;
    self->exits = exits;
    unsigned char *states = PyMem_Realloc(self->states, (size_t)cap);
    if (states == NULL) return -1;
    self->states = states;
    self->cap = cap;
    return 0;
}

static void run_reset(Run *run) {
    Py_CLEAR(run->last_exit);
    Py_CLEAR(run->last_isa);
    run->open = 0;
}

/* Replace the lead in `out` by the packed run (a lead alone stays): analysis/runs.py. */
static int run_close(Table *self, Run *run, PyObject *out) {
    if (!run->open) return 0;
    int status = 0;
    if (run->count) {
        PyObject *t = PyTuple_New(RUN_FIELDS);
        if (t == NULL) { run_reset(run); return -1; }
        PyObject *lead = run->lead;
        PyObject *items[RUN_FIELDS] = {
            Py_NewRef(PyTuple_GET_ITEM(lead, 0)),
            Py_NewRef(PyTuple_GET_ITEM(lead, 1)),
            Py_NewRef(self->run_kind),
            Py_NewRef(PyTuple_GET_ITEM(lead, 3)),
            Py_NewRef(PyTuple_GET_ITEM(lead, 4)),
            Py_NewRef(PyTuple_GET_ITEM(lead, 5)),
            Py_NewRef(lead),
            PyLong_FromLongLong(run->last_ts),
            PyLong_FromLongLong(run->count),
            PyBytes_FromStringAndSize((const char *)self->starts, (Py_ssize_t)sizeof(int64_t) * run->len),
            PyBytes_FromStringAndSize((const char *)self->states, run->len),
            PyBytes_FromStringAndSize((const char *)self->exits, (Py_ssize_t)sizeof(int64_t) * run->len),
            PyLong_FromLong(run->state),
            run->last_exit ? Py_NewRef(run->last_exit) : PyLong_FromLong(-1),
            run->last_isa ? Py_NewRef(run->last_isa) : PyLong_FromLong(-1),
            PyLong_FromLong(run->flags),
        };
        for (int i = 0; i < RUN_FIELDS; i++) {
            if (items[i] == NULL) status = -1;
            PyTuple_SET_ITEM(t, i, items[i]);
        }
        if (status == 0) {
            status = PyList_SetItem(out, run->at, t); /* steals t */
        } else {
            Py_DECREF(t); /* PyTuple dealloc tolerates NULL items */
        }
    }
    run_reset(run);
    return status;
}

/* The emitted value at tuple position `i` of a class (a slot or a constant), borrowed. */
static inline PyObject *emitted(ClassProg *c, PyObject **slots, Py_ssize_t i) {
    Py_ssize_t code = c->emit[i];
    if (code >= 0) return slots[code];
    if (code <= -3) return PyTuple_GET_ITEM(c->consts, -3 - code);
    return NULL; /* ts or cpu: not asked for here */
}

static inline int same_object(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (a == NULL || b == NULL) return 0;
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

/* walk(buf, p, end, clock, cpu, out, limit, last, pack) -> (p, clock, n, stop)
 *
 * Decodes from bit `p` while p < end and fewer than `limit` events were read, appending
 * their tuples to `out`. `last`: the packet's timestamp_end (-1: none, i.e. 2^64): an
 * event stamped after it stops the walk after its header, as the Python loop does.
 * `stop` is -1, or the id of a class without a program (then `p` and `clock` are those
 * before that event), or -2 for a clock the walk does not take (beyond 64 bits).
 * `pack`: runs of one thread's kvm_entry/kvm_exit/kvm_inj_virq become one tuple each.
 */
static int ready(Table *self) {
    if (self->texts == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the table was not initialised");
        return 0;
    }
    return 1;
}

static PyObject *Table_walk(Table *self, PyObject *args) {
    Py_buffer view;
    if (!ready(self)) return NULL;
    long long p_in, end_in, limit, cpu_in;
    int pack;
    PyObject *clock_obj, *last_obj, *out;
    if (!PyArg_ParseTuple(args, "y*LLOLO!LOp", &view, &p_in, &end_in, &clock_obj, &cpu_in,
                          &PyList_Type, &out, &limit, &last_obj, &pack))
        return NULL;
    PyObject *result = NULL, *cpu = NULL;
    PyObject *slots[MAX_SLOTS];
    int filled = 0;
    Run run = {0};
    const unsigned char *buf = view.buf;
    const int64_t nbits = (int64_t)view.len * 8;
    int64_t p = p_in, end = end_in;
    long long n = 0, stop = -1;
    u128 clock, last;
    if (pack && self->run_kind == NULL) pack = 0;
    if (view.len >= ((Py_ssize_t)1 << 59) || p < 0 || end < 0) {
        damaged("buffer or position out of range");
        goto done;
    }
    {
        unsigned long long c = PyLong_AsUnsignedLongLong(clock_obj);
        if (c == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            result = Py_BuildValue("(LOLL)", (long long)p, clock_obj, 0LL, -2LL);
            goto done;
        }
        clock = c;
        int negative = PyObject_RichCompareBool(last_obj, Py_False, Py_LT);
        if (negative < 0) goto done;
        if (negative) {
            last = (u128)1 << 64;
        } else {
            unsigned long long l = PyLong_AsUnsignedLongLong(last_obj);
            if (l == (unsigned long long)-1 && PyErr_Occurred()) goto done;
            last = l;
        }
    }
    cpu = PyLong_FromLongLong(cpu_in);
    if (cpu == NULL) goto done;
    const int le = self->le;
    const int64_t halign = self->header_align;
    const uint64_t mask27 = ((uint64_t)1 << 27) - 1;
    while (p < end && n < limit) {
        const int64_t p0 = p;
        const u128 clock0 = clock;
        /* -- header -- */
        p = (p + halign - 1) & -halign;
        uint64_t cid;
        if (self->id_bits == 5) {
            if (p + 32 > nbits) { damaged("an event header past the end of the file"); goto done; }
            uint64_t w = load(buf + (p >> 3), 4, le);
            cid = le ? (w & 31) : (w >> 27);
            if (cid != 31) {
                uint64_t v = le ? (w >> 5) : (w & mask27);
                if (v < (uint64_t)(clock & mask27)) clock += (u128)mask27 + 1;
                clock = (clock & ~(u128)mask27) | v;
                p += 32;
            } else {
                p += 5;
                if (header_steps(self->ext_ops, self->next_ops, buf, nbits, &p, &cid, &clock) < 0)
                    goto done;
            }
        } else {
            if (p + self->id_bits > nbits) { damaged("an event header past the end of the file"); goto done; }
            cid = load(buf + (p >> 3), self->id_bits / 8, le);
            p += self->id_bits;
            int extended = cid == self->ext_id;
            if (header_steps(extended ? self->ext_ops : self->compact_ops,
                             extended ? self->next_ops : self->ncompact_ops, buf, nbits, &p, &cid,
                             &clock) < 0)
                goto done;
        }
        if (clock > last) break;
        ClassProg *c = cid < (uint64_t)self->nclasses ? self->classes[cid] : NULL;
        if (c == NULL) {
            p = p0;
            clock = clock0;
            stop = cid < (uint64_t)LLONG_MAX ? (long long)cid : LLONG_MAX;
            break;
        }
        /* -- body -- */
        for (int k = 0; k < c->nslots; k++) slots[k] = NULL;
        filled = c->nslots;
        for (Py_ssize_t i = 0; i < c->nops; i++) {
            const int64_t *s = c->ops + i * OP_WIDTH;
            switch (s[0]) {
            case OP_ALIGN:
                p = (p + s[1] - 1) & -s[1];
                break;
            case OP_SKIP:
                p += s[1];
                break;
            case OP_INT: {
                int bytes = (int)(s[2] / 8);
                if ((p & 7) || p + s[2] > nbits) { damaged("a field past the end of the file"); goto done; }
                uint64_t v = load(buf + (p >> 3), bytes, (int)s[4]);
                p += s[2];
                PyObject *o;
                if (s[3]) {
                    int64_t sv = bytes == 8 ? (int64_t)v
                                 : (int64_t)((v ^ ((uint64_t)1 << (s[2] - 1))) -
                                             ((uint64_t)1 << (s[2] - 1)));
                    o = PyLong_FromLongLong(sv);
                } else {
                    o = PyLong_FromUnsignedLongLong(v);
                }
                if (o == NULL) goto done;
                Py_XSETREF(slots[s[1]], o);
                break;
            }
            case OP_TEXT: {
                if ((p & 7) || p + 8 * s[2] > nbits) { damaged("a text field past the end of the file"); goto done; }
                PyObject *o = text_of(self, buf + (p >> 3), (Py_ssize_t)s[2]);
                if (o == NULL) goto done;
                p += 8 * s[2];
                Py_XSETREF(slots[s[1]], o);
                break;
            }
            case OP_STRING: {
                Py_ssize_t q = (Py_ssize_t)(p >> 3);
                if ((p & 7) || q > view.len) { damaged("a string past the end of the file"); goto done; }
                const unsigned char *nul = memchr(buf + q, 0, (size_t)(view.len - q));
                if (nul == NULL) { damaged("unterminated string"); goto done; }
                Py_ssize_t e = nul - buf;
                if (s[1] >= 0) {
                    PyObject *o = PyUnicode_DecodeUTF8((const char *)buf + q, e - q, "surrogateescape");
                    if (o == NULL) goto done;
                    Py_XSETREF(slots[s[1]], o);
                }
                p = ((int64_t)e + 1) << 3;
                break;
            }
            }
            if (p > nbits) { damaged("an event past the end of the file"); goto done; }
        }
        n++;
        if (c->emit == NULL) {
            filled = 0; /* a skipped class: no slots */
            continue;
        }
        __int128 ts128 = (__int128)self->base + (__int128)clock;
        const int ts_fits = ts128 >= INT64_MIN && ts128 <= INT64_MAX;
        /* -- a member of the open run: its lane columns, no tuple -- */
        int match = pack && run.open && c->role != ROLE_NONE && ts_fits &&
                    same_object(emitted(c, slots, 3), PyTuple_GET_ITEM(run.lead, 3)) == 1 &&
                    same_object(emitted(c, slots, 4), PyTuple_GET_ITEM(run.lead, 4)) == 1 &&
                    same_object(emitted(c, slots, 5), PyTuple_GET_ITEM(run.lead, 5)) == 1;
        if (PyErr_Occurred()) goto done;
        if (match) {
            int member = 1;
            if (c->role == ROLE_EXIT) {
                PyObject *reason = emitted(c, slots, 6), *isa = emitted(c, slots, 7);
                long long r = 0;
                int ok = reason != NULL && isa != NULL && PyLong_Check(reason);
                if (ok) {
                    r = PyLong_AsLongLong(reason);
                    if (r == -1 && PyErr_Occurred()) {
                        PyErr_Clear();
                        ok = 0;
                    }
                }
                if (!ok) {
                    member = 0; /* a reason the columns cannot hold: an event of its own */
                } else if (run_room(self, run.len) < 0) {
                    PyErr_NoMemory();
                    goto done;
                } else {
                    self->starts[run.len] = (int64_t)ts128;
                    self->states[run.len] = (unsigned char)self->exit_state;
                    self->exits[run.len] = r;
                    run.len++;
                    run.state = self->exit_state;
                    Py_XSETREF(run.last_exit, Py_NewRef(reason));
                    Py_XSETREF(run.last_isa, Py_NewRef(isa));
                    run.flags |= HAS_EXIT;
                }
            } else if (c->role == ROLE_ENTRY) {
                if (run.state != self->guest_state) {
                    if (run_room(self, run.len) < 0) { PyErr_NoMemory(); goto done; }
                    self->starts[run.len] = (int64_t)ts128;
                    self->states[run.len] = (unsigned char)self->guest_state;
                    self->exits[run.len] = -1;
                    run.len++;
                    run.state = self->guest_state;
                }
            } else {
                run.flags |= HAS_INJ;
            }
            if (member) {
                run.count++;
                run.last_ts = (long long)ts128;
                for (int k = 0; k < filled; k++) Py_CLEAR(slots[k]);
                filled = 0;
                continue;
            }
        }
        if (run.open && run_close(self, &run, out) < 0) goto done;
        /* -- the event's tuple -- */
        PyObject *t = PyTuple_New(c->nemit);
        if (t == NULL) goto done;
        for (Py_ssize_t i = 0; i < c->nemit; i++) {
            Py_ssize_t code = c->emit[i];
            PyObject *o;
            if (code >= 0) {
                o = Py_NewRef(slots[code]);
            } else if (code == EMIT_TS) {
                if (ts_fits) {
                    o = PyLong_FromLongLong((long long)ts128);
                } else {
                    PyObject *b = PyLong_FromLongLong(self->base), *cl = from_u128(clock);
                    o = b && cl ? PyNumber_Add(b, cl) : NULL;
                    Py_XDECREF(b);
                    Py_XDECREF(cl);
                }
                if (o == NULL) { Py_DECREF(t); goto done; }
            } else if (code == EMIT_CPU) {
                o = Py_NewRef(cpu);
            } else {
                o = Py_NewRef(PyTuple_GET_ITEM(c->consts, -3 - code));
            }
            PyTuple_SET_ITEM(t, i, o);
        }
        int bad = PyList_Append(out, t);
        Py_DECREF(t);
        if (bad) goto done;
        for (int k = 0; k < filled; k++) Py_CLEAR(slots[k]);
        filled = 0;
        /* -- a kvm_entry with a thread leads a new run -- */
        if (pack && c->role == ROLE_ENTRY && ts_fits) {
            PyObject *tid = PyTuple_GET_ITEM(t, 3);
            if (PyLong_Check(tid) && _PyLong_Sign(tid) >= 0) {
                run.open = 1;
                run.at = PyList_GET_SIZE(out) - 1;
                run.lead = t;
                run.count = 0;
                run.last_ts = (long long)ts128;
                run.len = 0;
                run.state = self->guest_state;
                run.flags = 0;
            }
        }
    }
    if (run.open && run_close(self, &run, out) < 0) goto done;
    {
        PyObject *clock_out = from_u128(clock);
        if (clock_out == NULL) goto done;
        result = Py_BuildValue("(LNLL)", (long long)p, clock_out, n, stop);
    }
done:
    for (int k = 0; k < filled; k++) Py_XDECREF(slots[k]);
    if (run.open) {
        if (result != NULL) Py_CLEAR(result);
        run_reset(&run);
    }
    Py_XDECREF(cpu);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef Table_methods[] = {
    {"set_class", (PyCFunction)Table_set_class, METH_VARARGS,
     "set_class(class_id, steps, emit, consts, slots): the program of one event class."},
    {"walk", (PyCFunction)Table_walk, METH_VARARGS,
     "walk(buf, p, end, clock, cpu, out, limit, last, pack) -> (p, clock, n, stop)."},
    {"set_runs", (PyCFunction)Table_set_runs, METH_VARARGS,
     "set_runs(run_kind, guest_state, exit_state): enables packing runs."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "w2a_tui.trace.fastctf._cwalk.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled programs of one stream class's event classes.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Table_init,
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_methods = Table_methods,
};

static struct PyModuleDef cwalk_module = {
    PyModuleDef_HEAD_INIT, "_cwalk", "Compiled event walk of the fast CTF reader.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cwalk(void) {
    if (PyType_Ready(&TableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&cwalk_module);
    if (m == NULL) return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
