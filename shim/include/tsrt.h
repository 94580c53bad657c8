/*
 * tsrt.h — the C ABI of the TorchScript runtime shim (libtsrt).
 *
 * Loads a TorchScript file saved by `torch.jit.save` / `ScriptModule.save`, or an AOTInductor
 * package (`.pt2`, from `torch._inductor.aoti_compile_and_package`; ABI 4), runs its `forward`
 * on caller memory, and computes softmax + top-k, without the Python PyTorch stack. Plain C99,
 * usable from C++ and from any language with a C FFI.
 *
 * Conventions, true of every function below unless its comment says otherwise:
 *
 *   - Everything is prefixed `tsrt_` / `TSRT_`. Handles are opaque; each kind has exactly one
 *     free function (`tsrt_model_free`, `tsrt_options_free`, `tsrt_tensor_free`,
 *     `tsrt_value_free`), which accepts NULL and does nothing with it.
 *   - Fallible functions (marked TSRT_NODISCARD) return `int`: TSRT_OK (0) on success or a
 *     negative `tsrt_status`. On failure, out-parameters are left untouched and
 *     `tsrt_last_error()` describes the problem; no C++ exception ever crosses this boundary.
 *   - Pointers passed in are borrowed for the duration of the call only, unless stated.
 *   - Objects handed out are owned by the caller and freed with the matching `*_free`.
 *
 * Security: a TorchScript file is a program. Loading one runs its code with the rights of the
 * calling process; load only files you trust.
 *
 * An AOTInductor package (.pt2) is more than that: it contains compiled native code (a shared
 * library) that the load maps into this process and every call runs, with the rights and the
 * memory of the calling process. Nothing this library checks can contain that code: a
 * hostile or corrupted package can crash the process, read or change any of its memory, or do
 * whatever the process may do. What is checked before the code is loaded (see
 * tsrt_model_load) only stops malformed archives and packages built for another CPU. Load
 * only packages you trust as you would trust a shared library; to contain a crash, run the
 * model in another process (pyfront's IsolatedModel does).
 */
#ifndef TSRT_H
#define TSRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(TSRT_BUILDING_LIBRARY)
#define TSRT_API __declspec(dllexport)
#elif defined(_WIN32)
#define TSRT_API __declspec(dllimport)
#elif defined(__GNUC__)
#define TSRT_API __attribute__((visibility("default")))
#else
#define TSRT_API
#endif

/* Marks the functions that return a tsrt_status: ignoring it hides failures. */
#if defined(__GNUC__)
#define TSRT_NODISCARD __attribute__((warn_unused_result))
#else
#define TSRT_NODISCARD
#endif

/* ------------------------------------------------------------------------------------------ */
/* Versions                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The release, the ABI and the shared-object version, written only here: the CMake build and
 * the Python package read them from this header.
 *
 * Compatibility policy. Adding a function, a status code, an enum value or an option raises
 * TSRT_ABI_VERSION; existing functions keep their signatures and their contracts, so a program
 * built against an older header runs on a newer library of the same TSRT_SOVERSION. Changing
 * or removing a contract raises TSRT_SOVERSION (the N in libtsrt.so.N), so that a program
 * built against the old contract fails to start instead of misbehaving.
 *
 * ABI 4 adds AOTInductor packages (.pt2) to tsrt_model_load and tsrt_model_load_buffer, and
 * tsrt_model_format with the enum tsrt_format. ABI 5 adds tsrt_model_run_tensor_into. */
#define TSRT_VERSION "0.2.0"
#define TSRT_ABI_VERSION 5
#define TSRT_SOVERSION 1

/* The ABI version of the library actually loaded. A caller built against this header should
 * check `tsrt_abi_version() >= TSRT_ABI_VERSION` before relying on newer functions. */
TSRT_API int tsrt_abi_version(void);

/* The release of the library actually loaded, e.g. "0.2.0" (TSRT_VERSION of its build).
 * Static storage. (ABI 3) */
TSRT_API const char *tsrt_version(void);

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
    TSRT_ERR_FORWARD = -6,          /* a method raised (e.g. wrong input shape), or the warm-up of a
                                     * load did */
    TSRT_ERR_UNSUPPORTED = -7,      /* the model returned something this call cannot hand back */
    TSRT_ERR_BUFFER_TOO_SMALL = -8, /* a caller buffer is smaller than the result */
    TSRT_ERR_OUT_OF_MEMORY = -9,
    TSRT_ERR_INTERNAL = -10,     /* a bug in the shim or libtorch; please report it */
    TSRT_ERR_NO_SUCH_NAME = -11, /* no method or extra file of that name (ABI 2) */
    TSRT_ERR_TOO_LARGE = -12,    /* the model is larger than the options allow (ABI 2) */
    TSRT_ERR_CLOSED = -13,       /* the model was closed with tsrt_model_close (ABI 2) */
    TSRT_ERR_BAD_LIBRARY = -14   /* a file given to tsrt_load_library cannot be loaded as a
                                     * shared library here (ABI 3) */
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
TSRT_API TSRT_NODISCARD int tsrt_set_num_threads(int n);

/* The number of intra-op threads (>= 1), as set by tsrt_set_num_threads or libtorch's
 * default (one per core). Calls that run at the same time share them: each of n concurrent
 * calls uses max(1, threads / n), so that callers in several threads never oversubscribe the
 * cores. */
TSRT_API int tsrt_get_num_threads(void);

/* oneDNN Graph fusion of the models' operators (convolutions with their activations and
 * additions, and more), which makes CNNs on x86 CPUs markedly faster. Process-wide, on by
 * default, and read when a model is loaded: a model loaded while it is off never runs fused.
 * (ABI 2) */
TSRT_API TSRT_NODISCARD int tsrt_set_fusion(int enable);
TSRT_API int tsrt_get_fusion(void);

/* 1 when this CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16 instructions, as
 * libtorch detects them), else 0. Decides what TSRT_PRECISION_AUTO picks. (ABI 3) */
TSRT_API int tsrt_cpu_has_native_bf16(void);

/* ------------------------------------------------------------------------------------------ */
/* Operator libraries (ABI 3)                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Loads the shared library at `path` (a file path; a name without '/' is taken relative to the
 * current directory, never searched for) so that the TorchScript operators it registers when
 * loaded (its TORCH_LIBRARY blocks) are there for the models loaded afterwards: torchvision's
 * operators (torchvision::nms, roi_align... which detection models call), or a model's own.
 * A model calling an operator nobody registered fails to load with TSRT_ERR_BAD_MODEL and a
 * message naming the operator.
 *
 * Process-wide and permanent: the library is opened with RTLD_NOW | RTLD_GLOBAL and never
 * closed, since the models using its operators may outlive any handle. Loading the same file
 * again does nothing. Safe from any thread; load libraries before the models that need them.
 * `path` is borrowed for the call.
 *
 * Errors: TSRT_ERR_NOT_FOUND (no such file), TSRT_ERR_IO (a directory, unreadable),
 * TSRT_ERR_BAD_LIBRARY with a message saying why: not a shared library, built for another
 * CPU or word size, an object file or executable, unresolved symbols (built against another
 * libtorch, or needing another library loaded first), a dependency the loader cannot find;
 * the dynamic loader's own report is quoted.
 *
 * What cannot be caught: loading runs the library's initialisation code inside this process.
 * A C++ exception thrown there (typically a TORCH_LIBRARY registering an operator that another
 * library already registered, e.g. two builds of torchvision's operators) leaves the dynamic
 * loader in a state no process can continue from (where it gets through the loader at all, the
 * loader's lock stays held), so the process stops: std::terminate, after a message on stderr
 * naming the library and the exception. A crash or exit() in it ends the process too. Like a
 * model file, an operator library is code: load only libraries you trust, and each set of
 * operators once. */
TSRT_API TSRT_NODISCARD int tsrt_load_library(const char *path);

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
TSRT_API TSRT_NODISCARD int tsrt_options_new(tsrt_options **out);

/* Frees an options object. NULL is a no-op. */
TSRT_API void tsrt_options_free(tsrt_options *options);

/* Device to load the model onto and run it on: "cpu", "cuda" or "cuda:N". The string is
 * validated here (TSRT_ERR_INVALID_ARGUMENT if malformed) and its availability at load time
 * (TSRT_ERR_DEVICE). `device` is borrowed for the call. */
TSRT_API TSRT_NODISCARD int tsrt_options_set_device(tsrt_options *options, const char *device);

/* The largest model file (or buffer) a load accepts, in bytes; 0, the default, means no
 * limit. A larger one fails with TSRT_ERR_TOO_LARGE before any of it is read. (ABI 2) */
TSRT_API TSRT_NODISCARD int tsrt_options_set_max_file_size(tsrt_options *options, uint64_t bytes);

/* Whether to load the debug records a TorchScript file carries (`*.debug_pkl`: where each
 * scripted line came from in the original Python), which add the original source to error
 * tracebacks. Off by default: libtorch decodes them lazily while formatting an error, and a
 * corrupted record there crashes the process (abort or segfault) where no error can be
 * caught. Turn on only for files you trust. With it on, the message of a failing call ends
 * with the TorchScript traceback; without, it is the cause alone. (ABI 2) */
TSRT_API TSRT_NODISCARD int tsrt_options_set_debug_info(tsrt_options *options, int enable);

/* Freeze a plain (unfrozen) module when loading it, as torch.jit.freeze does: weights become
 * constants, batch norms fold into convolutions, and every method is kept. On by default;
 * never applied to a model that keeps state (see "Threads and state"). Results may differ
 * from the unfrozen module by floating-point rounding. (ABI 2) */
TSRT_API TSRT_NODISCARD int tsrt_options_set_freeze(tsrt_options *options, int enable);

/* Warm-up inside the load: `runs` forward calls (default 3; 0 turns warm-up off; at most 100)
 * on a float32 tensor of zeros of each warm-up shape, so that the graph executor's profiling and
 * optimisation for those shapes happen in the load rather than in the first calls. Shapes
 * are added with tsrt_options_add_warmup_shape; without any, those stored in the file's extra
 * file "tsrt/input_shapes" (lines like "1x3x224x224", written by scripts/export.py) are used.
 * tsrt_options_clear_warmup_shapes means "no shapes", the file's included. A warm-up shape has
 * at most 8 dimensions and 2^31 elements (TSRT_ERR_INVALID_ARGUMENT otherwise); a line of the
 * file's tsrt/input_shapes that does not follow that format (or has a size above 2^20) makes
 * the load ignore the whole file's shapes, as if it had none. Never applied to a model that
 * keeps state. A warm-up the model rejects fails the load (TSRT_ERR_FORWARD). */
TSRT_API TSRT_NODISCARD int tsrt_options_set_warmup_runs(tsrt_options *options, int runs);
TSRT_API TSRT_NODISCARD int tsrt_options_add_warmup_shape(tsrt_options *options,
                                                          const int64_t *shape, size_t ndim);
TSRT_API TSRT_NODISCARD int tsrt_options_clear_warmup_shapes(tsrt_options *options);

/* The numeric precision a model's forward runs with. The numbers are this ABI's own. (ABI 3) */
typedef enum tsrt_precision {
    TSRT_PRECISION_FP32 = 0, /* float32, as saved: the default */
    TSRT_PRECISION_BF16 = 1, /* bfloat16 weights and activations, verified at load (below) */
    TSRT_PRECISION_AUTO = 2  /* BF16 where tsrt_cpu_has_native_bf16(), else FP32 */
} tsrt_precision;

/* How far a bfloat16 result may be from the float32 one and still be trusted: a fraction of
 * the largest |float32 value| of its sample (see tsrt_options_set_precision). */
#define TSRT_BF16_TOLERANCE 0.03

/* Asks for a precision; TSRT_ERR_INVALID_ARGUMENT for a value not in tsrt_precision.
 *
 * With BF16 the load converts the float32 constants of the frozen forward (its weights) to
 * bfloat16 inside the library; each call casts float32 input tensors to bfloat16 and hands
 * bfloat16 results back as float32, so callers pass and receive the same types as with FP32.
 * The converted model is trusted only after it agrees with the float32 model on the warm-up
 * inputs (uniform random values in [0, 1) of each warm-up shape): every floating-point result
 * tensor within TSRT_BF16_TOLERANCE (0.03) times the largest |float32 value| of its sample (the
 * slice along the first dimension), with NaN and infinities in the same places. For (N, C) logits that bounds each
 * row's bfloat16 top class to within 0.06 of the largest |logit| of the float32 top class.
 * ResNet-18 measured 0.005. A model that fails the check runs in float32.
 *
 * What runs in float32 whatever was asked, tsrt_model_precision_note saying why: models that
 * keep state (their methods change their attributes), models not frozen (freezing turned off
 * for a file whose weights are attributes), loads without warm-up shapes or runs (nothing to
 * verify with), devices other than the CPU, and models whose forward writes into its
 * arguments. Methods other than forward always run in float32.
 *
 * AUTO on a CPU without native bfloat16 runs FP32. BF16 asked for explicitly runs bfloat16 on
 * any CPU where libtorch can (often slower than float32 there: the note says so), so that
 * results can be checked on any machine. */
TSRT_API TSRT_NODISCARD int tsrt_options_set_precision(tsrt_options *options,
                                                       tsrt_precision precision);

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A loaded TorchScript module in eval mode, on its device. */
typedef struct tsrt_model tsrt_model;

/* Loads the TorchScript file at `path` (UTF-8), with every extra file stored in it. On success *out receives a model owned by the
 * caller; free it with tsrt_model_free. Errors: TSRT_ERR_NOT_FOUND, TSRT_ERR_IO,
 * TSRT_ERR_BAD_MODEL, TSRT_ERR_DEVICE, TSRT_ERR_TOO_LARGE; the message names the path, and
 * for a file that is not TorchScript but a torch.save checkpoint, a torch.export archive
 * without compiled code or an ONNX model, says which and how to make a TorchScript file.
 *
 * AOTInductor packages (ABI 4). A zip archive with AOTInductor's layout (a
 * "<name>/data/aotinductor/model/" folder), whatever its file name, is loaded as a package:
 * read the security note at the top of this header first. Before any of it reaches
 * libtorch's AOTIModelPackageLoader, the archive is checked: every member stored
 * uncompressed, as PyTorch writes them, inside the archive and matching its CRC-32; member
 * names relative, without "..", backslashes, NUL bytes or duplicates; and the members in all
 * no larger than the archive. A failing check is TSRT_ERR_BAD_MODEL naming the member and the
 * problem (a truncated package, whose zip directory is lost, likewise). A package compiled for
 * another machine kind, or for instructions this CPU lacks (AOTI_CPU_ISA in its metadata,
 * e.g. AVX512 or AMX_TILE, and the -m flags of the compile commands its sources record, e.g.
 * -mavx512bf16; or instructions this library does not know), is TSRT_ERR_BAD_MODEL rather
 * than a crash on the first call. A package compiled with -march=native (AOTInductor's
 * default; `pyfront export --format pt2` turns it off) may also use instructions of the
 * compiling CPU that it records nowhere: those cannot be checked. One compiled for a device
 * other than the CPU is TSRT_ERR_DEVICE. The
 * checked archive is extracted into a new folder of mode 0700 under $TMPDIR (else /tmp),
 * removed when the model is closed or freed (TSRT_ERR_IO when it cannot be made or written).
 * The package's compiled library stays mapped until the process exits, even after the model
 * is freed: its code keeps thread_local objects, and glibc does not unload a library whose
 * thread-local destructors are pending.
 * The first package load sets the environment variable AOTI_RUNTIME_CHECK_INPUTS=1, unless
 * it is set, so that the compiled code checks its inputs' sizes, strides and dtypes instead
 * of reading past them.
 *
 * A loaded package has one method, "forward": its arguments are flattened and its results
 * rebuilt with the package's call spec (tensors, and tuples and lists of tensors; calls to a
 * package taking or returning anything else fail with TSRT_ERR_UNSUPPORTED). Its metadata
 * (`aot_inductor.metadata` at compile time, AOTInductor's own AOTI_* entries aside) are its
 * extra files. Options that do not apply to compiled code are ignored: freezing, fusion,
 * warm-up, debug info; precision stays what the package was compiled with (the precision
 * note says so when another was asked for). Calls run one at a time per model (AOTInductor's
 * runner is not reentrant; libtsrt loads one).
 *
 * A package may hold a second model of the same program compiled for batch 1 alone, as
 * `pyfront export --format pt2` writes them ("model_batch1", its input shapes recorded as
 * "tsrt/batch1_shapes", a JSON list of shapes, which is not an extra file): forward runs it
 * for inputs of exactly those shapes and the model "model" for any other (code compiled for
 * a dynamic batch size is slower on one image). Its results may differ from the dynamic
 * model's in the last bits.
 *
 * A package compiled in bfloat16 by `pyfront export --format pt2 --precision bf16` records
 * so (metadata "tsrt/precision" = "bf16") with the float32 model's results on a check input
 * ("tsrt/precision_check"); the load runs the package on that input and fails with
 * TSRT_ERR_BAD_MODEL unless its first result agrees within the bfloat16 tolerance stated at
 * tsrt_options_set_precision. tsrt_model_precision then says TSRT_PRECISION_BF16. A package
 * compiled otherwise reports TSRT_PRECISION_FP32, whatever its code computes in. */
TSRT_API TSRT_NODISCARD int tsrt_model_load(const char *path, const tsrt_options *options,
                                            tsrt_model **out);

/* Loads a TorchScript module from `size` bytes at `data` (the content of a saved file). The
 * bytes are borrowed for the call only and may be freed when it returns. */
TSRT_API TSRT_NODISCARD int tsrt_model_load_buffer(const void *data, size_t size,
                                                   const tsrt_options *options, tsrt_model **out);

/* Closes a model: waits for the calls running on it in other threads to finish, then frees
 * its weights and code. Calls that start afterwards fail with TSRT_ERR_CLOSED; the handle
 * stays valid (introspection still answers) until tsrt_model_free. Closing twice, or NULL,
 * is harmless. Lets one thread retire a model others may still be calling. (ABI 2) */
TSRT_API void tsrt_model_close(tsrt_model *model);

/* Closes (see above) and frees a model. NULL is a no-op. No call may use the handle after
 * this returns, and none may start while it runs. Results obtained from the model stay
 * valid. */
TSRT_API void tsrt_model_free(tsrt_model *model);

/* What kind of file a model was loaded from. The numbers are this ABI's own. (ABI 4) */
typedef enum tsrt_format {
    TSRT_FORMAT_TORCHSCRIPT = 1, /* a TorchScript file (torch.jit.save) */
    TSRT_FORMAT_AOTI_PACKAGE = 2 /* an AOTInductor package (.pt2) of compiled native code */
} tsrt_format;

/* The format of a loaded model, a tsrt_format value; -1 for NULL. Never fails; safe from any
 * thread, also after tsrt_model_close. (ABI 4) */
TSRT_API int tsrt_model_format(const tsrt_model *model);

/* The device the model runs on, as a string like "cpu" or "cuda:0". Owned by the model; valid
 * until it is freed. NULL if model is NULL. */
TSRT_API const char *tsrt_model_device(const tsrt_model *model);

/* The precision the model's forward really runs with: TSRT_PRECISION_FP32 or
 * TSRT_PRECISION_BF16 (never AUTO); -1 for NULL. (ABI 3) */
TSRT_API int tsrt_model_precision(const tsrt_model *model);

/* Why the model runs with another precision than the one asked for (e.g. "bf16 was asked for,
 * but the model keeps state between calls, so it runs in fp32"), or a remark on the one it
 * runs with (bf16 without native support in this CPU); "" when there is nothing to say. Owned
 * by the model, valid until it is freed; NULL for NULL. (ABI 3) */
TSRT_API const char *tsrt_model_precision_note(const tsrt_model *model);

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

/* Runs `forward` on one float32 input tensor of `ndim` (at most 64) dimensions with sizes
 * `shape[0..ndim)` whose elements lie C-contiguous at `data`. `data` and `shape` are borrowed for the call
 * only; the library never writes through `data` itself and never keeps it. `data` may be
 * NULL only when the shape has a zero size. forward must return a single tensor; on success
 * *out receives it (copied to host memory, contiguous), owned by the caller.
 *
 * Threads: see "Threads and state" below. Errors:
 * TSRT_ERR_INVALID_ARGUMENT (bad shape or pointers), TSRT_ERR_FORWARD (the model rejected the
 * input or failed), TSRT_ERR_UNSUPPORTED (forward did not return a tensor). */
TSRT_API TSRT_NODISCARD int tsrt_model_forward(tsrt_model *model, const float *data,
                                               const int64_t *shape, size_t ndim,
                                               tsrt_tensor **out);

/* Softmax over the last dimension of a 2-D (N, C) `logits` tensor, then the k largest
 * probabilities of each row in descending order. Writes N*k row-major entries into `indices`
 * (class numbers) and `probs`, both caller-owned arrays of at least `capacity` elements.
 * Errors: TSRT_ERR_INVALID_ARGUMENT (not 2-D, not floating point, k < 1 or k > C),
 * TSRT_ERR_BUFFER_TOO_SMALL (capacity < N*k). */
TSRT_API TSRT_NODISCARD int tsrt_tensor_softmax_topk(const tsrt_tensor *logits, int64_t k,
                                                     int64_t *indices, float *probs,
                                                     size_t capacity);

/* tsrt_model_forward followed by tsrt_tensor_softmax_topk in one call, without handing the
 * logits out. forward must return a 2-D (N, C) floating-point tensor. If `out_rows` is not
 * NULL it receives N. Same threading rule and errors as the two functions combined. */
TSRT_API TSRT_NODISCARD int tsrt_model_topk(tsrt_model *model, const float *data,
                                            const int64_t *shape, size_t ndim, int64_t k,
                                            int64_t *indices, float *probs, size_t capacity,
                                            int64_t *out_rows);

/* ------------------------------------------------------------------------------------------ */
/* Threads and state                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Every call that runs a model (tsrt_model_forward, tsrt_model_topk, tsrt_model_run_method)
 * may be made from several threads at once on one model. When the load found that some
 * method may assign or modify one of the module's attributes (a model that keeps state
 * between calls), the library serialises those calls on that model and copies tensor
 * arguments before running, so the model never keeps a reference to caller memory; state
 * then evolves exactly as with sequential calls in Python. Otherwise calls run in parallel.
 * Returns 1 when calls are serialised, 0 when they run in parallel, -1 for NULL. (ABI 2) */
TSRT_API int tsrt_model_keeps_state(const tsrt_model *model);

/* ------------------------------------------------------------------------------------------ */
/* Values: arguments and results of any method (ABI 2)                                       */
/* ------------------------------------------------------------------------------------------ */

/* A TorchScript value: None, a tensor, an int, a float, a bool, a string, or a tuple, list or
 * dict of values. Created by the constructors below or returned by tsrt_model_run_method;
 * owned by the caller and freed with tsrt_value_free. A value is immutable: it may be read
 * from several threads and passed to several calls. Containers share their items: freeing an
 * item's handle after building a container does not affect the container. */
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
    TSRT_VALUE_OTHER = 9 /* another TorchScript type (an object, a device...): see its type */
} tsrt_value_kind;

/* Frees a value. NULL is a no-op. */
TSRT_API void tsrt_value_free(tsrt_value *value);

/* Scalars. *out receives a new value owned by the caller. A bool is 0 for false, else true. */
TSRT_API TSRT_NODISCARD int tsrt_value_none(tsrt_value **out);
TSRT_API TSRT_NODISCARD int tsrt_value_int(int64_t v, tsrt_value **out);
TSRT_API TSRT_NODISCARD int tsrt_value_float(double v, tsrt_value **out);
TSRT_API TSRT_NODISCARD int tsrt_value_bool(int v, tsrt_value **out);

/* A string of `size` bytes (UTF-8, may contain NUL), copied. */
TSRT_API TSRT_NODISCARD int tsrt_value_string(const char *data, size_t size, tsrt_value **out);

/* Flags of tsrt_value_tensor. */
#define TSRT_TENSOR_BORROW 0u /* reference the caller's memory, no copy */
#define TSRT_TENSOR_COPY 1u   /* copy the elements into memory of the library's */

/* A tensor of `dtype` with sizes shape[0..ndim) (ndim at most 64; the element count and byte
 * size must fit in int64) whose elements lie C-contiguous at `data`.
 * With TSRT_TENSOR_BORROW the value references `data` without copying: the memory must stay
 * valid until the value is freed, and a model that modifies its input in place writes into
 * it (as torch.from_numpy does in Python). Results of calls never reference it. `shape` is
 * borrowed for this call only. `data` may be NULL only when the shape has a zero size. */
TSRT_API TSRT_NODISCARD int tsrt_value_tensor(const void *data, tsrt_dtype dtype,
                                              const int64_t *shape, size_t ndim, unsigned flags,
                                              tsrt_value **out);

/* Containers of `count` items; the item handles stay owned by the caller. A list's element
 * type is its items' common type (Any when they have none, and for an empty list: a method's
 * schema then gives it its type). Dict keys must all be of one type among str, int, float,
 * bool and Tensor; the dict keeps the given order. */
TSRT_API TSRT_NODISCARD int tsrt_value_tuple(tsrt_value *const *items, size_t count,
                                             tsrt_value **out);
TSRT_API TSRT_NODISCARD int tsrt_value_list(tsrt_value *const *items, size_t count,
                                            tsrt_value **out);
TSRT_API TSRT_NODISCARD int tsrt_value_dict(tsrt_value *const *keys, tsrt_value *const *values,
                                            size_t count, tsrt_value **out);

/* What a value holds; TSRT_VALUE_OTHER for NULL. */
TSRT_API tsrt_value_kind tsrt_value_get_kind(const tsrt_value *value);

/* The value's TorchScript type, e.g. "Tensor", "Tuple[int, str]", "Dict[str, Tensor]". Owned
 * by the value; "" for NULL. */
TSRT_API const char *tsrt_value_type(const tsrt_value *value);

/* Scalar accessors: TSRT_ERR_INVALID_ARGUMENT when the value is of another kind. */
TSRT_API TSRT_NODISCARD int tsrt_value_get_int(const tsrt_value *value, int64_t *out);
TSRT_API TSRT_NODISCARD int tsrt_value_get_float(const tsrt_value *value, double *out);
TSRT_API TSRT_NODISCARD int tsrt_value_get_bool(const tsrt_value *value, int *out);

/* The string's bytes and size, owned by the value (NUL-terminated for convenience). */
TSRT_API TSRT_NODISCARD int tsrt_value_get_string(const tsrt_value *value, const char **data,
                                                  size_t *size);

/* A tensor value as a new host, contiguous tsrt_tensor owned by the caller. */
TSRT_API TSRT_NODISCARD int tsrt_value_get_tensor(const tsrt_value *value, tsrt_tensor **out);

/* The number of items of a tuple, list or dict; 0 for any other value or NULL. */
TSRT_API size_t tsrt_value_length(const tsrt_value *value);

/* Item `index` of a tuple or list, as a new value owned by the caller. */
TSRT_API TSRT_NODISCARD int tsrt_value_get_item(const tsrt_value *value, size_t index,
                                                tsrt_value **out);

/* Entry `index` of a dict, in the dict's order, as two new values owned by the caller. */
TSRT_API TSRT_NODISCARD int tsrt_value_get_dict_item(const tsrt_value *value, size_t index,
                                                     tsrt_value **key, tsrt_value **item);

/* ------------------------------------------------------------------------------------------ */
/* Methods and introspection (ABI 2)                                                          */
/* ------------------------------------------------------------------------------------------ */

/* A tensor result described in one go: `data` and `shape` point into the value it came from
 * and stay valid until that value is freed. */
typedef struct tsrt_tensor_info {
    tsrt_dtype dtype; /* TSRT_DTYPE_UNKNOWN when the result is not a tensor */
    size_t ndim;
    const int64_t *shape; /* NULL when ndim is 0 */
    const void *data;     /* C-contiguous, host memory; NULL when the tensor is empty */
    size_t nbytes;
} tsrt_tensor_info;

/* The fast path for the commonest call: method `name` with one tensor argument (borrowed from
 * `data` for the call, as tsrt_value_tensor with TSRT_TENSOR_BORROW). *out receives the result
 * as a value, owned by the caller; when it is a tensor, *info describes it in host memory,
 * else info->dtype is TSRT_DTYPE_UNKNOWN and the value is read with the accessors. Same
 * errors and threading as tsrt_model_run_method. */
TSRT_API TSRT_NODISCARD int tsrt_model_run_tensor(tsrt_model *model, const char *name,
                                                  const void *data, tsrt_dtype dtype,
                                                  const int64_t *shape, size_t ndim,
                                                  tsrt_value **out, tsrt_tensor_info *info);

/* The same call without an allocation handed to the caller: the result, which must be one
 * tensor, is written into the caller's C-contiguous host buffer `out` of dtype `out_dtype` and
 * shape `out_shape[0..out_ndim)`, which must be the result's (a bfloat16 result may also be
 * written into a float32 buffer: widened, exactly). All four pointers are borrowed for the
 * call only. `out` is checked before the method runs and written only when the whole call
 * succeeds; it may overlap `data`, since it is written after the method has finished. `out`
 * may be NULL only when out_shape has a zero size. Same threading as tsrt_model_run_method.
 * Errors: those of tsrt_model_run_tensor; TSRT_ERR_INVALID_ARGUMENT also for a bad out
 * description, and for a result whose shape or dtype is not out's (the message gives both);
 * TSRT_ERR_UNSUPPORTED when the result is not one dense tensor. In these last two cases the
 * method has run, which matters only for a model that keeps state. (ABI 5) */
TSRT_API TSRT_NODISCARD int tsrt_model_run_tensor_into(tsrt_model *model, const char *name,
                                                       const void *data, tsrt_dtype dtype,
                                                       const int64_t *shape, size_t ndim, void *out,
                                                       tsrt_dtype out_dtype,
                                                       const int64_t *out_shape, size_t out_ndim);

/* Calls method `name` (e.g. "forward") with `nargs` arguments, as Python's
 * `model.name(*args)` would: arguments are checked against the method's schema and defaults
 * filled in; an int is accepted where a float is declared. On success *out receives the
 * result, owned by the caller. `args` are borrowed for the call. Errors:
 * TSRT_ERR_NO_SUCH_NAME (no such method), TSRT_ERR_INVALID_ARGUMENT (wrong number or types
 * of arguments; the message names the argument, what was given and the method's signature),
 * TSRT_ERR_FORWARD (the method raised; the message gives the cause with the arguments'
 * types and shapes, and the input shape of the file's "tsrt/input_shapes" when a forward
 * call's differs). */
TSRT_API TSRT_NODISCARD int tsrt_model_run_method(tsrt_model *model, const char *name,
                                                  tsrt_value *const *args, size_t nargs,
                                                  tsrt_value **out);

/* The model's methods: their number, and name `index` (NULL when out of range). Names are
 * owned by the model. */
TSRT_API size_t tsrt_model_method_count(const tsrt_model *model);
TSRT_API const char *tsrt_model_method_name(const tsrt_model *model, size_t index);

/* The schema of method `name`, e.g. "forward(__torch__.M self, Tensor x, int n=2) -> Tensor".
 * Owned by the model. TSRT_ERR_NO_SUCH_NAME for an unknown method. */
TSRT_API TSRT_NODISCARD int tsrt_model_method_schema(const tsrt_model *model, const char *name,
                                                     const char **out);

/* The extra files stored in the model file (`_extra_files` of torch.jit.save): their number,
 * name `index` (NULL when out of range), and the content of file `name` (`size` bytes, owned
 * by the model; TSRT_ERR_NO_SUCH_NAME when absent). */
TSRT_API size_t tsrt_model_extra_file_count(const tsrt_model *model);
TSRT_API const char *tsrt_model_extra_file_name(const tsrt_model *model, size_t index);
TSRT_API TSRT_NODISCARD int tsrt_model_extra_file(const tsrt_model *model, const char *name,
                                                  const void **data, size_t *size);

/* How the model runs, as flags: TSRT_RUN_FROZEN when its weights are constants (frozen by
 * the file or at load), TSRT_RUN_FUSED when it runs with oneDNN Graph fusion (frozen, warmed
 * up, and checked at load against the unfused model); 0 for a model run as saved; -1 for
 * NULL. (ABI 2) */
#define TSRT_RUN_FROZEN 1
#define TSRT_RUN_FUSED 2
TSRT_API int tsrt_model_run_flags(const tsrt_model *model);

/* The number of parameter elements of the module and its submodules (what
 * sum(p.numel() for p in model.parameters()) gives in Python); -1 for NULL. A frozen file
 * has none (its weights are constants): for it, the count its extra file
 * "tsrt/parameter_count" records (a decimal number, written by pyfront export before
 * freezing), else 0. */
TSRT_API int64_t tsrt_model_parameter_count(const tsrt_model *model);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TSRT_H */
