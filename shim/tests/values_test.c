/*
 * Exercises the value API from C on two models the test suite saves:
 *   MIXED:   forward(Tensor x, float scale, int n, bool flag, str name)
 *              -> (x * scale + n, {"n": n, "flag": int(flag)}, [name, name.upper()])
 *   COUNTER: forward(int step, Tensor x) -> (count, total), count += step, total += x;
 *            reset() -> None
 * Usage: tsrt-values-test MIXED.pt COUNTER.pt
 * Prints one line per failed check and a closing "N passed, N failed" line.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tsrt.h"


static int64_t get_int(const tsrt_value *value) {
    int64_t out = -999;
    CHECK(tsrt_value_get_int(value, &out) == TSRT_OK);
    return out;
}

static void test_mixed(const char *path) {
    tsrt_model *model = NULL;
    tsrt_value *args[5] = {NULL, NULL, NULL, NULL, NULL}, *result = NULL;
    tsrt_value *item = NULL, *key = NULL, *entry = NULL, *name = NULL;
    tsrt_tensor *tensor = NULL;
    float x[6] = {0, 1, 2, 3, 4, 5};
    const int64_t shape[2] = {2, 3};
    const float *out;
    const char *text = NULL, *schema = NULL;
    size_t size = 0, i;
    int64_t unused = 0;
    int ok = 1;

    CHECK(tsrt_model_load(path, NULL, &model) == TSRT_OK);
    if (!model) return;
    CHECK(tsrt_model_keeps_state(model) == 0);
    CHECK(tsrt_model_method_schema(model, "forward", &schema) == TSRT_OK);
    CHECK(schema && strstr(schema, "float scale, int n, bool flag, str name") != NULL);

    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 2, TSRT_TENSOR_BORROW, &args[0]) ==
          TSRT_OK);
    CHECK(tsrt_value_float(0.5, &args[1]) == TSRT_OK);
    CHECK(tsrt_value_int(3, &args[2]) == TSRT_OK);
    CHECK(tsrt_value_bool(1, &args[3]) == TSRT_OK);
    CHECK(tsrt_value_string("abc", 3, &args[4]) == TSRT_OK);
    CHECK(tsrt_value_get_kind(args[1]) == TSRT_VALUE_FLOAT);
    CHECK(strcmp(tsrt_value_type(args[0]), "Tensor") == 0);

    /* Too few arguments: a clean error quoting the schema. */
    CHECK(tsrt_model_run_method(model, "forward", args, 4, &result) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tsrt_last_error(), "schema") != NULL && result == NULL);
    CHECK(tsrt_model_run_method(model, "nope", args, 5, &result) == TSRT_ERR_NO_SUCH_NAME);

    CHECK(tsrt_model_run_method(model, "forward", args, 5, &result) == TSRT_OK);
    for (i = 0; i < 5; ++i) tsrt_value_free(args[i]);
    if (!result) return;
    CHECK(tsrt_value_get_kind(result) == TSRT_VALUE_TUPLE);
    CHECK(tsrt_value_length(result) == 3);

    CHECK(tsrt_value_get_item(result, 0, &item) == TSRT_OK);
    CHECK(tsrt_value_get_tensor(item, &tensor) == TSRT_OK);
    CHECK(tsrt_tensor_dtype(tensor) == TSRT_DTYPE_FLOAT32 && tsrt_tensor_numel(tensor) == 6);
    out = tsrt_tensor_data(tensor);
    for (i = 0; out && i < 6; ++i) ok &= out[i] == x[i] * 0.5f + 3.0f;
    CHECK(ok);
    tsrt_tensor_free(tensor);
    CHECK(tsrt_value_get_int(item, &unused) == TSRT_ERR_INVALID_ARGUMENT); /* wrong kind */
    tsrt_value_free(item);

    CHECK(tsrt_value_get_item(result, 1, &item) == TSRT_OK);
    CHECK(tsrt_value_get_kind(item) == TSRT_VALUE_DICT && tsrt_value_length(item) == 2);
    CHECK(tsrt_value_get_dict_item(item, 0, &key, &entry) == TSRT_OK);
    CHECK(tsrt_value_get_string(key, &text, &size) == TSRT_OK && strcmp(text, "n") == 0);
    CHECK(get_int(entry) == 3);
    tsrt_value_free(key);
    tsrt_value_free(entry);
    CHECK(tsrt_value_get_dict_item(item, 1, &key, &entry) == TSRT_OK);
    CHECK(tsrt_value_get_string(key, &text, &size) == TSRT_OK && strcmp(text, "flag") == 0);
    CHECK(get_int(entry) == 1);
    tsrt_value_free(key);
    tsrt_value_free(entry);
    CHECK(tsrt_value_get_dict_item(item, 2, &key, &entry) == TSRT_ERR_INVALID_ARGUMENT);
    tsrt_value_free(item);

    CHECK(tsrt_value_get_item(result, 2, &item) == TSRT_OK);
    CHECK(tsrt_value_get_kind(item) == TSRT_VALUE_LIST && tsrt_value_length(item) == 2);
    CHECK(tsrt_value_get_item(item, 1, &name) == TSRT_OK);
    CHECK(tsrt_value_get_string(name, &text, &size) == TSRT_OK && size == 3 &&
          strcmp(text, "ABC") == 0);
    tsrt_value_free(name);
    tsrt_value_free(item);
    CHECK(tsrt_value_get_item(result, 3, &item) == TSRT_ERR_INVALID_ARGUMENT);

    tsrt_value_free(result);
    tsrt_model_free(model);
}

static tsrt_value *counter_step(tsrt_model *model, int64_t step, const float *x) {
    const int64_t shape[1] = {3};
    tsrt_value *args[2] = {NULL, NULL}, *result = NULL;
    CHECK(tsrt_value_int(step, &args[0]) == TSRT_OK);
    /* Copied: the caller's array is reused between calls. */
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 1, TSRT_TENSOR_COPY, &args[1]) ==
          TSRT_OK);
    CHECK(tsrt_model_run_method(model, "forward", args, 2, &result) == TSRT_OK);
    tsrt_value_free(args[0]);
    tsrt_value_free(args[1]);
    return result;
}

static void test_counter(const char *path) {
    tsrt_model *model = NULL;
    tsrt_value *result = NULL, *count = NULL, *none = NULL;
    float x[3] = {1, 2, 3};
    int64_t step;

    CHECK(tsrt_model_load(path, NULL, &model) == TSRT_OK);
    if (!model) return;
    CHECK(tsrt_model_keeps_state(model) == 1);
    for (step = 1; step <= 4; ++step) tsrt_value_free(counter_step(model, step, x));
    result = counter_step(model, 0, x);
    CHECK(tsrt_value_get_item(result, 0, &count) == TSRT_OK);
    CHECK(get_int(count) == 10);
    tsrt_value_free(count);
    tsrt_value_free(result);

    CHECK(tsrt_model_run_method(model, "reset", NULL, 0, &none) == TSRT_OK);
    CHECK(tsrt_value_get_kind(none) == TSRT_VALUE_NONE);
    tsrt_value_free(none);
    result = counter_step(model, 5, x);
    CHECK(tsrt_value_get_item(result, 0, &count) == TSRT_OK);
    CHECK(get_int(count) == 5);
    tsrt_value_free(count);
    tsrt_value_free(result);
    tsrt_model_free(model);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tsrt-values-test MIXED.pt COUNTER.pt\n");
        return 2;
    }
    test_mixed(argv[1]);
    test_counter(argv[2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
