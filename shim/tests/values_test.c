/*
 * Exercises the value API from C on two models the test suite saves:
 *   MIXED:   forward(Tensor x, float scale, int n, bool flag, str name)
 *              -> (x * scale + n, {"n": n, "flag": int(flag)}, [name, name.upper()])
 *   COUNTER: forward(int step, Tensor x) -> (count, total), count += step, total += x;
 *            reset() -> None
 *   ALIASES: forward(x) -> x, flat(x) -> x.view(-1), first(x) -> x[0], transposed(x) -> x.t(),
 *            nested(x) -> (x, [x[0], x]): results that alias the input (also written into
 *            caller buffers with tsrt_model_run_tensor_into)
 * Usage: tsrt-values-test MIXED.pt COUNTER.pt ALIASES.pt
 * Prints one line per failed check and a closing "N passed, N failed" line.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tsrt.h"

/* Sentinels: a failing call must leave its out-parameters exactly as they were. */
#define UNTOUCHED_VALUE ((tsrt_value *)0x1)
#define UNTOUCHED_TENSOR ((tsrt_tensor *)0x1)
#define UNTOUCHED_TEXT ((const char *)0x1)
#define UNTOUCHED_SIZE ((size_t)777)

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
    CHECK(tsrt_model_run_method(model, "forward", args, 4, &result) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tsrt_last_error(), "schema") != NULL && result == NULL);
    CHECK(tsrt_model_run_method(model, "nope", args, 5, &result) == TSRT_ERR_NO_SUCH_NAME);
    CHECK(result == NULL);
    {
        /* Arguments of the wrong type: a str where the float is declared. */
        tsrt_value *swapped[5] = {args[0], args[4], args[2], args[3], args[4]};
        CHECK(tsrt_model_run_method(model, "forward", swapped, 5, &result) ==
              TSRT_ERR_INVALID_ARGUMENT);
        CHECK(result == NULL);
    }

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
    unused = -777;
    CHECK(tsrt_value_get_int(item, &unused) == TSRT_ERR_INVALID_ARGUMENT); /* wrong kind */
    CHECK(unused == -777);
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

/* Every accessor, on a value of each other kind, fails with TSRT_ERR_INVALID_ARGUMENT and
 * writes nothing. */
static void check_accessors_refuse(const tsrt_value *value, tsrt_value_kind kind) {
    int64_t i = -777;
    double f = -777.0;
    int b = -777;
    const char *text = UNTOUCHED_TEXT;
    size_t size = UNTOUCHED_SIZE;
    tsrt_tensor *tensor = UNTOUCHED_TENSOR;
    tsrt_value *item = UNTOUCHED_VALUE, *key = UNTOUCHED_VALUE;

    if (kind != TSRT_VALUE_INT) {
        CHECK(tsrt_value_get_int(value, &i) == TSRT_ERR_INVALID_ARGUMENT && i == -777);
    }
    if (kind != TSRT_VALUE_FLOAT) {
        CHECK(tsrt_value_get_float(value, &f) == TSRT_ERR_INVALID_ARGUMENT && f == -777.0);
    }
    if (kind != TSRT_VALUE_BOOL) {
        CHECK(tsrt_value_get_bool(value, &b) == TSRT_ERR_INVALID_ARGUMENT && b == -777);
    }
    if (kind != TSRT_VALUE_STRING) {
        CHECK(tsrt_value_get_string(value, &text, &size) == TSRT_ERR_INVALID_ARGUMENT);
        CHECK(text == UNTOUCHED_TEXT && size == UNTOUCHED_SIZE);
    }
    if (kind != TSRT_VALUE_TENSOR) {
        CHECK(tsrt_value_get_tensor(value, &tensor) == TSRT_ERR_INVALID_ARGUMENT);
        CHECK(tensor == UNTOUCHED_TENSOR);
    }
    if (kind != TSRT_VALUE_TUPLE && kind != TSRT_VALUE_LIST) {
        CHECK(tsrt_value_get_item(value, 0, &item) == TSRT_ERR_INVALID_ARGUMENT);
        CHECK(item == UNTOUCHED_VALUE);
    }
    if (kind != TSRT_VALUE_DICT) {
        CHECK(tsrt_value_get_dict_item(value, 0, &key, &item) == TSRT_ERR_INVALID_ARGUMENT);
        CHECK(key == UNTOUCHED_VALUE && item == UNTOUCHED_VALUE);
    }
}

static void test_failing_value_calls_leave_outs_untouched(void) {
    float x[2] = {1, 2};
    const int64_t shape[1] = {2}, negative[1] = {-2};
    tsrt_value *none = NULL, *i = NULL, *f = NULL, *b = NULL, *s = NULL, *t = NULL;
    tsrt_value *tuple = NULL, *list = NULL, *dict = NULL, *out = UNTOUCHED_VALUE;
    tsrt_value *key = UNTOUCHED_VALUE, *item = UNTOUCHED_VALUE;
    tsrt_value *with_null[2];

    CHECK(tsrt_value_none(&none) == TSRT_OK);
    CHECK(tsrt_value_int(7, &i) == TSRT_OK);
    CHECK(tsrt_value_float(1.5, &f) == TSRT_OK);
    CHECK(tsrt_value_bool(1, &b) == TSRT_OK);
    CHECK(tsrt_value_string("ab", 2, &s) == TSRT_OK);
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 1, TSRT_TENSOR_COPY, &t) == TSRT_OK);
    {
        tsrt_value *items[2] = {i, s}, *keys[1] = {s}, *values[1] = {t};
        CHECK(tsrt_value_tuple(items, 2, &tuple) == TSRT_OK);
        CHECK(tsrt_value_list(items, 2, &list) == TSRT_OK);
        CHECK(tsrt_value_dict(keys, values, 1, &dict) == TSRT_OK);
    }
    check_accessors_refuse(none, TSRT_VALUE_NONE);
    check_accessors_refuse(i, TSRT_VALUE_INT);
    check_accessors_refuse(f, TSRT_VALUE_FLOAT);
    check_accessors_refuse(b, TSRT_VALUE_BOOL);
    check_accessors_refuse(s, TSRT_VALUE_STRING);
    check_accessors_refuse(t, TSRT_VALUE_TENSOR);
    check_accessors_refuse(tuple, TSRT_VALUE_TUPLE);
    check_accessors_refuse(list, TSRT_VALUE_LIST);
    check_accessors_refuse(dict, TSRT_VALUE_DICT);
    check_accessors_refuse(NULL, TSRT_VALUE_OTHER); /* NULL is no value of any kind */

    /* Indices past the end. */
    CHECK(tsrt_value_get_item(tuple, 2, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_get_item(list, 2, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_get_dict_item(dict, 1, &key, &item) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(key == UNTOUCHED_VALUE && item == UNTOUCHED_VALUE);

    /* Constructors refusing their input. */
    CHECK(tsrt_value_tensor(x, (tsrt_dtype)99, shape, 1, TSRT_TENSOR_BORROW, &out) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 1, 8u, &out) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, negative, 1, TSRT_TENSOR_COPY, &out) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_tensor(NULL, TSRT_DTYPE_FLOAT32, shape, 1, TSRT_TENSOR_COPY, &out) ==
          TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_string(NULL, 3, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    with_null[0] = i;
    with_null[1] = NULL;
    CHECK(tsrt_value_tuple(with_null, 2, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_value_list(NULL, 2, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    {
        tsrt_value *keys[1] = {list}, *values[1] = {i};
        CHECK(tsrt_value_dict(keys, values, 1, &out) == TSRT_ERR_INVALID_ARGUMENT);
        CHECK(strstr(tsrt_last_error(), "dict keys") != NULL);
        CHECK(out == UNTOUCHED_VALUE);
    }

    tsrt_value_free(none);
    tsrt_value_free(i);
    tsrt_value_free(f);
    tsrt_value_free(b);
    tsrt_value_free(s);
    tsrt_value_free(t);
    tsrt_value_free(tuple);
    tsrt_value_free(list);
    tsrt_value_free(dict);
}

static int points_into(const void *pointer, const void *buffer, size_t size) {
    uintptr_t p = (uintptr_t)pointer, start = (uintptr_t)buffer;
    return pointer != NULL && p >= start && p < start + size;
}

/* A tensor result: its data must not lie in `buffer`, and must still equal `expected` (n
 * floats) after the caller has overwritten the buffer. */
static void check_not_aliased(const tsrt_value *value, float *buffer, size_t size,
                              const float *expected, size_t n) {
    tsrt_tensor *tensor = NULL;
    const float *data;
    size_t i;
    int same = 1;
    CHECK(tsrt_value_get_tensor(value, &tensor) == TSRT_OK);
    if (!tensor) return;
    data = tsrt_tensor_data(tensor);
    CHECK(!points_into(data, buffer, size));
    CHECK(tsrt_tensor_numel(tensor) == (int64_t)n);
    for (i = 0; i < size / sizeof(float); ++i) buffer[i] = -1.0f;
    for (i = 0; data && i < n; ++i) same &= data[i] == expected[i];
    CHECK(same);
    tsrt_tensor_free(tensor);
}

/* Results of models that return their input, or views of it, never point into the caller's
 * borrowed memory: through tsrt_model_run_tensor and through tsrt_model_run_method. */
static void test_results_never_alias_borrowed_input(const char *path) {
    static const float original[6] = {0, 1, 2, 3, 4, 5}, transposed[6] = {0, 3, 1, 4, 2, 5};
    static const char *const methods[4] = {"forward", "flat", "first", "transposed"};
    static const size_t sizes[4] = {6, 6, 3, 6};
    float x[6];
    const int64_t shape[2] = {2, 3};
    tsrt_model *model = NULL;
    tsrt_value *result = NULL, *arg = NULL, *item = NULL, *inner = NULL;
    tsrt_tensor_info info;
    size_t m, i;

    CHECK(tsrt_model_load(path, NULL, &model) == TSRT_OK);
    if (!model) return;
    CHECK(tsrt_model_keeps_state(model) == 0); /* inputs are lent, not copied */
    for (m = 0; m < 4; ++m) {
        const float *expected = m == 3 ? transposed : original;
        int same = 1;
        memcpy(x, original, sizeof x);
        CHECK(tsrt_model_run_tensor(model, methods[m], x, TSRT_DTYPE_FLOAT32, shape, 2, &result,
                                    &info) == TSRT_OK);
        if (!result) continue;
        CHECK(info.dtype == TSRT_DTYPE_FLOAT32 && info.nbytes == sizes[m] * sizeof(float));
        CHECK(!points_into(info.data, x, sizeof x));
        for (i = 0; i < sizeof x / sizeof x[0]; ++i) x[i] = -1.0f;
        for (i = 0; info.data && i < sizes[m]; ++i)
            same &= ((const float *)info.data)[i] == expected[i];
        CHECK(same);
        memcpy(x, original, sizeof x);
        check_not_aliased(result, x, sizeof x, expected, sizes[m]);
        tsrt_value_free(result);
        result = NULL;
    }

    /* nested(x) -> (x, [x[0], x]), the input lent with TSRT_TENSOR_BORROW. */
    memcpy(x, original, sizeof x);
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 2, TSRT_TENSOR_BORROW, &arg) == TSRT_OK);
    CHECK(tsrt_model_run_method(model, "nested", &arg, 1, &result) == TSRT_OK);
    if (result) {
        CHECK(tsrt_value_get_item(result, 0, &item) == TSRT_OK);
        check_not_aliased(item, x, sizeof x, original, 6);
        tsrt_value_free(item);
        memcpy(x, original, sizeof x);
        CHECK(tsrt_value_get_item(result, 1, &item) == TSRT_OK);
        for (i = 0; i < 2; ++i) {
            CHECK(tsrt_value_get_item(item, i, &inner) == TSRT_OK);
            check_not_aliased(inner, x, sizeof x, original, i == 0 ? 3 : 6);
            memcpy(x, original, sizeof x);
            tsrt_value_free(inner);
        }
        tsrt_value_free(item);
    }
    tsrt_value_free(result);
    tsrt_value_free(arg);
    tsrt_model_free(model);
}

/* Every failing call on a model leaves *out (and *info) as they were: unknown methods, bad
 * arguments, bad dtypes and shapes, a method that raises, and a closed model. */
static void test_failing_calls_leave_outs_untouched(const char *path) {
    float x[6] = {0, 1, 2, 3, 4, 5};
    const int64_t shape[2] = {2, 3}, negative[2] = {2, -3};
    tsrt_model *model = NULL;
    tsrt_value *out = UNTOUCHED_VALUE, *arg = NULL, *null_arg = NULL;
    tsrt_tensor_info info, untouched_info;
    const char *schema = UNTOUCHED_TEXT;
    const void *data = UNTOUCHED_TEXT;
    size_t size = UNTOUCHED_SIZE;

    memset(&untouched_info, 0x5a, sizeof untouched_info);
    memcpy(&info, &untouched_info, sizeof info);
    CHECK(tsrt_model_load(path, NULL, &model) == TSRT_OK);
    if (!model) return;
    CHECK(tsrt_value_tensor(x, TSRT_DTYPE_FLOAT32, shape, 2, TSRT_TENSOR_BORROW, &arg) == TSRT_OK);

#define CHECK_RUN_TENSOR_FAILS(status, name, dtype, shape_, ndim)                          \
    do {                                                                                   \
        CHECK(tsrt_model_run_tensor(model, name, x, dtype, shape_, ndim, &out, &info) ==   \
              (status));                                                                   \
        CHECK(out == UNTOUCHED_VALUE && memcmp(&info, &untouched_info, sizeof info) == 0); \
    } while (0)

    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_NO_SUCH_NAME, "nope", TSRT_DTYPE_FLOAT32, shape, 2);
    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", (tsrt_dtype)99, shape, 2);
    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", TSRT_DTYPE_FLOAT32, negative, 2);
    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", TSRT_DTYPE_FLOAT32, shape, 65);
    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_FORWARD, "first", TSRT_DTYPE_FLOAT32, shape, 0); /* 0-d[0] */
    CHECK(strstr(tsrt_last_error(), "first failed on (Float[])") != NULL);

    CHECK(tsrt_model_run_method(model, "nope", &arg, 1, &out) == TSRT_ERR_NO_SUCH_NAME);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_model_run_method(model, "forward", NULL, 0, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_model_run_method(model, "forward", &null_arg, 1, &out) == TSRT_ERR_INVALID_ARGUMENT);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK(tsrt_model_method_schema(model, "nope", &schema) == TSRT_ERR_NO_SUCH_NAME);
    CHECK(schema == UNTOUCHED_TEXT);
    CHECK(tsrt_model_extra_file(model, "nope", &data, &size) == TSRT_ERR_NO_SUCH_NAME);
    CHECK(data == (const void *)UNTOUCHED_TEXT && size == UNTOUCHED_SIZE);

    tsrt_model_close(model);
    CHECK(tsrt_model_run_method(model, "forward", &arg, 1, &out) == TSRT_ERR_CLOSED);
    CHECK(out == UNTOUCHED_VALUE);
    CHECK_RUN_TENSOR_FAILS(TSRT_ERR_CLOSED, "forward", TSRT_DTYPE_FLOAT32, shape, 2);
    CHECK(tsrt_model_method_schema(model, "forward", &schema) == TSRT_OK); /* still answers */
#undef CHECK_RUN_TENSOR_FAILS

    tsrt_value_free(arg);
    tsrt_model_free(model);
}

static int all_equal(const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* tsrt_model_run_tensor_into: results (strided ones too) land C-contiguous in the caller's
 * buffer, which may be the input itself; any call that fails leaves the buffer untouched. */
static void test_run_tensor_into(const char *path) {
    static const float original[6] = {0, 1, 2, 3, 4, 5}, transposed[6] = {0, 3, 1, 4, 2, 5};
    static const float sentinel[6] = {-1, -1, -1, -1, -1, -1};
    float x[6], out[6];
    const int64_t shape[2] = {2, 3}, result_shape[2] = {3, 2}, flat[1] = {6};
    const int64_t negative[2] = {3, -2}, empty[2] = {0, 3};
    tsrt_model *model = NULL;

    CHECK(tsrt_model_load(path, NULL, &model) == TSRT_OK);
    if (!model) return;
    memcpy(x, original, sizeof x);
    CHECK(tsrt_model_run_tensor_into(model, "transposed", x, TSRT_DTYPE_FLOAT32, shape, 2, out,
                                     TSRT_DTYPE_FLOAT32, result_shape, 2) == TSRT_OK);
    CHECK(all_equal(out, transposed, 6));
    CHECK(all_equal(x, original, 6));
    CHECK(tsrt_model_run_tensor_into(model, "transposed", x, TSRT_DTYPE_FLOAT32, shape, 2, x,
                                     TSRT_DTYPE_FLOAT32, result_shape,
                                     2) == TSRT_OK); /* out is x */
    CHECK(all_equal(x, transposed, 6));
    CHECK(tsrt_model_run_tensor_into(model, "forward", NULL, TSRT_DTYPE_FLOAT32, empty, 2, NULL,
                                     TSRT_DTYPE_FLOAT32, empty, 2) == TSRT_OK);

#define CHECK_INTO_FAILS(status, name, out_, out_dtype, out_shape, out_ndim, text)           \
    do {                                                                                     \
        memcpy(out, sentinel, sizeof out);                                                   \
        CHECK(tsrt_model_run_tensor_into(model, name, x, TSRT_DTYPE_FLOAT32, shape, 2, out_, \
                                         out_dtype, out_shape, out_ndim) == (status));       \
        CHECK(all_equal(out, sentinel, 6));                                                  \
        CHECK(strstr(tsrt_last_error(), text) != NULL);                                      \
    } while (0)

    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "transposed", out, TSRT_DTYPE_FLOAT32, shape, 2,
                     "transposed returned Float[3, 2] but out is Float[2, 3]");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "transposed", out, TSRT_DTYPE_INT32, result_shape,
                     2, "but out is Int[3, 2]");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "transposed", out, TSRT_DTYPE_FLOAT32, flat, 1,
                     "but out is Float[6]");
    CHECK_INTO_FAILS(TSRT_ERR_UNSUPPORTED, "nested", out, TSRT_DTYPE_FLOAT32, shape, 2,
                     "nested returned a (Tensor, Tensor[]), not one tensor, so there is nothing");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", NULL, TSRT_DTYPE_FLOAT32, shape, 2,
                     "out is NULL");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", out, TSRT_DTYPE_FLOAT32, NULL, 2,
                     "out_shape is NULL");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", out, TSRT_DTYPE_FLOAT32, negative, 2,
                     "out buffer dimension 1 has negative size -2");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", out, TSRT_DTYPE_FLOAT32, shape, 65,
                     "the out buffer has more than 64 dimensions");
    CHECK_INTO_FAILS(TSRT_ERR_INVALID_ARGUMENT, "forward", out, (tsrt_dtype)99, shape, 2,
                     "unknown dtype code 99 for out");
    CHECK_INTO_FAILS(TSRT_ERR_NO_SUCH_NAME, "nope", out, TSRT_DTYPE_FLOAT32, shape, 2, "nope");
    CHECK(tsrt_model_run_tensor_into(NULL, "forward", x, TSRT_DTYPE_FLOAT32, shape, 2, out,
                                     TSRT_DTYPE_FLOAT32, shape, 2) == TSRT_ERR_INVALID_ARGUMENT);
    tsrt_model_close(model);
    CHECK_INTO_FAILS(TSRT_ERR_CLOSED, "forward", out, TSRT_DTYPE_FLOAT32, shape, 2, "closed");
#undef CHECK_INTO_FAILS
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
    if (argc != 4) {
        fprintf(stderr, "usage: tsrt-values-test MIXED.pt COUNTER.pt ALIASES.pt\n");
        return 2;
    }
    test_mixed(argv[1]);
    test_counter(argv[2]);
    test_failing_value_calls_leave_outs_untouched();
    test_results_never_alias_borrowed_input(argv[3]);
    test_failing_calls_leave_outs_untouched(argv[3]);
    test_run_tensor_into(argv[3]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
