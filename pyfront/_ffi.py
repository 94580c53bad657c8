"""The cffi ABI-mode binding of libtsrt: the C declarations and the loaded library.

The declarations mirror shim/include/tsrt.h (a test checks that they match). The library is
the copy of libtsrt built into this package; PYFRONT_LIBRARY may name another build of it
(a sanitizer build, say).
"""
from __future__ import annotations

from cffi import FFI

from ._paths import library_path

CDEF = """
int tsrt_abi_version(void);
const char *tsrt_libtorch_version(void);

typedef enum tsrt_status {
    TSRT_OK = 0,
    TSRT_ERR_INVALID_ARGUMENT = -1,
    TSRT_ERR_NOT_FOUND = -2,
    TSRT_ERR_IO = -3,
    TSRT_ERR_BAD_MODEL = -4,
    TSRT_ERR_DEVICE = -5,
    TSRT_ERR_FORWARD = -6,
    TSRT_ERR_UNSUPPORTED = -7,
    TSRT_ERR_BUFFER_TOO_SMALL = -8,
    TSRT_ERR_OUT_OF_MEMORY = -9,
    TSRT_ERR_INTERNAL = -10,
    TSRT_ERR_NO_SUCH_NAME = -11,
    TSRT_ERR_TOO_LARGE = -12,
    TSRT_ERR_CLOSED = -13
} tsrt_status;

const char *tsrt_last_error(void);
const char *tsrt_status_name(int status);

int tsrt_set_num_threads(int n);
int tsrt_get_num_threads(void);
int tsrt_set_fusion(int enable);
int tsrt_get_fusion(void);
int tsrt_cpu_has_native_bf16(void);

typedef struct tsrt_options tsrt_options;
int tsrt_options_new(tsrt_options **out);
void tsrt_options_free(tsrt_options *options);
int tsrt_options_set_device(tsrt_options *options, const char *device);
int tsrt_options_set_max_file_size(tsrt_options *options, uint64_t bytes);
int tsrt_options_set_debug_info(tsrt_options *options, int enable);
int tsrt_options_set_freeze(tsrt_options *options, int enable);
int tsrt_options_set_warmup_runs(tsrt_options *options, int runs);
int tsrt_options_add_warmup_shape(tsrt_options *options, const int64_t *shape,
                                  size_t ndim);
int tsrt_options_clear_warmup_shapes(tsrt_options *options);
typedef enum tsrt_precision {
    TSRT_PRECISION_FP32 = 0,
    TSRT_PRECISION_BF16 = 1,
    TSRT_PRECISION_AUTO = 2
} tsrt_precision;
int tsrt_options_set_precision(tsrt_options *options, tsrt_precision precision);

typedef struct tsrt_model tsrt_model;
int tsrt_model_load(const char *path, const tsrt_options *options, tsrt_model **out);
int tsrt_model_load_buffer(const void *data, size_t size, const tsrt_options *options,
                           tsrt_model **out);
void tsrt_model_close(tsrt_model *model);
void tsrt_model_free(tsrt_model *model);
const char *tsrt_model_device(const tsrt_model *model);
int tsrt_model_precision(const tsrt_model *model);
const char *tsrt_model_precision_note(const tsrt_model *model);

typedef enum tsrt_dtype {
    TSRT_DTYPE_UNKNOWN = 0,
    TSRT_DTYPE_FLOAT32 = 1,
    TSRT_DTYPE_FLOAT64 = 2,
    TSRT_DTYPE_FLOAT16 = 3,
    TSRT_DTYPE_BFLOAT16 = 4,
    TSRT_DTYPE_INT64 = 5,
    TSRT_DTYPE_INT32 = 6,
    TSRT_DTYPE_INT16 = 7,
    TSRT_DTYPE_INT8 = 8,
    TSRT_DTYPE_UINT8 = 9,
    TSRT_DTYPE_BOOL = 10
} tsrt_dtype;

typedef struct tsrt_tensor tsrt_tensor;
void tsrt_tensor_free(tsrt_tensor *tensor);
tsrt_dtype tsrt_tensor_dtype(const tsrt_tensor *tensor);
size_t tsrt_tensor_ndim(const tsrt_tensor *tensor);
const int64_t *tsrt_tensor_shape(const tsrt_tensor *tensor);
int64_t tsrt_tensor_numel(const tsrt_tensor *tensor);
const void *tsrt_tensor_data(const tsrt_tensor *tensor);
size_t tsrt_tensor_nbytes(const tsrt_tensor *tensor);

int tsrt_model_forward(tsrt_model *model, const float *data, const int64_t *shape,
                       size_t ndim, tsrt_tensor **out);
int tsrt_tensor_softmax_topk(const tsrt_tensor *logits, int64_t k, int64_t *indices,
                             float *probs, size_t capacity);
int tsrt_model_topk(tsrt_model *model, const float *data, const int64_t *shape,
                    size_t ndim, int64_t k, int64_t *indices, float *probs,
                    size_t capacity, int64_t *out_rows);

int tsrt_model_keeps_state(const tsrt_model *model);

typedef struct tsrt_value tsrt_value;
typedef enum tsrt_value_kind {
    TSRT_VALUE_NONE = 0,
    TSRT_VALUE_TENSOR = 1,
    TSRT_VALUE_INT = 2,
    TSRT_VALUE_FLOAT = 3,
    TSRT_VALUE_BOOL = 4,
    TSRT_VALUE_STRING = 5,
    TSRT_VALUE_TUPLE = 6,
    TSRT_VALUE_LIST = 7,
    TSRT_VALUE_DICT = 8,
    TSRT_VALUE_OTHER = 9
} tsrt_value_kind;
void tsrt_value_free(tsrt_value *value);
int tsrt_value_none(tsrt_value **out);
int tsrt_value_int(int64_t v, tsrt_value **out);
int tsrt_value_float(double v, tsrt_value **out);
int tsrt_value_bool(int v, tsrt_value **out);
int tsrt_value_string(const char *data, size_t size, tsrt_value **out);
#define TSRT_TENSOR_BORROW 0
#define TSRT_TENSOR_COPY 1
int tsrt_value_tensor(const void *data, tsrt_dtype dtype, const int64_t *shape,
                      size_t ndim, unsigned flags, tsrt_value **out);
int tsrt_value_tuple(tsrt_value *const *items, size_t count, tsrt_value **out);
int tsrt_value_list(tsrt_value *const *items, size_t count, tsrt_value **out);
int tsrt_value_dict(tsrt_value *const *keys, tsrt_value *const *values, size_t count,
                    tsrt_value **out);
tsrt_value_kind tsrt_value_get_kind(const tsrt_value *value);
const char *tsrt_value_type(const tsrt_value *value);
int tsrt_value_get_int(const tsrt_value *value, int64_t *out);
int tsrt_value_get_float(const tsrt_value *value, double *out);
int tsrt_value_get_bool(const tsrt_value *value, int *out);
int tsrt_value_get_string(const tsrt_value *value, const char **data, size_t *size);
int tsrt_value_get_tensor(const tsrt_value *value, tsrt_tensor **out);
size_t tsrt_value_length(const tsrt_value *value);
int tsrt_value_get_item(const tsrt_value *value, size_t index, tsrt_value **out);
int tsrt_value_get_dict_item(const tsrt_value *value, size_t index, tsrt_value **key,
                             tsrt_value **item);

typedef struct tsrt_tensor_info {
    tsrt_dtype dtype;
    size_t ndim;
    const int64_t *shape;
    const void *data;
    size_t nbytes;
} tsrt_tensor_info;
int tsrt_model_run_tensor(tsrt_model *model, const char *name, const void *data,
                          tsrt_dtype dtype, const int64_t *shape, size_t ndim,
                          tsrt_value **out, tsrt_tensor_info *info);
int tsrt_model_run_method(tsrt_model *model, const char *name,
                          tsrt_value *const *args, size_t nargs, tsrt_value **out);
size_t tsrt_model_method_count(const tsrt_model *model);
const char *tsrt_model_method_name(const tsrt_model *model, size_t index);
int tsrt_model_method_schema(const tsrt_model *model, const char *name,
                             const char **out);
size_t tsrt_model_extra_file_count(const tsrt_model *model);
const char *tsrt_model_extra_file_name(const tsrt_model *model, size_t index);
int tsrt_model_extra_file(const tsrt_model *model, const char *name,
                          const void **data, size_t *size);
#define TSRT_RUN_FROZEN 1
#define TSRT_RUN_FUSED 2
int tsrt_model_run_flags(const tsrt_model *model);
int64_t tsrt_model_parameter_count(const tsrt_model *model);
"""

# The ABI version these declarations describe (TSRT_ABI_VERSION in tsrt.h).
ABI_VERSION = 3


def _open():
    path = library_path()
    if not path.exists():
        raise ImportError(
            f"pyfront: the shim library {path} is missing; build it with "
            f"'pip install --no-build-isolation -e .' or 'bash scripts/setup.sh'")
    library = ffi.dlopen(str(path))
    found = library.tsrt_abi_version()
    if found < ABI_VERSION:
        raise ImportError(f"pyfront: {path} implements ABI version {found}, "
                          f"pyfront needs {ABI_VERSION} or newer; rebuild the shim")
    return library


ffi = FFI()
ffi.cdef(CDEF)
lib = _open()
