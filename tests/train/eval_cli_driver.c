/* Runs `clipcl eval` (tools/cmd_eval.c) without the tool's dispatcher, so its
 * CLI test does not wait for the command table, plus `synth` to write the
 * test's labelled sets through io/synth.h:
 *   eval_cli_driver eval ARGS...
 *   eval_cli_driver synth OUT_DIR N N_HELDOUT SIZE SEED */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/synth.h"
#include "runtime/status.h"

int cmd_eval(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (argc == 7 && strcmp(argv[1], "synth") == 0) {
        synth_write_opts o = {.out_dir = argv[2], .n = atoll(argv[3]),
                              .n_heldout = atoll(argv[4]), .size = atoi(argv[5]),
                              .seed = strtoull(argv[6], NULL, 10), .holdout = 1};
        if (synth_write_dataset(&o) != CC_OK) {
            fprintf(stderr, "synth: %s\n", cc_last_error());
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: %s eval ARGS... | synth OUT N N_HELDOUT SIZE SEED\n", argv[0]);
    return 2;
}
