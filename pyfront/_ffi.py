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
    TSRT_ERR_INTERNAL = -10
} tsrt_status;

const char *tsrt_last_error(void);
const char *tsrt_status_name(int status);

int tsrt_set_num_threads(int n);
int tsrt_get_num_threads(void);

typedef struct tsrt_options tsrt_options;
int tsrt_options_new(tsrt_options **out);
void tsrt_options_free(tsrt_options *options);
int tsrt_options_set_device(tsrt_options *options, const char *device);

typedef struct tsrt_model tsrt_model;
int tsrt_model_load(const char *path, const tsrt_options *options, tsrt_model **out);
int tsrt_model_load_buffer(const void *data, size_t size, const tsrt_options *options,
                           tsrt_model **out);
void tsrt_model_free(tsrt_model *model);
const char *tsrt_model_device(const tsrt_model *model);

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
"""

# The ABI version these declarations describe (TSRT_ABI_VERSION in tsrt.h).
ABI_VERSION = 1


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
