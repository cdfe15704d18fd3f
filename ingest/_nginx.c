/* The nginx fast path in one pass over each line (ingest.logs._nginx_fast uses it when built).

   A line is taken only if it has the common extended shape that ingest.logs._FAST_LINE spells
   as a regular expression, and a valid time; every other line is left to the SQL parser, which
   alone decides and words the rest. So this only ever says "this line, these fields" for lines
   whose parse is unambiguous, and tests/ingest/test_logs.py checks it against the SQL line for
   line (the Arrow kernels' version of the same path is the fallback when this is not built).

   parse(data, offsets, first, count, utf8_ok, out) -> number of lines taken
     data      the lines' bytes, line k = data[offsets[k] : offsets[k + 1]] (no newlines)
     offsets   int64, count + 1 entries from `first`
     utf8_ok   uint8 per line (0: not UTF-8, never taken)
     out       a tuple of writable buffers, filled for the taken lines only, in order:
               index (int64: the line's position), micros (int64: Asia/Shanghai wall time),
               status (int16), body (int64), body_ok (uint8: 0 for "-"), rt (double), rt_ok,
               urt (double), urt_ok, has_query (uint8), addr_cut (uint8: 1 when remote_addr
               is a bare IPv4 address, written cut to its /24 as ingest.pii.truncate_ips
               does), user_ok, referer_ok, ua_ok (uint8: 0 for "-"), then for each of the NSTR
               string fields (remote_addr, remote_user, method, path, query, protocol, referer,
               user_agent, request_id) its data (bytes, at least as long as `data`) and its
               int32 offsets (count + 1 entries). A "-" field is written empty.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_ipv4.h"

enum { ADDR, USER, METHOD, PATH, QUERY, PROTOCOL, REFERER, UA, REQUEST_ID, NSTR };
enum {
    INDEX, MICROS, STATUS, BODY, BODY_OK, RT, RT_OK, URT, URT_OK, HAS_QUERY,
    ADDR_CUT, USER_OK, REFERER_OK, UA_OK, NFIXED
};

typedef struct {
    const char *p, *end;
} cursor;

typedef struct {
    const char *start;
    Py_ssize_t len;
} piece;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* the bytes that end a field before the time, and the request's target (init_tables) */
static char stops_token[256], stops_target[256];

static void init_tables(void) {
    const char *token_stops = " \"\\[\t\f\r\n", *target_stops = " \"\\\t\n\f\r";
    for (const char *t = token_stops; *t; t++) stops_token[(unsigned char)*t] = 1;
    for (const char *t = target_stops; *t; t++) stops_target[(unsigned char)*t] = 1;
}

/* [^ "\\[\t\f\r]+ : a field before the time (no `[`: the SQL reads the time after the
   first one; no blank: the SQL wants none in the address) */
static int token(cursor *c, piece *out) {
    const char *s = c->p;
    while (c->p < c->end && !stops_token[(unsigned char)*c->p]) c->p++;
    if (c->p == s) return 0;
    out->start = s;
    out->len = c->p - s;
    return 1;
}

static int expect(cursor *c, char ch) {
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int digits(cursor *c, int n, int *value) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (c->p >= c->end || !is_digit(*c->p)) return 0;
        v = v * 10 + (*c->p++ - '0');
    }
    *value = v;
    return 1;
}

/* "[^"\\]*" : the text between the quotes */
static int quoted(cursor *c, piece *out) {
    if (!expect(c, '"')) return 0;
    const char *s = c->p, *q = memchr(s, '"', c->end - s);
    if (q == NULL || memchr(s, '\\', q - s) != NULL) return 0;
    out->start = s;
    out->len = q - s;
    c->p = q + 1;
    return 1;
}

/* -|[0-9]+(\.[0-9]+)?  ->  *ok = 0 for "-", else the value. Up to 15 digits in all: digits
   / 10^decimals, both exact doubles, so one IEEE division gives the correctly rounded value, as
   the SQL's cast does (and no locale is involved, as it would be with strtod). Longer numbers
   are left to the SQL. */
static int seconds(cursor *c, double *value, uint8_t *ok) {
    static const double powers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                    1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    if (c->p < c->end && *c->p == '-') {
        c->p++;
        *ok = 0;
        *value = 0.0;
        return 1;
    }
    uint64_t mantissa = 0; /* wraps past 20 digits (defined for unsigned), refused below */
    int count = 0, decimals = 0;
    const char *s = c->p;
    while (c->p < c->end && is_digit(*c->p)) mantissa = mantissa * 10 + (*c->p++ - '0'), count++;
    if (c->p == s) return 0;
    if (c->p < c->end && *c->p == '.') {
        const char *dot = ++c->p;
        while (c->p < c->end && is_digit(*c->p)) {
            mantissa = mantissa * 10 + (*c->p++ - '0');
            count++;
            decimals++;
        }
        if (c->p == dot) return 0;
    }
    if (count > 15) return 0;
    *value = (double)mantissa / powers[decimals];
    *ok = 1;
    return 1;
}

static const char *MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
    return days[month - 1];
}

/* [dd/Mon/yyyy:HH:MM:SS +hhmm] -> microseconds of Asia/Shanghai wall time (UTC+8) */
static int timestamp(cursor *c, int64_t *micros) {
    int day, year, hour, minute, second, zh, zm;
    if (!expect(c, '[') || !digits(c, 2, &day) || !expect(c, '/')) return 0;
    if (c->end - c->p < 3) return 0;
    int month = 0;
    for (int k = 0; k < 12; k++) {
        if (memcmp(c->p, MONTHS + 3 * k, 3) == 0) month = k + 1;
    }
    if (month == 0) return 0;
    c->p += 3;
    if (!expect(c, '/') || !digits(c, 4, &year) || !expect(c, ':') || !digits(c, 2, &hour) ||
        !expect(c, ':') || !digits(c, 2, &minute) || !expect(c, ':') || !digits(c, 2, &second) ||
        !expect(c, ' '))
        return 0;
    if (c->p >= c->end || (*c->p != '+' && *c->p != '-')) return 0;
    int sign = *c->p++ == '-' ? -1 : 1;
    if (!digits(c, 2, &zh) || !digits(c, 2, &zm) || !expect(c, ']')) return 0;
    if (day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
        return 0;
    int64_t offset = sign * (zh * 60 + zm);
    int64_t seconds_ = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                       second + (480 - offset) * 60;
    *micros = seconds_ * 1000000;
    return 1;
}

typedef struct {
    char *data;
    int32_t *offsets;
    Py_ssize_t used;
} column;

static int parse_line(const char *line, Py_ssize_t length, piece *text, int64_t *micros,
                      int *status, int64_t *body, uint8_t *body_ok, double *rt, uint8_t *rt_ok,
                      double *urt, uint8_t *urt_ok, uint8_t *has_query) {
    cursor c = {line, line + length};
    piece ident, target, version;
    if (!token(&c, &text[ADDR]) || !expect(&c, ' ') || !token(&c, &ident) || !expect(&c, ' ') ||
        !token(&c, &text[USER]) || !expect(&c, ' ') || !timestamp(&c, micros) ||
        !expect(&c, ' ') || !expect(&c, '"'))
        return 0;
    /* "[A-Z][A-Z_-]* [^\t\n\f\r "\\]+ HTTP/[0-9.]+" */
    const char *s = c.p;
    if (c.p >= c.end || *c.p < 'A' || *c.p > 'Z') return 0;
    c.p++;
    while (c.p < c.end && ((*c.p >= 'A' && *c.p <= 'Z') || *c.p == '_' || *c.p == '-')) c.p++;
    text[METHOD].start = s;
    text[METHOD].len = c.p - s;
    if (!expect(&c, ' ')) return 0;
    s = c.p;
    while (c.p < c.end && !stops_target[(unsigned char)*c.p]) c.p++;
    if (c.p == s) return 0;
    target.start = s;
    target.len = c.p - s;
    if (!expect(&c, ' ') || c.end - c.p < 5 || memcmp(c.p, "HTTP/", 5) != 0) return 0;
    s = c.p;
    c.p += 5;
    const char *v = c.p;
    while (c.p < c.end && (is_digit(*c.p) || *c.p == '.')) c.p++;
    if (c.p == v) return 0;
    version.start = s;
    version.len = c.p - s;
    text[PROTOCOL] = version;
    if (!expect(&c, '"') || !expect(&c, ' ') || !digits(&c, 3, status) || !expect(&c, ' '))
        return 0;
    /* (?:[0-9]{1,18}|-) */
    if (c.p < c.end && *c.p == '-') {
        c.p++;
        *body_ok = 0;
        *body = 0;
    } else {
        int64_t b = 0;
        s = c.p;
        while (c.p < c.end && is_digit(*c.p) && c.p - s < 18) b = b * 10 + (*c.p++ - '0');
        if (c.p == s || (c.p < c.end && is_digit(*c.p))) return 0;
        *body = b;
        *body_ok = 1;
    }
    if (!expect(&c, ' ') || !quoted(&c, &text[REFERER]) || !expect(&c, ' ') ||
        !quoted(&c, &text[UA]) || !expect(&c, ' ') || !seconds(&c, rt, rt_ok) ||
        !expect(&c, ' ') || !seconds(&c, urt, urt_ok) || !expect(&c, ' '))
        return 0;
    if (c.end - c.p != 32) return 0;
    for (int i = 0; i < 32; i++) {
        char h = c.p[i];
        if (!is_digit(h) && !(h >= 'a' && h <= 'f')) return 0;
    }
    text[REQUEST_ID].start = c.p;
    text[REQUEST_ID].len = 32;
    /* the target: path before the first '?', query after it */
    const char *q = memchr(target.start, '?', target.len);
    if (q == NULL) {
        text[PATH] = target;
        text[QUERY].start = target.start + target.len;
        text[QUERY].len = 0;
        *has_query = 0;
    } else {
        text[PATH].start = target.start;
        text[PATH].len = q - target.start;
        text[QUERY].start = q + 1;
        text[QUERY].len = target.start + target.len - (q + 1);
        *has_query = 1;
    }
    return 1;
}

static int is_dash(const piece *p) { return p->len == 1 && p->start[0] == '-'; }

/* a bare IPv4 address (_ipv4.h); then its last number is shortened to one digit (the caller
   writes it as 0): the text's length changes, so the piece is shortened here */
static int bare_ipv4(piece *p) {
    Py_ssize_t last;
    if (!bare_ipv4_at(p->start, p->len, &last)) return 0;
    p->len = last + 1;
    return 1;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer data, offsets, utf8;
    Py_ssize_t first, count;
    PyObject *out;
    if (!PyArg_ParseTuple(args, "y*y*nny*O!", &data, &offsets, &first, &count, &utf8,
                          &PyTuple_Type, &out))
        return NULL;
    Py_buffer fixed[NFIXED], strings[2 * NSTR];
    int held = 0, ok = 0;
    Py_ssize_t taken = 0;
    if (PyTuple_GET_SIZE(out) != NFIXED + 2 * NSTR) {
        PyErr_SetString(PyExc_ValueError, "parse: wrong number of output buffers");
        goto done;
    }
    for (int i = 0; i < NFIXED + 2 * NSTR; i++) {
        Py_buffer *b = i < NFIXED ? &fixed[i] : &strings[i - NFIXED];
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(out, i), b, PyBUF_WRITABLE) < 0) goto done;
        held++;
    }
    static const Py_ssize_t item[NFIXED] = {8, 8, 2, 8, 1, 8, 1, 8, 1, 1, 1, 1, 1, 1};
    const int64_t *off = (const int64_t *)offsets.buf + first;
    if (first < 0 || count < 0 || offsets.len < (Py_ssize_t)((first + count + 1) * 8) ||
        utf8.len < count) {
        PyErr_SetString(PyExc_ValueError, "parse: buffers too short");
        goto done;
    }
    for (int i = 0; i < NFIXED; i++) {
        if (fixed[i].len < count * item[i]) {
            PyErr_SetString(PyExc_ValueError, "parse: output buffers too short");
            goto done;
        }
    }
    if (count && (off[0] < 0 || off[count] > data.len)) {
        PyErr_SetString(PyExc_ValueError, "parse: offsets outside the data");
        goto done;
    }
    column columns[NSTR];
    for (int k = 0; k < NSTR; k++) {
        columns[k].data = strings[2 * k].buf;
        columns[k].offsets = strings[2 * k + 1].buf;
        columns[k].offsets[0] = 0;
        columns[k].used = 0;
        if (strings[2 * k].len < data.len ||
            strings[2 * k + 1].len < (Py_ssize_t)((count + 1) * sizeof(int32_t)) ||
            data.len > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "parse: string buffers too short");
            goto done;
        }
    }
    const char *base = data.buf;
    const uint8_t *utf8_ok = utf8.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (!utf8_ok[k] || off[k] < 0 || off[k + 1] < off[k] || off[k + 1] > data.len) continue;
        piece text[NSTR];
        int64_t micros, body;
        int status;
        double rt, urt;
        uint8_t body_ok, rt_ok, urt_ok, has_query;
        if (!parse_line(base + off[k], off[k + 1] - off[k], text, &micros, &status, &body,
                        &body_ok, &rt, &rt_ok, &urt, &urt_ok, &has_query))
            continue;
        ((int64_t *)fixed[INDEX].buf)[taken] = k;
        ((int64_t *)fixed[MICROS].buf)[taken] = micros;
        ((int16_t *)fixed[STATUS].buf)[taken] = (int16_t)status;
        ((int64_t *)fixed[BODY].buf)[taken] = body;
        ((uint8_t *)fixed[BODY_OK].buf)[taken] = body_ok;
        ((double *)fixed[RT].buf)[taken] = rt;
        ((uint8_t *)fixed[RT_OK].buf)[taken] = rt_ok;
        ((double *)fixed[URT].buf)[taken] = urt;
        ((uint8_t *)fixed[URT_OK].buf)[taken] = urt_ok;
        ((uint8_t *)fixed[HAS_QUERY].buf)[taken] = has_query;
        uint8_t *cut = (uint8_t *)fixed[ADDR_CUT].buf + taken;
        *cut = bare_ipv4(&text[ADDR]);
        ((uint8_t *)fixed[USER_OK].buf)[taken] = !is_dash(&text[USER]);
        ((uint8_t *)fixed[REFERER_OK].buf)[taken] = !is_dash(&text[REFERER]);
        ((uint8_t *)fixed[UA_OK].buf)[taken] = !is_dash(&text[UA]);
        static const int dashed[] = {USER, REFERER, UA}; /* "-": written empty (null) */
        for (int d = 0; d < 3; d++) {
            if (is_dash(&text[dashed[d]])) text[dashed[d]].len = 0;
        }
        for (int f = 0; f < NSTR; f++) {
            column *col = &columns[f];
            memcpy(col->data + col->used, text[f].start, text[f].len);
            col->used += text[f].len;
            if (f == ADDR && *cut) col->data[col->used - 1] = '0'; /* a.b.c.d -> a.b.c.0 */
            col->offsets[taken + 1] = (int32_t)col->used;
        }
        taken++;
    }
    Py_END_ALLOW_THREADS;
    ok = 1;
done:
    for (int i = 0; i < held; i++) PyBuffer_Release(i < NFIXED ? &fixed[i] : &strings[i - NFIXED]);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&utf8);
    return ok ? PyLong_FromSsize_t(taken) : NULL;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, "Parse the lines in the common nginx shape (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nginx", NULL, -1, methods};

PyMODINIT_FUNC PyInit__nginx(void) {
    init_tables();
    return PyModule_Create(&module);
}
