/*
 * tsrt-bench: times libtsrt from C, for scripts/bench.py.
 * Usage: tsrt-bench MODEL BATCH RUNS
 * Loads MODEL warmed up for BATCH x 3 x 224 x 224, then times RUNS calls of tsrt_model_topk
 * (forward + softmax + top-5) on random input. Prints JSON: {"load_ms", "first_ms", "ms": [...]}
 * where first_ms is the first call after the load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tsrt.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    tsrt_options *options = NULL;
    tsrt_model *model = NULL;
    int64_t shape[4] = {1, 3, 224, 224}, *indices;
    float *input, *probs;
    double start, load_ms, first_ms = 0;
    long batch, runs, i, count;
    int run;

    if (argc != 4) {
        fprintf(stderr, "usage: tsrt-bench MODEL BATCH RUNS\n");
        return 2;
    }
    batch = strtol(argv[2], NULL, 10);
    runs = strtol(argv[3], NULL, 10);
    if (batch < 1 || runs < 1) return 2;
    shape[0] = batch;
    count = batch * 3 * 224 * 224;
    input = malloc((size_t)count * sizeof(float));
    indices = malloc((size_t)batch * 5 * sizeof(int64_t));
    probs = malloc((size_t)batch * 5 * sizeof(float));
    if (!input || !indices || !probs) return 1;
    srand(0);
    for (i = 0; i < count; ++i) input[i] = (float)rand() / (float)RAND_MAX;

    start = now_ms();
    if (tsrt_options_new(&options) != TSRT_OK ||
        tsrt_options_add_warmup_shape(options, shape, 4) != TSRT_OK ||
        tsrt_model_load(argv[1], options, &model) != TSRT_OK) {
        fprintf(stderr, "tsrt-bench: %s\n", tsrt_last_error());
        return 1;
    }
    load_ms = now_ms() - start;
    printf("{\"load_ms\": %.3f, \"fused\": %d, \"ms\": [", load_ms,
           (tsrt_model_run_flags(model) & TSRT_RUN_FUSED) != 0);
    for (run = 0; run <= runs; ++run) {
        start = now_ms();
        if (tsrt_model_topk(model, input, shape, 4, 5, indices, probs,
                            (size_t)batch * 5, NULL) != TSRT_OK) {
            fprintf(stderr, "tsrt-bench: %s\n", tsrt_last_error());
            return 1;
        }
        if (run == 0) {
            first_ms = now_ms() - start;
            continue;
        }
        printf("%s%.4f", run > 1 ? ", " : "", now_ms() - start);
    }
    printf("], \"first_ms\": %.3f}\n", first_ms);
    tsrt_model_free(model);
    tsrt_options_free(options);
    free(input);
    free(indices);
    free(probs);
    return 0;
}
