/* The on-disk program-cache entry reader (runtime/program_cache.c): magic,
 * format, header size, payload length and checksum. The input is one entry;
 * it is read as written and, when it has a header, once more with the
 * checksum made right so that the reader's later checks are reached too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "runtime/program_cache.h"
#include "tests/fuzz/fuzz_util.h"

#define HEX "0123456789abcdef0123456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char p[512];
    fz_path(p, sizeof p, "programs");
    if (mkdir(p, 0700) != 0 || setenv("CLIPCL_CACHE_DIR", fz_dir(), 1) != 0) {
        perror(p);
        abort();
    }
    return 0;
}

static void load(const uint8_t *data, size_t size)
{
    char p[512];
    fz_write(p, sizeof p, "programs/" HEX ".bin", data, size);
    unsigned char *payload = NULL;
    size_t len = 0;
    int st = rt_pcache_load(HEX, &payload, &len);
    if (st == RT_PCACHE_LOADED && (len + RT_PCACHE_HEADER_BYTES != size || !payload ||
                                   memcmp(payload, data + RT_PCACHE_HEADER_BYTES, len) != 0))
        abort(); /* a loaded entry is exactly the payload after the header */
    if (st != RT_PCACHE_LOADED && payload)
        abort();
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    load(data, size);
    if (size >= RT_PCACHE_HEADER_BYTES) {
        uint8_t *fixed = malloc(size);
        if (!fixed)
            abort();
        memcpy(fixed, data, size);
        uint64_t sum = XXH64(fixed + RT_PCACHE_HEADER_BYTES, size - RT_PCACHE_HEADER_BYTES, 0);
        for (int i = 0; i < 8; i++)
            fixed[24 + i] = (uint8_t)(sum >> (8 * i));
        load(fixed, size);
        free(fixed);
    }
    return 0;
}
