/* CSV/TSV datasets (io/dataset_csv.c): quoting, CRLF, BOM, column lookup,
 * path resolution. The first byte picks the separator and the column keys so
 * that both defaults and custom keys are reached; the rest is the file. */
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    const uint8_t mode = data[0];
    char path[512];
    fz_write(path, sizeof path, (mode & 1) ? "in.tsv" : "in.csv", data + 1, size - 1);
    ds_open_opts o;
    memset(&o, 0, sizeof o);
    o.separator = (mode & 2) ? ((mode & 1) ? ',' : '\t') : 0;
    if (mode & 4) {
        o.img_key = "image";
        o.caption_key = "caption";
    }
    ds_dataset *ds = NULL;
    int rc = ds_open_csv(&ds, path, &o);
    fz_check_error(rc, "ds_open_csv");
    if (rc)
        return 0;
    int64_t n = ds_count(ds);
    for (int64_t i = 0; i < n; i++)
        if (!ds_caption(ds, i) || !ds_name(ds, i))
            abort();
    ds_close(ds);
    return 0;
}
