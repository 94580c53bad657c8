/*
 * tsrt.h — the C ABI of the TorchScript runtime shim (libtsrt).
 *
 * Loads a TorchScript file saved by `torch.jit.save` / `ScriptModule.save`, runs its `forward`
 * on caller memory, and computes softmax + top-k, without the Python PyTorch stack. Plain C99,
 * usable from C++ and from any language with a C FFI.
 *
 * Conventions, true of every function below unless its comment says otherwise:
 *
 *   - Everything is prefixed `tsrt_` / `TSRT_`. Handles are opaque; each has one constructor
 *     and one free function, and every free function accepts NULL and does nothing with it.
 *   - Fallible functions return `int`: TSRT_OK (0) on success or a negative `tsrt_status`.
 *     On failure, out-parameters are left untouched and `tsrt_last_error()` describes the
 *     problem; no C++ exception ever crosses this boundary.
 *   - Pointers passed in are borrowed for the duration of the call only, unless stated.
 *   - Objects handed out are owned by the caller and freed with the matching `*_free`.
 *
 * Security: a TorchScript file is a program. Loading one runs its code with the rights of the
 * calling process; load only files you trust.
 */
#ifndef TSRT_H
#define TSRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TSRT_BUILDING_LIBRARY)
#  define TSRT_API __declspec(dllexport)
#elif defined(_WIN32)
#  define TSRT_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define TSRT_API __attribute__((visibility("default")))
#else
#  define TSRT_API
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versions                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The ABI this header describes. Raised whenever a function is added or a contract changes;
 * existing functions keep their signatures. */
#define TSRT_ABI_VERSION 1

/* The ABI version of the library actually loaded. A caller built against this header should
 * check `tsrt_abi_version() >= TSRT_ABI_VERSION` before relying on newer functions. */
TSRT_API int tsrt_abi_version(void);

/* The libtorch version the library was built against, e.g. "2.14.1". Static storage; never
 * freed, never NULL. */
TSRT_API const char *tsrt_libtorch_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Status codes and errors                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum tsrt_status {
    TSRT_OK = 0,
    TSRT_ERR_INVALID_ARGUMENT = -1, /* NULL pointer, bad shape, bad k, bad option value */
    TSRT_ERR_NOT_FOUND = -2,        /* the model file does not exist */
    TSRT_ERR_IO = -3,               /* the path exists but cannot be read (directory, rights) */
    TSRT_ERR_BAD_MODEL = -4,        /* the bytes are not a loadable TorchScript module */
    TSRT_ERR_DEVICE = -5,           /* unknown device string, or device not available */
    TSRT_ERR_FORWARD = -6,          /* the model raised while running (e.g. wrong input shape) */
    TSRT_ERR_UNSUPPORTED = -7,      /* the model returned something this call cannot hand back */
    TSRT_ERR_BUFFER_TOO_SMALL = -8, /* a caller buffer is smaller than the result */
    TSRT_ERR_OUT_OF_MEMORY = -9,
    TSRT_ERR_INTERNAL = -10         /* a bug in the shim or libtorch; please report it */
} tsrt_status;

/* A description of the most recent failure of a fallible call made on the calling thread,
 * without a C++ backtrace; "" after a successful fallible call. Owned by the library, per
 * thread: valid until the next fallible tsrt_ call on the same thread; never NULL. Threads
 * never see each other's messages. */
TSRT_API const char *tsrt_last_error(void);

/* The symbolic name of a status code ("TSRT_ERR_NOT_FOUND"); "TSRT_UNKNOWN_STATUS" for
 * values not listed above. Static storage. */
TSRT_API const char *tsrt_status_name(int status);

/* ------------------------------------------------------------------------------------------ */
/* Threads                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Sets the number of intra-op threads libtorch uses for one operator. Process-wide: it affects
 * every model in the process. n must be >= 1. */
TSRT_API int tsrt_set_num_threads(int n);

/* The current number of intra-op threads (>= 1). */
TSRT_API int tsrt_get_num_threads(void);

/* ------------------------------------------------------------------------------------------ */
/* Load options                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Options for loading a model. Create with tsrt_options_new, set what differs from the
 * defaults, pass to a load function (which copies what it needs, so the options may be freed
 * or reused right after), free with tsrt_options_free. NULL options mean all defaults.
 * Not safe to modify from several threads at once. */
typedef struct tsrt_options tsrt_options;

/* *out receives a new options object with defaults (device "cpu"); free with
 * tsrt_options_free. */
TSRT_API int tsrt_options_new(tsrt_options **out);

/* Frees an options object. NULL is a no-op. */
TSRT_API void tsrt_options_free(tsrt_options *options);

/* Device to load the model onto and run it on: "cpu", "cuda" or "cuda:N". The string is
 * validated here (TSRT_ERR_INVALID_ARGUMENT if malformed) and its availability at load time
 * (TSRT_ERR_DEVICE). `device` is borrowed for the call. */
TSRT_API int tsrt_options_set_device(tsrt_options *options, const char *device);

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A loaded TorchScript module in eval mode, on its device. */
typedef struct tsrt_model tsrt_model;

/* Loads the TorchScript file at `path` (UTF-8). On success *out receives a model owned by the
 * caller; free it with tsrt_model_free. Errors: TSRT_ERR_NOT_FOUND, TSRT_ERR_IO,
 * TSRT_ERR_BAD_MODEL, TSRT_ERR_DEVICE; the message names the path. */
TSRT_API int tsrt_model_load(const char *path, const tsrt_options *options, tsrt_model **out);

/* Loads a TorchScript module from `size` bytes at `data` (the content of a saved file). The
 * bytes are borrowed for the call only and may be freed when it returns. */
TSRT_API int tsrt_model_load_buffer(const void *data, size_t size, const tsrt_options *options,
                                    tsrt_model **out);

/* Frees a model and everything it holds. NULL is a no-op. The caller must ensure no other
 * call is using the model at the same time. Tensors obtained from the model stay valid. */
TSRT_API void tsrt_model_free(tsrt_model *model);

/* The device the model runs on, as a string like "cpu" or "cuda:0". Owned by the model; valid
 * until it is freed. NULL if model is NULL. */
TSRT_API const char *tsrt_model_device(const tsrt_model *model);

/* ------------------------------------------------------------------------------------------ */
/* Tensors handed back by the library                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Element types. The numbers are this ABI's own and never change. */
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

/* A dense, row-major (C-contiguous) tensor in host memory, owned by the caller once handed
 * out; free with tsrt_tensor_free. Its accessors never fail on a valid handle; on NULL they
 * return 0 / NULL / TSRT_DTYPE_UNKNOWN. Read-only, so safe to read from several threads. */
typedef struct tsrt_tensor tsrt_tensor;

/* Frees a tensor. NULL is a no-op. */
TSRT_API void tsrt_tensor_free(tsrt_tensor *tensor);

TSRT_API tsrt_dtype tsrt_tensor_dtype(const tsrt_tensor *tensor);

/* Number of dimensions (0 for a scalar tensor). */
TSRT_API size_t tsrt_tensor_ndim(const tsrt_tensor *tensor);

/* The ndim sizes, owned by the tensor. May be NULL when ndim is 0. */
TSRT_API const int64_t *tsrt_tensor_shape(const tsrt_tensor *tensor);

/* Number of elements (the product of the shape; 1 for a scalar). */
TSRT_API int64_t tsrt_tensor_numel(const tsrt_tensor *tensor);

/* The elements, contiguous, owned by the tensor. May be NULL when numel is 0. */
TSRT_API const void *tsrt_tensor_data(const tsrt_tensor *tensor);

/* Size of the data in bytes. */
TSRT_API size_t tsrt_tensor_nbytes(const tsrt_tensor *tensor);

/* ------------------------------------------------------------------------------------------ */
/* Inference                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Runs `forward` on one float32 input tensor of `ndim` dimensions with sizes `shape[0..ndim)`
 * whose elements lie C-contiguous at `data`. `data` and `shape` are borrowed for the call
 * only; the library never writes through `data` itself and never keeps it. `data` may be
 * NULL only when the shape has a zero size. forward must return a single tensor; on success
 * *out receives it (copied to host memory, contiguous), owned by the caller.
 *
 * Threads: concurrent calls on one model are safe when the model does not change its own
 * attributes in forward (the usual case for exported inference models). Errors:
 * TSRT_ERR_INVALID_ARGUMENT (bad shape or pointers), TSRT_ERR_FORWARD (the model rejected the
 * input or failed), TSRT_ERR_UNSUPPORTED (forward did not return a tensor). */
TSRT_API int tsrt_model_forward(tsrt_model *model, const float *data, const int64_t *shape,
                                size_t ndim, tsrt_tensor **out);

/* Softmax over the last dimension of a 2-D (N, C) `logits` tensor, then the k largest
 * probabilities of each row in descending order. Writes N*k row-major entries into `indices`
 * (class numbers) and `probs`, both caller-owned arrays of at least `capacity` elements.
 * Errors: TSRT_ERR_INVALID_ARGUMENT (not 2-D, not floating point, k < 1 or k > C),
 * TSRT_ERR_BUFFER_TOO_SMALL (capacity < N*k). */
TSRT_API int tsrt_tensor_softmax_topk(const tsrt_tensor *logits, int64_t k, int64_t *indices,
                                      float *probs, size_t capacity);

/* tsrt_model_forward followed by tsrt_tensor_softmax_topk in one call, without handing the
 * logits out. forward must return a 2-D (N, C) floating-point tensor. If `out_rows` is not
 * NULL it receives N. Same threading rule and errors as the two functions combined. */
TSRT_API int tsrt_model_topk(tsrt_model *model, const float *data, const int64_t *shape,
                             size_t ndim, int64_t k, int64_t *indices, float *probs,
                             size_t capacity, int64_t *out_rows);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TSRT_H */
