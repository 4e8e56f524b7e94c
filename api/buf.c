/* buf.c - growable byte buffer and the small JSON writer api/ builds on.
 *
 * Responses are written by hand rather than through jansson's encoder: a
 * per-token SSE chunk would otherwise cost a tree of small allocations per
 * token, while appending into a reused buffer costs none. The one subtle part
 * is oai_buf_json_str, which must never emit invalid JSON: token pieces can
 * be partial UTF-8, so it validates as it copies.
 */
#include "api/buf.h"

#include "engine/status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oai_buf_free(struct oai_buf *b)
{
    if (!b) return;
    free(b->data);
    *b = (struct oai_buf)OAI_BUF_INIT;
}

void oai_buf_reset(struct oai_buf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data) b->data[0] = 0;
}

/* Make room for n more bytes plus the NUL. False (and `failed` set) if not. */
static bool reserve(struct oai_buf *b, size_t n)
{
    if (b->failed) return false;
    if (n < b->cap - b->len) return true; /* cap > len always holds once allocated */
    if (n > SIZE_MAX / 2 - b->len) goto fail;
    size_t want = b->len + n + 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) goto fail;
    b->data = p;
    b->cap = cap;
    return true;
fail:
    b->failed = true;
    return false;
}

void oai_buf_append(struct oai_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void oai_buf_puts(struct oai_buf *b, const char *s)
{
    oai_buf_append(b, s, strlen(s));
}

void oai_buf_printf(struct oai_buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        oai_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length (1..4) of the valid UTF-8 sequence starting at s[0] within s[0..n),
 * or 0 if s[0] does not start one. Follows the table of well-formed byte
 * sequences in the Unicode standard (no overlongs, no surrogates, nothing
 * above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong 3-byte forms */
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlong 4-byte forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

bool oai_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq_len(p + i, len - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

void oai_buf_json_str(struct oai_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case per input byte: 6 output bytes (\u00XX) or 3 (U+FFFD). */
    if (len > (SIZE_MAX - 2) / 6 || !reserve(b, len * 6 + 2)) {
        b->failed = true;
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
        } else if (c < 0x80) {
            *o++ = (char)c;
            i++;
        } else {
            size_t k = utf8_seq_len(p + i, len - i);
            if (k == 0) { /* one replacement character per bad byte */
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
            } else {
                memcpy(o, p + i, k);
                o += k;
                i += k;
            }
        }
    }
    *o++ = '"';
    *o = 0;
    b->len = (size_t)(o - b->data);
}

void oai_buf_json_cstr(struct oai_buf *b, const char *s)
{
    if (!s)
        oai_buf_puts(b, "null");
    else
        oai_buf_json_str(b, s, strlen(s));
}

void oai_buf_json_float(struct oai_buf *b, float v)
{
    if (isnan(v) || (isinf(v) && v < 0))
        v = -9999.0f;
    else if (isinf(v))
        v = 9999.0f;
    oai_buf_printf(b, "%.9g", (double)v);
}

int oai_buf_end(struct oai_buf *b, size_t start)
{
    if (!b->failed) return 0;
    b->failed = false;
    b->len = start < b->len ? start : b->len;
    if (b->data) b->data[b->len] = 0;
    return LF_ERR_NOMEM;
}
