/* Shared by the scanners (_nginx.c, _events.c), which write a client address already cut to
   its network for the usual case: a bare IPv4 address, ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ (as
   ingest.pii._PLAIN_V4 spells it), becomes a.b.c.0, as ingest.pii.truncate_ips writes it. */
#ifndef SHIFU_IPV4_H
#define SHIFU_IPV4_H

#include <Python.h>

/* Whether s[0:n] is a bare IPv4 address; *last is where its last number starts. */
static int bare_ipv4_at(const char *s, Py_ssize_t n, Py_ssize_t *last) {
    Py_ssize_t i = 0;
    for (int part = 0; part < 4; part++) {
        Py_ssize_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) i++;
        if (i == start || (i < n && s[i] >= '0' && s[i] <= '9')) return 0;
        if (part < 3) {
            if (i >= n || s[i] != '.') return 0;
            i++;
        }
        *last = start;
    }
    return i == n;
}

#endif
