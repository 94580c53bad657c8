/*
 * Checks libtsrt's C contract from C: NULL safety, untouched out-parameters on failure,
 * status codes, buffer capacities, and per-thread error messages under concurrent failures.
 * Usage: tsrt-abi-test MODEL.pt   (a classifier taking N x 3 x 224 x 224 input)
 * Prints one line per failed check and a closing "N passed, N failed" line.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tsrt.h"

/* Sentinels: a failing call must leave its out-parameters exactly as they were. */
#define UNTOUCHED_MODEL ((tsrt_model *)0x1)
#define UNTOUCHED_TENSOR ((tsrt_tensor *)0x1)
#define UNTOUCHED_ROWS ((int64_t)-777)
#define UNTOUCHED_PROB (-2.5f)

static void reset_topk_buffers(int64_t indices[10], float probs[10], int64_t *rows) {
    int i;
    for (i = 0; i < 10; ++i) {
        indices[i] = -1000 - i;
        probs[i] = UNTOUCHED_PROB;
    }
    *rows = UNTOUCHED_ROWS;
}

static int topk_buffers_untouched(const int64_t indices[10], const float probs[10],
                                  const int64_t *rows) {
    int i;
    for (i = 0; i < 10; ++i)
        if (indices[i] != -1000 - i || probs[i] != UNTOUCHED_PROB) return 0;
    return *rows == UNTOUCHED_ROWS;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *bytes;
    long length;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    length = ftell(f);
    fseek(f, 0, SEEK_SET);
    bytes = malloc((size_t)length);
    if (bytes && fread(bytes, 1, (size_t)length, f) != (size_t)length) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    *size = (size_t)length;
    return bytes;
}

static void test_versions_and_names(void) {
    CHECK(tsrt_abi_version() == TSRT_ABI_VERSION);
    CHECK(strlen(tsrt_libtorch_version()) > 0);
    CHECK(strcmp(tsrt_status_name(TSRT_ERR_NOT_FOUND), "TSRT_ERR_NOT_FOUND") == 0);
    CHECK(strcmp(tsrt_status_name(12345), "TSRT_UNKNOWN_STATUS") == 0);
}

static void test_null_safety(void) {
    tsrt_model *model = UNTOUCHED_MODEL; /* sentinel: must stay untouched on failure */
    tsrt_tensor *tensor = UNTOUCHED_TENSOR;
    int64_t shape[1] = {1};
    float data[1] = {0};
    tsrt_model_free(NULL);
    tsrt_tensor_free(NULL);
    tsrt_options_free(NULL);
    CHECK(tsrt_model_device(NULL) == NULL);
    CHECK(tsrt_model_format(NULL) == -1);
    CHECK(tsrt_tensor_ndim(NULL) == 0 && tsrt_tensor_data(NULL) == NULL);
    CHECK(tsrt_tensor_dtype(NULL) == TSRT_DTYPE_UNKNOWN && tsrt_tensor_nbytes(NULL) == 0);
    CHECK(tsrt_model_load(NULL, NULL, &model) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(strstr(tsrt_last_error(), "path is NULL") != NULL);
    CHECK(tsrt_model_load("x.pt", NULL, NULL) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_model_load_buffer(NULL, 10, NULL, &model) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_model_forward(NULL, data, shape, 1, &tensor) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tensor == UNTOUCHED_TENSOR);
    CHECK(tsrt_options_new(NULL) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_options_set_device(NULL, "cpu") == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_tensor_softmax_topk(NULL, 1, NULL, NULL, 0) == TSRT_ERR_INVALID_ARGUMENT);
}

/* The first member's local header of an AOTInductor package, and nothing after it: what is
 * left of a truncated package. Recognised as one by its layout, refused as truncated. */
static void test_truncated_package(void) {
    static const char name[] = "m/data/aotinductor/model/m.wrapper.so";
    unsigned char head[30 + sizeof name - 1] = {'P', 'K', 3, 4};
    tsrt_model *model = UNTOUCHED_MODEL;
    head[26] = (unsigned char)(sizeof name - 1);
    memcpy(head + 30, name, sizeof name - 1);
    CHECK(tsrt_model_load_buffer(head, sizeof head, NULL, &model) == TSRT_ERR_BAD_MODEL);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(strstr(tsrt_last_error(), "AOTInductor package") != NULL);
    CHECK(strstr(tsrt_last_error(), "truncated") != NULL);
}

static void test_load_errors(const char *path) {
    tsrt_model *model = UNTOUCHED_MODEL;
    tsrt_options *options = NULL;
    CHECK(tsrt_model_load("/no/such/model.pt", NULL, &model) == TSRT_ERR_NOT_FOUND);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(strstr(tsrt_last_error(), "/no/such/model.pt") != NULL);
    CHECK(strstr(tsrt_last_error(), "Exception raised from") == NULL);
    CHECK(tsrt_model_load("/", NULL, &model) == TSRT_ERR_IO);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_model_load("/dev/null", NULL, &model) == TSRT_ERR_IO); /* not a regular file */
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_model_load_buffer("not a zip file", 14, NULL, &model) == TSRT_ERR_BAD_MODEL);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_model_load_buffer("", 0, NULL, &model) == TSRT_ERR_BAD_MODEL);
    CHECK(model == UNTOUCHED_MODEL);
    test_truncated_package();
    CHECK(tsrt_options_new(&options) == TSRT_OK);
    if (!options) return;
    CHECK(tsrt_options_set_device(options, "not-a-device") == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_options_set_device(options, "cpu") == TSRT_OK);
    CHECK(strcmp(tsrt_last_error(), "") == 0); /* success clears the message */
    /* A file over the size limit is refused before it is read, from a path or a buffer. */
    CHECK(tsrt_options_set_max_file_size(options, 16) == TSRT_OK);
    CHECK(tsrt_model_load(path, options, &model) == TSRT_ERR_TOO_LARGE);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_model_load_buffer("0123456789abcdefg", 17, options, &model) == TSRT_ERR_TOO_LARGE);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_options_set_max_file_size(options, 0) == TSRT_OK);
    /* A device this machine lacks: CUDA where there is none, or an index past the last. */
    CHECK(tsrt_options_set_device(options, "cuda:99") == TSRT_OK);
    CHECK(tsrt_model_load(path, options, &model) == TSRT_ERR_DEVICE);
    CHECK(model == UNTOUCHED_MODEL);
    CHECK(tsrt_options_set_warmup_runs(options, 101) == TSRT_ERR_INVALID_ARGUMENT);
    tsrt_options_free(options);
}

static void test_precision(const char *path) {
    tsrt_options *options = NULL;
    tsrt_model *model = NULL;
    const int64_t shape[2] = {1, 8};
    int native = tsrt_cpu_has_native_bf16();
    CHECK(native == 0 || native == 1);
    CHECK(tsrt_model_precision(NULL) == -1);
    CHECK(tsrt_model_precision_note(NULL) == NULL);
    CHECK(tsrt_options_set_precision(NULL, TSRT_PRECISION_BF16) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_options_new(&options) == TSRT_OK);
    CHECK(tsrt_options_set_precision(options, (tsrt_precision)7) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tsrt_last_error(), "unknown precision 7") != NULL);
    CHECK(tsrt_options_set_precision(options, (tsrt_precision)-1) == TSRT_ERR_INVALID_ARGUMENT);
    /* The refused values left the default: fp32, nothing to say. */
    CHECK(tsrt_model_load(path, options, &model) == TSRT_OK);
    CHECK(tsrt_model_format(model) == TSRT_FORMAT_TORCHSCRIPT);
    CHECK(tsrt_model_precision(model) == TSRT_PRECISION_FP32);
    CHECK(tsrt_model_precision_note(model) != NULL && tsrt_model_precision_note(model)[0] == 0);
    tsrt_model_free(model);
    /* A warm-up shape the classifier rejects fails the load whatever the precision. */
    CHECK(tsrt_options_set_precision(options, TSRT_PRECISION_AUTO) == TSRT_OK);
    CHECK(tsrt_options_add_warmup_shape(options, shape, 2) == TSRT_OK);
    model = (tsrt_model *)0x1;
    CHECK(tsrt_model_load(path, options, &model) == TSRT_ERR_FORWARD);
    CHECK(model == (tsrt_model *)0x1);
    CHECK(tsrt_options_clear_warmup_shapes(options) == TSRT_OK);
    model = NULL;
    CHECK(tsrt_model_load(path, options, &model) == TSRT_OK);
    /* No warm-up: nothing to check bf16 with, so fp32, and the note says why (or, on a CPU
     * without native bf16, that auto picked fp32). */
    CHECK(tsrt_model_precision(model) == TSRT_PRECISION_FP32);
    CHECK(strstr(tsrt_model_precision_note(model), native ? "warm-up" : "no native bf16") != NULL);
    tsrt_model_free(model);
    tsrt_options_free(options);
}

static void test_inference(const char *path) {
    size_t size = 0, i;
    unsigned char *bytes = read_file(path, &size);
    tsrt_model *from_file = NULL, *from_buffer = NULL;
    tsrt_tensor *logits = NULL, *untouched = UNTOUCHED_TENSOR;
    const int64_t shape[4] = {2, 3, 224, 224}, bad_shape[4] = {2, 3, -1, 224};
    const int64_t huge_shape[4] = {INT64_MAX, 2, 2, 2};
    size_t count = 2 * 3 * 224 * 224;
    float *input = malloc(count * sizeof(float));
    int64_t indices[10], indices2[10], rows = -1;
    float probs[10], probs2[10];

    CHECK(bytes != NULL && input != NULL);
    if (!bytes || !input) return;
    for (i = 0; i < count; ++i) input[i] = (float)((i * 7919) % 1000) / 1000.0f;

    CHECK(tsrt_model_load(path, NULL, &from_file) == TSRT_OK);
    CHECK(tsrt_model_load_buffer(bytes, size, NULL, &from_buffer) == TSRT_OK);
    memset(bytes, 0, size); /* the buffer was only borrowed during the load */
    free(bytes);
    if (!from_file || !from_buffer) return;
    CHECK(strcmp(tsrt_model_device(from_file), "cpu") == 0);

    CHECK(tsrt_model_forward(from_file, input, shape, 4, &logits) == TSRT_OK);
    CHECK(tsrt_tensor_dtype(logits) == TSRT_DTYPE_FLOAT32);
    CHECK(tsrt_tensor_ndim(logits) == 2);
    CHECK(tsrt_tensor_shape(logits)[0] == 2 && tsrt_tensor_shape(logits)[1] == 1000);
    CHECK(tsrt_tensor_numel(logits) == 2000);
    CHECK(tsrt_tensor_nbytes(logits) == 2000 * sizeof(float));

    /* Every failing softmax + top-k leaves both buffers as they were. */
    reset_topk_buffers(indices, probs, &rows);
    CHECK(tsrt_tensor_softmax_topk(logits, 5, indices, probs, 9) == TSRT_ERR_BUFFER_TOO_SMALL);
    CHECK(topk_buffers_untouched(indices, probs, &rows));
    CHECK(tsrt_tensor_softmax_topk(logits, 0, indices, probs, 10) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices, probs, &rows));
    CHECK(tsrt_tensor_softmax_topk(logits, 1001, indices, probs, 10) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices, probs, &rows));
    CHECK(tsrt_tensor_softmax_topk(logits, 5, indices, probs, 10) == TSRT_OK);
    CHECK(probs[0] >= probs[1] && probs[1] >= probs[4] && probs[5] >= probs[9]);

    /* The fused call and the buffer-loaded model give the same answer. */
    CHECK(tsrt_model_topk(from_buffer, input, shape, 4, 5, indices2, probs2, 10, &rows) == TSRT_OK);
    CHECK(rows == 2);
    CHECK(memcmp(indices, indices2, sizeof indices) == 0);
    CHECK(memcmp(probs, probs2, sizeof probs) == 0);

    /* Every failing tsrt_model_topk leaves indices, probs and the row count untouched: bad
     * shapes, a shape the model rejects, k out of range, buffers too small, no model. */
    reset_topk_buffers(indices2, probs2, &rows);
    CHECK(tsrt_model_topk(from_file, input, bad_shape, 4, 5, indices2, probs2, 10, &rows) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(tsrt_model_topk(from_file, input, shape, 3, 5, indices2, probs2, 10, &rows) ==
          TSRT_ERR_FORWARD);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(tsrt_model_topk(from_file, input, shape, 4, 0, indices2, probs2, 10, &rows) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(tsrt_model_topk(from_file, input, shape, 4, 1001, indices2, probs2, 10, &rows) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(tsrt_model_topk(from_file, input, shape, 4, 5, indices2, probs2, 9, &rows) ==
          TSRT_ERR_BUFFER_TOO_SMALL);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(tsrt_model_topk(NULL, input, shape, 4, 5, indices2, probs2, 10, &rows) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));

    /* Malformed shapes are rejected before libtorch sees them. */
    CHECK(tsrt_model_forward(from_file, input, bad_shape, 4, &untouched) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(untouched == UNTOUCHED_TENSOR);
    CHECK(tsrt_model_forward(from_file, input, huge_shape, 4, &untouched) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(untouched == UNTOUCHED_TENSOR);
    CHECK(strstr(tsrt_last_error(), "overflows") != NULL);
    CHECK(tsrt_model_forward(from_file, input, shape, 65, &untouched) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(untouched == UNTOUCHED_TENSOR);
    CHECK(tsrt_model_forward(from_file, NULL, shape, 4, &untouched) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(untouched == UNTOUCHED_TENSOR);
    /* A shape the model rejects fails in forward, with the shape in the message. */
    CHECK(tsrt_model_forward(from_file, input, shape, 3, &untouched) == TSRT_ERR_FORWARD);
    CHECK(strstr(tsrt_last_error(), "[2, 3, 224]") != NULL);
    CHECK(untouched == UNTOUCHED_TENSOR);

    /* A closed model refuses every call and leaves every out-parameter alone. */
    tsrt_model_close(from_buffer);
    untouched = UNTOUCHED_TENSOR;
    CHECK(tsrt_model_forward(from_buffer, input, shape, 4, &untouched) == TSRT_ERR_CLOSED);
    CHECK(untouched == UNTOUCHED_TENSOR);
    CHECK(tsrt_model_topk(from_buffer, input, shape, 4, 5, indices2, probs2, 10, &rows) ==
          TSRT_ERR_CLOSED);
    CHECK(topk_buffers_untouched(indices2, probs2, &rows));
    CHECK(strcmp(tsrt_model_device(from_buffer), "cpu") == 0); /* introspection still works */
    tsrt_model_close(from_buffer);                             /* closing twice is harmless */

    tsrt_tensor_free(logits);
    tsrt_model_free(from_file);
    tsrt_model_free(from_buffer);
    free(input);
}

static void test_threads_setting(void) {
    int before = tsrt_get_num_threads();
    CHECK(before >= 1);
    CHECK(tsrt_set_num_threads(0) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(tsrt_set_num_threads(1) == TSRT_OK && tsrt_get_num_threads() == 1);
    CHECK(tsrt_set_num_threads(before) == TSRT_OK);
}

/* Two threads fail at the same time, over and over, with different messages: each must
 * always read its own. */
struct failing_thread {
    const char *path;
    int mismatches;
};

static void *fail_repeatedly(void *arg) {
    struct failing_thread *self = arg;
    tsrt_model *model = NULL;
    int i;
    for (i = 0; i < 500; ++i) {
        if (tsrt_model_load(self->path, NULL, &model) != TSRT_ERR_NOT_FOUND ||
            strstr(tsrt_last_error(), self->path) == NULL)
            ++self->mismatches;
    }
    return NULL;
}

static void test_error_per_thread(void) {
    struct failing_thread a = {"/missing/model-a.pt", 0}, b = {"/missing/model-b.pt", 0};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, fail_repeatedly, &a) == 0);
    CHECK(pthread_create(&tb, NULL, fail_repeatedly, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.mismatches == 0 && b.mismatches == 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: tsrt-abi-test MODEL.pt\n");
        return 2;
    }
    test_versions_and_names();
    test_null_safety();
    test_load_errors(argv[1]);
    test_inference(argv[1]);
    test_precision(argv[1]);
    test_threads_setting();
    test_error_per_thread();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
