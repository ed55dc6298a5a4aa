/* Structural check of a JPEG before stb_image sees it. Two jobs:
 *  - a truncated JPEG decodes "successfully" in stb with grey garbage, so the
 *    walk must reach an EOI marker;
 *  - Debian's stb_image (2022-09) builds a Huffman table from a DHT's 16
 *    code counts without checking that they sum to at most 256: its size[]
 *    array has 257 entries, so a table declaring more codes writes past it.
 *    Every DHT segment stb could read is validated here.
 * The walk mirrors how stb finds markers: fill bytes (0xff) before a marker
 * are skipped; after a scan header the entropy-coded data runs until a 0xff
 * that is followed (after fill bytes) by neither 0x00 (a stuffed byte) nor a
 * restart marker, which is also where stb's bit reader stops. stb processes
 * markers between scans (progressive JPEGs carry DHTs there), so the walk
 * continues to EOI rather than stopping at the first scan. */
#include "io/jpeg_check.h"

#include "runtime/status.h"

/* A DHT segment: one or more tables, each a class/id byte, 16 counts and
 * as many symbol bytes as the counts sum to. */
static int check_dht(const uint8_t *seg, size_t len, size_t at, const char *name)
{
    size_t p = 0;
    while (p < len) {
        if (len - p < 17)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (DHT table at byte %zu has %zu of "
                           "its 17 header bytes)", name, at + p, len - p);
        unsigned tc = seg[p] >> 4, th = seg[p] & 15;
        if (tc > 1 || th > 3)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (DHT table at byte %zu: class %u id "
                           "%u, expected class 0-1 and id 0-3)", name, at + p, tc, th);
        size_t codes = 0;
        for (int i = 1; i <= 16; i++)
            codes += seg[p + (size_t)i];
        if (codes > JPEG_MAX_HUFF_CODES)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (DHT table at byte %zu declares %zu "
                           "codes, at most %d allowed)", name, at + p, codes, JPEG_MAX_HUFF_CODES);
        if (codes > len - p - 17)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (DHT table at byte %zu declares %zu "
                           "codes but its segment holds %zu)", name, at + p, codes, len - p - 17);
        p += 17 + codes;
    }
    return CC_OK;
}

/* The byte after the entropy-coded data that starts at pos: the 0xff of the
 * next marker, or n when the file ends inside the data. */
static size_t skip_entropy(const uint8_t *b, size_t n, size_t pos)
{
    while (pos < n) {
        if (b[pos] != 0xff) {
            pos++;
            continue;
        }
        size_t q = pos + 1;
        while (q < n && b[q] == 0xff)
            q++;
        if (q >= n)
            return n;
        if (b[q] != 0x00 && !(b[q] >= 0xd0 && b[q] <= 0xd7))
            return q - 1; /* the last fill byte is the marker's 0xff */
        pos = q + 1;
    }
    return n;
}

int jpeg_check(const uint8_t *b, size_t n, const char *name)
{
    size_t pos = 0;
    while (pos < n && b[pos] == 0xff)
        pos++;
    if (pos == 0 || pos >= n || b[pos] != 0xd8)
        return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (no SOI marker)", name);
    pos++;
    int scans = 0;
    for (;;) {
        if (pos >= n)
            return cc_fail(CC_ERR_IO, "%s: truncated JPEG (%s, %zu bytes)", name,
                           scans ? "no EOI marker after the scan data" : "no scan data", n);
        if (b[pos] != 0xff)
            return cc_fail(CC_ERR_INVALID, "%s: corrupt JPEG (expected a marker at byte %zu, "
                           "found 0x%02x)", name, pos, b[pos]);
        while (pos < n && b[pos] == 0xff)
            pos++; /* fill bytes */
        if (pos >= n)
            continue; /* reported as truncated above */
        uint8_t m = b[pos++];
        if (m == 0xd9) {
            if (!scans)
                return cc_fail(CC_ERR_INVALID, "%s: JPEG ends before any scan", name);
            return CC_OK;
        }
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd8))
            continue; /* markers without a length */
        if (n - pos < 2)
            return cc_fail(CC_ERR_IO, "%s: truncated JPEG (segment header at byte %zu)", name, pos);
        size_t len = (size_t)b[pos] << 8 | b[pos + 1];
        if (len < 2 || len > n - pos)
            return cc_fail(CC_ERR_IO, "%s: truncated JPEG (segment 0x%02x of %zu bytes at byte "
                           "%zu, file has %zu)", name, m, len, pos, n);
        if (m == 0xc4) {
            int rc = check_dht(b + pos + 2, len - 2, pos + 2, name);
            if (rc != CC_OK)
                return rc;
        }
        pos += len;
        if (m == 0xda) {
            scans++;
            pos = skip_entropy(b, n, pos);
        }
    }
}
