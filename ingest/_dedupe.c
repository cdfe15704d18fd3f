/* The hash table of ingest.dedupe.DayIds, in C: the same table, probed one id at a time.
 *
 * The table is 2^bits slots of 32 bytes (a file every worker maps): the id's high and low
 * halves (uint64), its owner's server_ts (int64) and the owner's ref + 1 (int64, ref =
 * file_id << 32 | line_no; 0 marks an empty slot). Linear probing from the slot
 * dedupe._slots gives; the caller keeps the table at most half full.
 *
 *   claim(table, bits, hi, lo, ts, ref) -> (ids added, refs beaten)
 *       each row in turn: a new id is inserted; a known id whose owner has a larger key
 *       (ts, ref) gets this row as its owner and the old one is beaten; else the row loses.
 *   seal(table, bits, hi, lo, ref) -> bytes, 1 where the row owns its id
 *   uuid_keys(data, offsets, offset, count) -> (high bytes, low bytes, rows not parsed)
 *       ids of an Arrow string array in the canonical 8-4-4-4-12 hex form (either case);
 *       the rows in any other form are left (zero) for the caller.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t slot_of(uint64_t hi, uint64_t lo, int bits) {
    uint64_t mixed = (hi ^ (lo * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    return mixed >> (64 - bits);
}

typedef struct {
    uint64_t hi, lo;
    int64_t ts, ref;
} slot_t;

/* The table, checked: 2^bits slots. */
static int table_ok(Py_buffer *table, int bits) {
    if (bits < 1 || bits > 40) {
        PyErr_SetString(PyExc_ValueError, "bits out of range");
        return 0;
    }
    if (table->len != (Py_ssize_t)(sizeof(slot_t) << bits)) {
        PyErr_SetString(PyExc_ValueError, "the table is not 2^bits slots");
        return 0;
    }
    return 1;
}

static int rows_ok(Py_buffer *rows, int count) {
    for (int k = 0; k < count; k++)
        if (rows[k].len != rows[0].len || rows[k].len % 8) {
            PyErr_SetString(PyExc_ValueError, "the row columns differ in length");
            return 0;
        }
    return 1;
}

static void release(Py_buffer *buffers, int count) {
    for (int k = 0; k < count; k++) PyBuffer_Release(&buffers[k]);
}

static PyObject *claim(PyObject *self, PyObject *args) {
    Py_buffer t, r[4];
    int bits;
    if (!PyArg_ParseTuple(args, "w*iy*y*y*y*", &t, &bits, &r[0], &r[1], &r[2], &r[3]))
        return NULL;
    PyObject *result = NULL;
    int64_t *beaten = NULL;
    if (!table_ok(&t, bits) || !rows_ok(r, 4)) goto done;
    slot_t *table = t.buf;
    uint64_t mask = (1ULL << bits) - 1;
    const uint64_t *hi = r[0].buf, *lo = r[1].buf;
    const int64_t *ts = r[2].buf, *ref = r[3].buf;
    Py_ssize_t n = r[0].len / 8, added = 0, lost = 0;
    beaten = PyMem_Malloc(sizeof(int64_t) * (n ? n : 1));
    if (!beaten) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t s = slot_of(hi[i], lo[i], bits);
        for (uint64_t probes = 0;; probes++, s = (s + 1) & mask) {
            slot_t *at = &table[s];
            if (probes > mask) {
                PyErr_SetString(PyExc_RuntimeError, "the id table is full");
                goto done;
            }
            if (at->ref == 0) {
                at->hi = hi[i], at->lo = lo[i], at->ts = ts[i], at->ref = ref[i] + 1;
                added++;
                break;
            }
            if (at->hi == hi[i] && at->lo == lo[i]) {
                if (ts[i] < at->ts || (ts[i] == at->ts && ref[i] < at->ref - 1)) {
                    beaten[lost++] = at->ref - 1;
                    at->ts = ts[i], at->ref = ref[i] + 1;
                }
                break;
            }
        }
    }
    result = Py_BuildValue("ny#", added, (const char *)beaten, (Py_ssize_t)(lost * 8));
done:
    PyMem_Free(beaten);
    PyBuffer_Release(&t);
    release(r, 4);
    return result;
}

static PyObject *seal(PyObject *self, PyObject *args) {
    Py_buffer t, r[3];
    int bits;
    if (!PyArg_ParseTuple(args, "y*iy*y*y*", &t, &bits, &r[0], &r[1], &r[2])) return NULL;
    PyObject *result = NULL;
    if (!table_ok(&t, bits) || !rows_ok(r, 3)) goto done;
    const slot_t *table = t.buf;
    uint64_t mask = (1ULL << bits) - 1;
    const uint64_t *hi = r[0].buf, *lo = r[1].buf;
    const int64_t *ref = r[2].buf;
    Py_ssize_t n = r[0].len / 8;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (!result) goto done;
    char *owned = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t s = slot_of(hi[i], lo[i], bits);
        owned[i] = 0;
        for (uint64_t probes = 0; probes <= mask && table[s].ref != 0;
             probes++, s = (s + 1) & mask)
            if (table[s].hi == hi[i] && table[s].lo == lo[i]) {
                owned[i] = table[s].ref == ref[i] + 1;
                break;
            }
    }
done:
    PyBuffer_Release(&t);
    release(r, 3);
    return result;
}

static signed char NIBBLE[256];

static PyObject *uuid_keys(PyObject *self, PyObject *args) {
    Py_buffer data, offsets;
    Py_ssize_t offset, count;
    if (!PyArg_ParseTuple(args, "y*y*nn", &data, &offsets, &offset, &count)) return NULL;
    PyObject *high = NULL, *low = NULL, *left = NULL, *result = NULL;
    if (offset < 0 || count < 0 ||
        (size_t)offsets.len < (size_t)(offset + count + 1) * sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets shorter than the array");
        goto done;
    }
    const int32_t *at = (const int32_t *)offsets.buf + offset;
    const unsigned char *text = data.buf;
    high = PyBytes_FromStringAndSize(NULL, count * 8);
    low = PyBytes_FromStringAndSize(NULL, count * 8);
    left = PyList_New(0);
    if (!high || !low || !left) goto done;
    uint64_t *hi = (uint64_t *)PyBytes_AS_STRING(high), *lo = (uint64_t *)PyBytes_AS_STRING(low);
    for (Py_ssize_t i = 0; i < count; i++) {
        int32_t start = at[i], end = at[i + 1];
        hi[i] = lo[i] = 0;
        int good = start >= 0 && end == start + 36 && end <= data.len;
        uint64_t half[2] = {0, 0};
        if (good) {
            const unsigned char *u = text + start;
            good = u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-';
            int bad = 0;
            for (int k = 0, d = 0; k < 36; k++) {
                if (k == 8 || k == 13 || k == 18 || k == 23) continue;
                int v = NIBBLE[u[k]];
                bad |= v;
                half[d >> 4] = (half[d >> 4] << 4) | (uint64_t)(v & 15);
                d++;
            }
            good = good && bad >= 0;
        }
        if (good) {
            hi[i] = half[0], lo[i] = half[1];
        } else {
            PyObject *row = PyLong_FromSsize_t(i);
            if (!row || PyList_Append(left, row) < 0) {
                Py_XDECREF(row);
                goto done;
            }
            Py_DECREF(row);
        }
    }
    result = PyTuple_Pack(3, high, low, left);
done:
    Py_XDECREF(high);
    Py_XDECREF(low);
    Py_XDECREF(left);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return result;
}

static PyMethodDef methods[] = {
    {"claim", claim, METH_VARARGS, "Claim ids for their rows (see the source)."},
    {"seal", seal, METH_VARARGS, "Which rows own their id (see the source)."},
    {"uuid_keys", uuid_keys, METH_VARARGS, "Canonical UUID texts as two uint64 halves."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dedupe", NULL, -1, methods};

PyMODINIT_FUNC PyInit__dedupe(void) {
    for (int c = 0; c < 256; c++) NIBBLE[c] = -1;
    for (int c = 0; c < 10; c++) NIBBLE['0' + c] = (signed char)c;
    for (int c = 0; c < 6; c++) NIBBLE['a' + c] = NIBBLE['A' + c] = (signed char)(10 + c);
    return PyModule_Create(&module);
}
