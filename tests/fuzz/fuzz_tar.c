/* Tar shards and webdataset members: header checksums, octal/base-256 sizes,
 * pax and GNU long names, resynchronisation (io/tar.c), grouping members into
 * samples and reading captions (io/dataset_tar.c), and each image member read
 * back by offset (io/dataset.c). */
#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_image.h>

#include "io/dataset.h"
#include "io/jpeg_check.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_PIXELS (1 << 18)

static int count_member(void *user, const ds_tar_member *m)
{
    (void)m;
    ++*(int64_t *)user;
    return 0;
}

/* Decodes the member only when stb says it is small (the image harness owns
 * the decoders; here the point is the offset and size read back). */
static int small_image(const uint8_t *data, size_t size, const ds_item *it)
{
    if (it->offset < 0 || it->size <= 0 || it->offset > (int64_t)size ||
        it->size > (int64_t)size - it->offset || it->size > (1 << 16))
        return 0;
    const uint8_t *m = data + it->offset;
    if (it->size >= 2 && m[0] == 'P' && (m[1] == '5' || m[1] == '6'))
        return 1; /* not asked: see fuzz_image.c; its pixels are in the member */
    if (m[0] == 0xff && jpeg_check(m, (size_t)it->size, "probe") != 0)
        return 1; /* not asked either (see fuzz_image.c): img_decode refuses it first */
    int w, h, c;
    return stbi_info_from_memory(data + it->offset, (int)it->size, &w, &h, &c) &&
           (int64_t)w * h <= MAX_PIXELS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    char path[512];
    fz_write(path, sizeof path, "shard.tar", data, size);
    int64_t members = 0, bad = 0;
    fz_check_error(ds_tar_scan(path, count_member, &members, NULL, NULL, &bad), "ds_tar_scan");
    ds_dataset *ds = NULL;
    const char *shards[] = {path};
    int rc = ds_open_tar(&ds, shards, 1, NULL);
    fz_check_error(rc, "ds_open_tar");
    if (rc)
        return 0;
    for (int64_t i = 0; i < ds_count(ds) && i < 8; i++) {
        if (!ds_caption(ds, i) || !ds_name(ds, i))
            abort();
        if (!small_image(data, size, &ds->items[i]))
            continue;
        img_u8 im;
        int r = ds_load_image(ds, i, &im);
        fz_check_error(r, "ds_load_image");
        if (!r)
            img_free(&im);
    }
    ds_close(ds);
    return 0;
}
