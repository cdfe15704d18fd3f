/* The events' fast path in one pass over each line (ingest.events._scanned_events uses it when
   built).

   It reads each line as a JSON object and writes, for a fixed list of "slots" (the envelope's
   keys, and the keys of one envelope object, `props`), what each line holds there: the kind
   of value and its text. The tracking plan's rules are then
   checked on those columns with Arrow kernels (ingest.tracking_plan.ColumnPlan), so the C code
   knows nothing about the plan.

   It only says "this line holds these values" when that reading is beyond doubt; otherwise the
   line is not `ok`, and the msgspec path, then the SQL validator, decide it. Doubts: not UTF-8,
   not starting with `{`, any backslash (escapes), a control byte in a string, an exponent or
   more than 18 digits in a number, nesting deeper than MAX_DEPTH, a tracked key twice, anything
   after the object but blanks, a nested object DuckDB would print otherwise (VERBATIM below),
   and anything that is not JSON. tests/ingest/test_events.py checks
   the result against the SQL validator line for line, on real and on randomly damaged lines.

   scan(chunks, utf8_ok, envelope, nested, nested_slot, cut_slot) -> (ok, kinds, texts, cut)
     chunks    list of (data, offsets, first, count), the lines in order (an Arrow large_string
               column's chunks: no copy to make them one): line k of a chunk is
               data[offsets[first + k] : offsets[first + k + 1]] (no newlines)
     utf8_ok   uint8 per line of all chunks (0: not UTF-8, never ok)
     envelope  tuple of bytes: the top-level keys tracked (slots 0 .. E-1)
     nested    tuple of bytes: the keys tracked inside the object at slot `nested_slot`
               (slots E .. E+N-1)
   returns, for S = E + N slots and n lines in all (slot-major: slot s, line k at s * n + k):
     ok        bytes, n: 1 when the line was read without doubt (the others hold nothing)
     kinds     bytes, S * n: KIND_* below (0: the key is absent)
     texts     list of S (data bytes, int32 offsets bytes of n + 1): a string's text between its
               quotes, a number's or a literal's text, an object's or an array's whole text
     cut       bytes, n: 1 where slot `cut_slot` (-1: none) is a bare IPv4 address, written cut
               to its /24 as ingest.pii.truncate_ips does (a.b.c.0)
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_ipv4.h"
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
    KIND_ABSENT = 0,
    KIND_NULL = 1,
    KIND_FALSE = 2,
    KIND_TRUE = 3,
    KIND_INT = 4,
    KIND_FLOAT = 5,
    KIND_STRING = 6,
    KIND_OBJECT = 7,
    KIND_ARRAY = 8
};
#define MAX_DEPTH 32
#define MAX_SLOTS 256
#define MAX_INT_DIGITS 18 /* below 2^63: no overflow when it is read as an int64 */

typedef struct {
    const char *name;
    Py_ssize_t len;
} key;

typedef struct {
    const key *keys;
    int count, first_slot;
    int *next; /* where the last key found was + 1: keys mostly come in the same order */
} keyset;

typedef struct {
    const char *start;
    uint32_t len;
} span;

typedef struct {
    const char *p, *end;
    int nested_slot;
    const keyset *top, *inner;
    uint8_t *kind; /* this line's kind per slot */
    span *text;    /* this line's text per slot */
    int verbatim;  /* > 0 inside the nested object: see VERBATIM below */
    int unlike;    /* set when its text is not what DuckDB would print */
} line;

/* bytes that end the plain run of a string: the quote, the backslash, control bytes */
static char special[256];

static void init_tables(void) {
    for (int c = 0; c < 0x20; c++) special[c] = 1;
    special['"'] = 1;
    special['\\'] = 1;
}

static void blanks(line *l) {
    const char *s = l->p;
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
    if (l->verbatim && l->p != s) l->unlike = 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* "..." without escapes or control bytes: the text between the quotes */
static int string(line *l, span *out) {
    const char *s = ++l->p;
#ifdef __SSE2__
    /* 16 bytes at a time while they are inside the line: stop at '"', '\\' or a byte < 0x20 */
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1F);
    while (l->end - l->p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)l->p);
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash));
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(x, control), x)); /* x <= 0x1F */
        int mask = _mm_movemask_epi8(hit);
        if (mask) {
            l->p += __builtin_ctz(mask);
            break;
        }
        l->p += 16;
    }
#endif
    while (l->p < l->end && !special[(unsigned char)*l->p]) l->p++;
    if (l->p >= l->end || *l->p != '"') return 0;
    out->start = s;
    out->len = (uint32_t)(l->p - s);
    l->p++;
    return 1;
}

/* VERBATIM. The SQL path writes `props` as DuckDB prints the parsed value: minified, numbers
   in their shortest form. The fast path writes the line's own text; a line where the two
   would differ is left to the other paths. A number in [s, end) (`dot`: after its '.', or
   NULL) is printed as written unless it is -0 (printed 0), or a fraction that ends in a 0
   other than x.0 (1.50 -> 1.5), has over 15 significant digits (rounded), or is below 1e-6
   (printed with an exponent). (events.PROPS_NOT_VERBATIM is the msgspec path's version, a
   regex: cautious, it may also match inside a string.) tests/ingest/test_events.py checks
   both against DuckDB's printing. */
static int printed_as_written(const char *s, const char *dot, const char *end) {
    const char *digits = *s == '-' ? s + 1 : s;
    if (dot == NULL) return !(digits != s && end - digits == 1 && *digits == '0'); /* -0 */
    if (end - dot > 1 && end[-1] == '0') return 0;                                /* 1.50 */
    if (dot - digits == 2 && *digits == '0') { /* 0.x: below 1e-6 with 6 zeros after the dot */
        int zeros = 0;
        while (dot + zeros < end && dot[zeros] == '0') zeros++;
        if (zeros >= 6) return 0;
    }
    int significant = 0, leading = 1;
    for (const char *c = digits; c < end; c++) {
        if (*c == '.' || (leading && *c == '0')) continue;
        leading = 0;
        significant++;
    }
    return significant <= 15;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)? : KIND_INT (up to 18 digits: an int64) or KIND_FLOAT */
static int number(line *l, uint8_t *kind, span *out) {
    const char *s = l->p;
    int count = 0;
    if (*l->p == '-') l->p++;
    if (l->p >= l->end || !is_digit(*l->p)) return 0;
    if (*l->p == '0') {
        l->p++;
        count = 1;
        if (l->p < l->end && is_digit(*l->p)) return 0; /* a leading zero */
    } else {
        while (l->p < l->end && is_digit(*l->p)) {
            if (++count > MAX_INT_DIGITS) return 0;
            l->p++;
        }
    }
    *kind = KIND_INT;
    const char *dot = NULL;
    if (l->p < l->end && *l->p == '.') {
        dot = ++l->p;
        while (l->p < l->end && is_digit(*l->p)) l->p++;
        if (l->p == dot || l->p - dot > MAX_INT_DIGITS) return 0;
        *kind = KIND_FLOAT;
    }
    if (l->p < l->end && (*l->p == 'e' || *l->p == 'E')) return 0; /* an exponent: a doubt */
    out->start = s;
    out->len = (uint32_t)(l->p - s);
    if (l->verbatim && !printed_as_written(s, dot, l->p)) l->unlike = 1;
    return 1;
}

static int literal(line *l, const char *word, Py_ssize_t len) {
    if (l->end - l->p < len || memcmp(l->p, word, len) != 0) return 0;
    l->p += len;
    return 1;
}

static int object(line *l, int depth, const keyset *keys, span *whole);

/* past a container's opening byte and the blanks after it: 1 when it closes at once (`whole`
   is then its text) */
static int opened(line *l, char close, span *whole) {
    whole->start = l->p++;
    blanks(l);
    if (l->p < l->end && *l->p == close) {
        l->p++;
        whole->len = (uint32_t)(l->p - whole->start);
        return 1;
    }
    return 0;
}

enum { BAD, MORE, CLOSED };

/* after an item of a container: `,` (MORE items), its closing byte (CLOSED: `whole` is then
   its text) or anything else (BAD) */
static int after_item(line *l, char close, span *whole) {
    blanks(l);
    if (l->p >= l->end) return BAD;
    if (*l->p == close) {
        l->p++;
        whole->len = (uint32_t)(l->p - whole->start);
        return CLOSED;
    }
    if (*l->p != ',') return BAD;
    l->p++;
    blanks(l);
    return MORE;
}

static int array(line *l, int depth, span *whole);

/* any JSON value: its kind and its text */
static int value(line *l, int depth, const keyset *keys, uint8_t *kind, span *text) {
    if (l->p >= l->end) return 0;
    switch (*l->p) {
    case '"':
        *kind = KIND_STRING;
        return string(l, text);
    case '{':
        *kind = KIND_OBJECT;
        return object(l, depth + 1, keys, text);
    case '[':
        *kind = KIND_ARRAY;
        return array(l, depth + 1, text);
    case 't':
        *kind = KIND_TRUE, text->start = l->p, text->len = 4;
        return literal(l, "true", 4);
    case 'f':
        *kind = KIND_FALSE, text->start = l->p, text->len = 5;
        return literal(l, "false", 5);
    case 'n':
        *kind = KIND_NULL, text->start = l->p, text->len = 4;
        return literal(l, "null", 4);
    default:
        return number(l, kind, text);
    }
}

static int same(const key *k, const span *name) {
    return k->len == name->len && memcmp(k->name, name->start, name->len) == 0;
}

static int lookup(const keyset *keys, const span *name) {
    if (keys == NULL) return -1;
    int guess = *keys->next;
    if (guess < keys->count && same(&keys->keys[guess], name)) {
        *keys->next = guess + 1;
        return keys->first_slot + guess;
    }
    for (int i = 0; i < keys->count; i++) {
        if (same(&keys->keys[i], name)) {
            *keys->next = i + 1;
            return keys->first_slot + i;
        }
    }
    return -1;
}

/* {...}: the values of `keys` (NULL: none tracked) are written to their slots */
static int object(line *l, int depth, const keyset *keys, span *whole) {
    if (depth > MAX_DEPTH) return 0;
    if (opened(l, '}', whole)) return 1;
    for (;;) {
        span name, text;
        uint8_t kind;
        if (l->p >= l->end || *l->p != '"' || !string(l, &name)) return 0;
        blanks(l);
        if (l->p >= l->end || *l->p != ':') return 0;
        l->p++;
        blanks(l);
        int slot = lookup(keys, &name);
        const keyset *inner = slot >= 0 && slot == l->nested_slot ? l->inner : NULL;
        l->verbatim += inner != NULL;
        int read = value(l, depth, inner, &kind, &text);
        l->verbatim -= inner != NULL;
        if (!read) return 0;
        if (slot >= 0) {
            if (l->kind[slot] != KIND_ABSENT) return 0; /* a tracked key twice */
            l->kind[slot] = kind;
            l->text[slot] = text;
        }
        int next = after_item(l, '}', whole);
        if (next != MORE) return next == CLOSED;
    }
}

static int array(line *l, int depth, span *whole) {
    if (depth > MAX_DEPTH) return 0;
    if (opened(l, ']', whole)) return 1;
    for (;;) {
        span text;
        uint8_t kind;
        if (!value(l, depth, NULL, &kind, &text)) return 0;
        int next = after_item(l, ']', whole);
        if (next != MORE) return next == CLOSED;
    }
}

/* a whole line: `{`, the object, then only blanks */
static int read_line(line *l) {
    span whole;
    if (l->p >= l->end || *l->p != '{') return 0;
    if (!object(l, 1, l->top, &whole)) return 0;
    blanks(l);
    return l->p == l->end;
}

static int keys_of(PyObject *tuple, key *out, int *count) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > MAX_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "scan: keys must be a tuple of at most 256 bytes");
        return 0;
    }
    *count = (int)PyTuple_GET_SIZE(tuple);
    for (int i = 0; i < *count; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "scan: keys must be bytes");
            return 0;
        }
        out[i].name = PyBytes_AS_STRING(item);
        out[i].len = PyBytes_GET_SIZE(item);
    }
    return 1;
}

typedef struct {
    char *data;
    Py_ssize_t used, size;
    int32_t *ends; /* count + 1 */
} column;

/* room for `more` bytes (0: out of memory) */
static int reserve(column *c, Py_ssize_t more) {
    if (c->used + more <= c->size) return 1;
    Py_ssize_t size = c->size ? c->size : 1 << 16;
    while (size < c->used + more) size *= 2;
    char *data = PyMem_RawRealloc(c->data, size);
    if (data == NULL) return 0;
    c->data = data;
    c->size = size;
    return 1;
}

/* one Arrow chunk of lines: its data, its int64 offsets, its first line and line count */
typedef struct {
    Py_buffer data, offsets;
    Py_ssize_t first, count;
} part;

static PyObject *scan(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer utf8;
    PyObject *chunks, *top_names, *inner_names, *result = NULL;
    int nested_slot, slots = 0, failed = 0;
    int cut_slot;
    if (!PyArg_ParseTuple(args, "O!y*O!O!ii", &PyList_Type, &chunks, &utf8, &PyTuple_Type,
                          &top_names, &PyTuple_Type, &inner_names, &nested_slot, &cut_slot))
        return NULL;
    key top_keys[MAX_SLOTS], inner_keys[MAX_SLOTS];
    int ntop, ninner;
    PyObject *ok_bytes = NULL, *kinds_bytes = NULL, *ends[2 * MAX_SLOTS] = {NULL}, *texts = NULL;
    PyObject *cut_bytes = NULL;
    column columns[2 * MAX_SLOTS];
    memset(columns, 0, sizeof columns);
    const Py_ssize_t nparts = PyList_GET_SIZE(chunks);
    Py_ssize_t held = 0, count = 0, bytes = 0;
    part *parts = PyMem_Calloc(nparts ? nparts : 1, sizeof(part));
    if (parts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; held < nparts; held++) {
        part *p = &parts[held];
        if (!PyArg_ParseTuple(PyList_GET_ITEM(chunks, held), "y*y*nn", &p->data, &p->offsets,
                              &p->first, &p->count))
            goto done;
        const int64_t *off = (const int64_t *)p->offsets.buf + p->first;
        if (p->first < 0 || p->count < 0 ||
            p->offsets.len < (Py_ssize_t)((p->first + p->count + 1) * 8)) {
            held++;
            PyErr_SetString(PyExc_ValueError, "scan: buffers too short");
            goto done;
        }
        if (p->count && (off[0] < 0 || off[p->count] > p->data.len)) {
            held++;
            PyErr_SetString(PyExc_ValueError, "scan: offsets outside the data");
            goto done;
        }
        count += p->count;
        bytes += p->data.len;
    }
    if (!keys_of(top_names, top_keys, &ntop) || !keys_of(inner_names, inner_keys, &ninner))
        goto done;
    slots = ntop + ninner;
    if (utf8.len < count) {
        PyErr_SetString(PyExc_ValueError, "scan: buffers too short");
        goto done;
    }
    if (bytes > INT32_MAX || nested_slot < 0 || nested_slot >= ntop) {
        PyErr_SetString(PyExc_ValueError, "scan: data over 2 GiB, or no such nested slot");
        goto done;
    }
    ok_bytes = PyBytes_FromStringAndSize(NULL, count);
    cut_bytes = PyBytes_FromStringAndSize(NULL, count);
    kinds_bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)slots * count);
    texts = PyList_New(slots);
    if (!ok_bytes || !cut_bytes || !kinds_bytes || !texts) goto done;
    for (int s = 0; s < slots; s++) {
        ends[s] = PyBytes_FromStringAndSize(NULL, (count + 1) * (Py_ssize_t)sizeof(int32_t));
        if (ends[s] == NULL) goto done;
        columns[s].ends = (int32_t *)PyBytes_AS_STRING(ends[s]);
        columns[s].ends[0] = 0;
    }
    uint8_t *ok = (uint8_t *)PyBytes_AS_STRING(ok_bytes);
    uint8_t *cut = (uint8_t *)PyBytes_AS_STRING(cut_bytes);
    uint8_t *kinds = (uint8_t *)PyBytes_AS_STRING(kinds_bytes);
    memset(kinds, 0, (size_t)slots * count);
    int top_next = 0, inner_next = 0;
    const keyset top = {top_keys, ntop, 0, &top_next};
    const keyset inner = {inner_keys, ninner, ntop, &inner_next};
    const uint8_t *utf8_ok = utf8.buf;
    Py_BEGIN_ALLOW_THREADS;
    uint8_t kind[2 * MAX_SLOTS];
    span text[2 * MAX_SLOTS];
    Py_ssize_t in_part = 0, at = 0; /* line k is line `at` of parts[in_part] */
    for (Py_ssize_t k = 0; k < count && !failed; k++, at++) {
        while (at >= parts[in_part].count) in_part++, at = 0;
        const part *p = &parts[in_part];
        const int64_t *off = (const int64_t *)p->offsets.buf + p->first + at;
        const char *base = p->data.buf;
        ok[k] = 0;
        cut[k] = 0;
        if (utf8_ok[k] && off[0] >= 0 && off[1] >= off[0] && off[1] <= p->data.len) {
            memset(kind, 0, slots);
            line l = {base + off[0], base + off[1], nested_slot, &top, &inner, kind, text, 0, 0};
            ok[k] = (uint8_t)(read_line(&l) && !l.unlike);
        }
        for (int s = 0; s < slots; s++) {
            column *c = &columns[s];
            if (ok[k] && kind[s] != KIND_ABSENT) {
                kinds[s * count + k] = kind[s];
                if (!reserve(c, text[s].len)) {
                    failed = 1;
                    break;
                }
                memcpy(c->data + c->used, text[s].start, text[s].len);
                Py_ssize_t keep;
                if (s == cut_slot && kind[s] == KIND_STRING &&
                    bare_ipv4_at(text[s].start, text[s].len, &keep)) {
                    c->data[c->used + keep] = '0'; /* a.b.c.d -> a.b.c.0 */
                    c->used += keep + 1;
                    cut[k] = 1;
                } else {
                    c->used += text[s].len;
                }
            }
            c->ends[k + 1] = (int32_t)c->used; /* <= bytes: one slot's texts never overlap */
        }
    }
    Py_END_ALLOW_THREADS;
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    for (int s = 0; s < slots; s++) {
        PyObject *chars = PyBytes_FromStringAndSize(columns[s].data, columns[s].used);
        if (chars == NULL) goto done;
        PyObject *pair = PyTuple_Pack(2, chars, ends[s]);
        Py_DECREF(chars);
        if (pair == NULL) goto done;
        PyList_SET_ITEM(texts, s, pair);
    }
    result = PyTuple_Pack(4, ok_bytes, kinds_bytes, texts, cut_bytes);
done:
    for (int s = 0; s < slots; s++) {
        PyMem_RawFree(columns[s].data);
        Py_XDECREF(ends[s]);
    }
    Py_XDECREF(ok_bytes);
    Py_XDECREF(cut_bytes);
    Py_XDECREF(kinds_bytes);
    Py_XDECREF(texts);
    for (Py_ssize_t i = 0; i < held; i++) {
        PyBuffer_Release(&parts[i].data);
        PyBuffer_Release(&parts[i].offsets);
    }
    PyMem_Free(parts);
    PyBuffer_Release(&utf8);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Read NDJSON lines into slot columns (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_events", NULL, -1, methods};

PyMODINIT_FUNC PyInit__events(void) {
    init_tables();
    return PyModule_Create(&module);
}
