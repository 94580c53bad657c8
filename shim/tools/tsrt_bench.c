/*
 * tsrt-bench: times libtsrt from C, for scripts/bench.py.
 *
 *   tsrt-bench MODEL BATCH RUNS [PRECISION [WARMUP_BATCH]]
 *     Loads MODEL warmed up for WARMUP_BATCH (default BATCH) x 3 x 224 x 224 with PRECISION
 *     ("fp32", the default, "bf16" or "auto"), then times RUNS calls of tsrt_model_topk
 *     (forward + softmax + top-5) on random input of BATCH images. Prints JSON:
 *     {"load_ms", "fused", "precision", "first_ms", "ms": [...]}, first_ms being the first call
 *     after the load.
 *
 *   tsrt-bench --calls MODEL ROUNDS
 *     Times tsrt_model_run_tensor and tsrt_model_run_tensor_into on a 4-element float32 input
 *     (the model is any cheap one with a result of that shape, such as x + 1): ROUNDS rounds
 *     of 10,000 calls of each, interleaved, after a round unmeasured. Prints JSON
 *     {"us": [...], "into_us": [...]}, microseconds per call in each round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsrt.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int fail(void) {
    fprintf(stderr, "tsrt-bench: %s\n", tsrt_last_error());
    return 1;
}

/* Microseconds per call of 10,000 calls: tsrt_model_run_tensor (a result handed out and
 * freed) when `out` is NULL, else tsrt_model_run_tensor_into `out`. */
static double time_10000_calls(tsrt_model *model, float *out) {
    float input[4] = {0, 1, 2, 3};
    const int64_t shape[1] = {4};
    tsrt_value *result = NULL;
    tsrt_tensor_info info;
    double start = now_ms();
    long i;
    for (i = 0; i < 10000; ++i) {
        int status = out ? tsrt_model_run_tensor_into(model, "forward", input, TSRT_DTYPE_FLOAT32,
                                                      shape, 1, out, TSRT_DTYPE_FLOAT32, shape, 1)
                         : tsrt_model_run_tensor(model, "forward", input, TSRT_DTYPE_FLOAT32, shape,
                                                 1, &result, &info);
        if (status != TSRT_OK) return -1;
        if (!out) tsrt_value_free(result);
    }
    return (now_ms() - start) / 10.0;
}

static int time_calls(const char *path, long rounds) {
    tsrt_model *model = NULL;
    float out[4];
    double *us, *into_us;
    long round;

    if (tsrt_model_load(path, NULL, &model) != TSRT_OK) return fail();
    us = calloc(rounds + 1, sizeof *us);
    into_us = calloc(rounds + 1, sizeof *into_us);
    if (!us || !into_us) return 1;
    for (round = 0; round <= rounds; ++round) { /* round 0 warms up; the two interleave */
        us[round] = time_10000_calls(model, NULL);
        into_us[round] = time_10000_calls(model, out);
        if (us[round] < 0 || into_us[round] < 0) return fail();
    }
    printf("{\"us\": [");
    for (round = 1; round <= rounds; ++round) printf("%s%.4f", round > 1 ? ", " : "", us[round]);
    printf("], \"into_us\": [");
    for (round = 1; round <= rounds; ++round)
        printf("%s%.4f", round > 1 ? ", " : "", into_us[round]);
    printf("]}\n");
    free(us);
    free(into_us);
    tsrt_model_free(model);
    return 0;
}

static tsrt_precision parse_precision(const char *name) {
    if (strcmp(name, "bf16") == 0) return TSRT_PRECISION_BF16;
    if (strcmp(name, "auto") == 0) return TSRT_PRECISION_AUTO;
    return TSRT_PRECISION_FP32;
}

int main(int argc, char **argv) {
    tsrt_options *options = NULL;
    tsrt_model *model = NULL;
    int64_t shape[4] = {1, 3, 224, 224}, warm[4] = {1, 3, 224, 224}, *indices;
    float *input, *probs;
    double start, load_ms, first_ms = 0;
    long batch, runs, i, count;
    int run;

    if (argc == 4 && strcmp(argv[1], "--calls") == 0) return time_calls(argv[2], atol(argv[3]));
    if (argc < 4 || argc > 6) {
        fprintf(stderr,
                "usage: tsrt-bench MODEL BATCH RUNS [PRECISION [WARMUP_BATCH]]\n"
                "       tsrt-bench --calls MODEL ROUNDS\n");
        return 2;
    }
    batch = strtol(argv[2], NULL, 10);
    runs = strtol(argv[3], NULL, 10);
    if (batch < 1 || runs < 1) return 2;
    shape[0] = batch;
    warm[0] = argc == 6 ? strtol(argv[5], NULL, 10) : batch;
    count = batch * 3 * 224 * 224;
    input = malloc((size_t)count * sizeof(float));
    indices = malloc((size_t)batch * 5 * sizeof(int64_t));
    probs = malloc((size_t)batch * 5 * sizeof(float));
    if (!input || !indices || !probs) return 1;
    srand(0);
    for (i = 0; i < count; ++i) input[i] = (float)rand() / (float)RAND_MAX;

    start = now_ms();
    if (tsrt_options_new(&options) != TSRT_OK ||
        tsrt_options_add_warmup_shape(options, warm, 4) != TSRT_OK ||
        tsrt_options_set_precision(
            options, argc >= 5 ? parse_precision(argv[4]) : TSRT_PRECISION_FP32) != TSRT_OK ||
        tsrt_model_load(argv[1], options, &model) != TSRT_OK)
        return fail();
    load_ms = now_ms() - start;
    printf("{\"load_ms\": %.3f, \"fused\": %d, \"precision\": \"%s\", \"ms\": [", load_ms,
           (tsrt_model_run_flags(model) & TSRT_RUN_FUSED) != 0,
           tsrt_model_precision(model) == TSRT_PRECISION_BF16 ? "bf16" : "fp32");
    for (run = 0; run <= runs; ++run) {
        start = now_ms();
        if (tsrt_model_topk(model, input, shape, 4, 5, indices, probs, (size_t)batch * 5, NULL) !=
            TSRT_OK)
            return fail();
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
