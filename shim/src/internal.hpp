// Definitions shared by the shim's translation units: the structs behind the opaque handles
// and the exception type used to carry a status code to the C boundary.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/function_schema.h>
#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "tsrt.h"

namespace caffe2::serialize {
class PyTorchStreamReader;
}

struct tsrt_options {
    std::string device = "cpu";
    uint64_t max_file_size = 0;  // 0: no limit
    bool debug_info = false;     // load *.debug_pkl records (see tsrt_options_set_debug_info)
    bool freeze = true;          // freeze plain, stateless modules at load
    int warmup_runs = 3;         // forward runs per warm-up shape; 0: no warm-up
    bool warmup_shapes_given = false;
    std::vector<std::vector<int64_t>> warmup_shapes;  // else the file's tsrt/input_shapes
    tsrt_precision precision = TSRT_PRECISION_FP32;
};

namespace tsrt {

// The dtypes and sizes of a forward call's tensor arguments, flattened: what a specialised
// copy of forward is prepared for (oneDNN Graph kernels are compiled for fixed shapes).
using ShapeKey = std::vector<int64_t>;

// A copy of forward prepared (warmed up, its kernels compiled) for one ShapeKey, and whether
// it agreed with the reference on the input it was prepared with. Immutable once published.
struct Specialisation {
    torch::jit::Module module;
    torch::jit::Function *forward = nullptr;  // module's forward
    bool verified = false;
};

// How forward runs fast (see fast_path.cpp): a frozen forward in the chosen variant (fused,
// bf16), copied and checked per input shape. The reference is the model's `module`.
struct FastPath {
    torch::jit::Module base;  // never run itself: each specialisation is a clone of it
    bool fused = false;       // run with oneDNN Graph fusion
    bool bf16 = false;        // weights in bfloat16; float32 inputs cast, results cast back
    double tolerance = 0;     // relative to the largest |reference value| of each sample
    int warmup_runs = 3;
    std::shared_mutex lock;  // guards `shapes`
    std::map<ShapeKey, std::shared_ptr<const Specialisation>> shapes;
};

// A method of the loaded module, found once at load so calls need no lookup by name.
struct MethodEntry {
    std::string name;
    torch::jit::Function *function;
    std::string schema;  // what tsrt_model_method_schema hands out
};

struct Pt2Package;  // aoti_package.cpp
struct Pt2PackageDeleter {
    void operator()(Pt2Package *package) const noexcept;
};

}  // namespace tsrt

struct tsrt_model {
    tsrt_model(torch::jit::Module module, c10::Device device, std::string device_name)
        : module(std::move(module)), device(device), device_name(std::move(device_name)) {}

    torch::jit::Module module;  // empty for an AOTInductor package
    c10::Device device;
    std::string device_name;  // what tsrt_model_device hands out
    tsrt_format format = TSRT_FORMAT_TORCHSCRIPT;
    // An AOTInductor package's loaded code and private folder (format
    // TSRT_FORMAT_AOTI_PACKAGE); every call runs it instead of `module`.
    std::unique_ptr<tsrt::Pt2Package, tsrt::Pt2PackageDeleter> package;
    std::vector<std::string> method_names;
    std::map<std::string, std::string> schemas;      // method name -> schema text
    std::vector<tsrt::MethodEntry> methods;          // bound after the load's optimisation
    const tsrt::MethodEntry *forward = nullptr;      // in `methods`, when the model has one
    std::map<std::string, std::string> extra_files;  // name -> content
    std::vector<const std::string *> extra_file_names;
    // Parameter elements; for a frozen file, the count export recorded before freezing.
    int64_t parameter_count = 0;
    // The input shapes the file declares (its extra file tsrt/input_shapes), for messages.
    std::vector<std::vector<int64_t>> declared_shapes;
    // Loaded with debug info: failing calls report the TorchScript traceback too.
    bool debug_info = false;
    // True when some method may change the module's attributes: calls are then serialised
    // by `call_lock` and tensor inputs are copied, since the model could keep them.
    bool keeps_state = true;
    // Frozen (by the file or at load): weights are constants. Only frozen graphs may be
    // optimised with oneDNN Graph fusion, which gives wrong results on unfrozen ones.
    bool frozen = false;
    // Runs forward with oneDNN Graph fusion: frozen, and verified against the unfused model.
    bool fused = false;
    // forward's verified fast path; null when every call runs `module` itself (the reference:
    // as saved or frozen, float32, run by libtorch's simple executor, which never fuses).
    std::unique_ptr<tsrt::FastPath> fast;
    tsrt_precision precision = TSRT_PRECISION_FP32;  // what forward really runs with
    std::string precision_note;                      // tsrt_model_precision_note
    std::mutex call_lock;
    // tsrt_model_close: calls in flight, and whether the model is closed. A call registers
    // itself before touching the module; close waits for the count to drop to zero.
    std::atomic<int> in_flight{0};
    std::atomic<bool> closed{false};
    std::mutex close_lock;
    std::condition_variable idle;
};

struct tsrt_value {
    c10::IValue value;
    mutable std::once_flag type_once;
    mutable std::string type_name;  // filled on first tsrt_value_type
};

struct tsrt_tensor {
    at::Tensor tensor;  // host memory, contiguous, never aliasing caller memory
    std::vector<int64_t> shape;
    tsrt_dtype dtype;
};

namespace tsrt {

// Thrown inside the shim to leave with a specific status and message; converted to a status
// code at the C boundary by `guarded`.
struct Error {
    int status;
    std::string message;
};

[[noreturn]] inline void fail(int status, std::string message) {
    throw Error{status, std::move(message)};
}

inline void require(bool condition, const char *message) {
    if (!condition) fail(TSRT_ERR_INVALID_ARGUMENT, message);
}

// Records a failure for tsrt_last_error on this thread and returns `status`. Never throws.
int record_failure(int status, const char *message) noexcept;
// The same with the message "<context>: <cause>", or `context` alone when memory runs out.
int record_failure(int status, const char *context, const char *cause) noexcept;
// Empties this thread's message after a successful call. Never throws.
void record_success() noexcept;

// What an exception means to a C caller: the one mapping from what the shim, libtorch and the
// C++ library throw to a status code and message.
struct Translation {
    int status;
    const char *message;  // borrowed from the exception, or static
    // Raised by libtorch (or the C++ library, or the TorchScript compiler) rather than by the
    // shim: `message` is its bare report, which the caller puts in context.
    bool from_libtorch;
};

// Translates the exception being handled; call it only inside a catch block, and use the
// message only while that block runs. An Error keeps its status and message; running out of
// memory is TSRT_ERR_OUT_OF_MEMORY; any other error of libtorch or the C++ library is
// `libtorch_status`, what such an error means in this call (a bad file while loading, a
// rejected input while running); an exception of an unknown type is TSRT_ERR_INTERNAL.
// Never throws.
Translation translate_current_exception(int libtorch_status) noexcept;

// Runs `body` and converts whatever it throws into a status code plus a per-thread message;
// `context` introduces libtorch's own reports.
template <class Body>
int guarded(int libtorch_status, const char *context, Body &&body) noexcept {
    try {
        body();
        record_success();
        return TSRT_OK;
    } catch (...) {
        Translation failure = translate_current_exception(libtorch_status);
        if (failure.from_libtorch) return record_failure(failure.status, context, failure.message);
        return record_failure(failure.status, failure.message);
    }
}

// Maps libtorch's element type to this ABI's; TSRT_DTYPE_UNKNOWN for types not in the ABI.
tsrt_dtype to_abi_dtype(c10::ScalarType type) noexcept;

// A tensor as a caller reads its memory: on the host, C-contiguous, and with libtorch's lazy
// negation and conjugation applied (the imaginary part of a conjugate view shares memory that
// holds the values un-negated). Returns `tensor` itself when it is all that already.
at::Tensor readable_on_host(at::Tensor tensor);

// Hands a tensor out to the caller: on the host and contiguous. Results of calls already
// never share caller memory (call_method sees to that).
tsrt_tensor *make_result_tensor(const at::Tensor &value);

// Views caller memory as a float32 tensor after checking the shape; no copy.
at::Tensor borrow_float_input(const float *data, const int64_t *shape, size_t ndim);

// Runs forward on one input tensor through call_method and returns the single tensor it
// produces (TSRT_ERR_UNSUPPORTED for any other result).
at::Tensor run_forward_to_tensor(tsrt_model &model, const at::Tensor &input);

// Maps this ABI's element type to libtorch's; fails with TSRT_ERR_INVALID_ARGUMENT otherwise,
// naming `whose` dtype it is when given ("out").
c10::ScalarType from_abi_dtype(int dtype, const char *whose = nullptr);

// The number a C caller passed for an enum parameter (tsrt_dtype, tsrt_precision). A C caller
// may pass any int there, and reading a value outside the enumerators as the C++ enum type is
// undefined behaviour, so the argument's bytes are read as an int (by reference: passing it by
// value would read it).
template <class Enum>
inline int enum_code(const Enum &value) noexcept {
    static_assert(sizeof(int) == sizeof(Enum));
    int code;
    std::memcpy(&code, &value, sizeof code);
    return code;
}

// What messages call a caller's buffer and the parameters that describe it.
struct BufferNames {
    const char *role;   // "input", "out buffer"
    const char *shape;  // "shape"
    const char *data;   // "data"
};
inline constexpr BufferNames kInputNames{"input", "shape", "data"};
inline constexpr BufferNames kOutNames{"out buffer", "out_shape", "out"};

// A caller's C-contiguous buffer, checked: its shape (`sizes` views the caller's array, for
// the call only) and element count.
struct CallerBuffer {
    void *data;
    c10::ScalarType type;
    c10::IntArrayRef sizes;
    int64_t numel;
};

// Checks a caller's buffer description: the rank (at most 64), NULL pointers (data may be
// NULL only when a size is zero), negative sizes and byte counts that overflow.
CallerBuffer check_caller_buffer(const void *data, c10::ScalarType type, const int64_t *shape,
                                 size_t ndim, const BufferNames &names);

// Views caller memory as a tensor of `type` after checking the shape; no copy.
at::Tensor borrow_input(const void *data, c10::ScalarType type, const int64_t *shape, size_t ndim);

// Returns `value` with every tensor that shares memory with one of `borrowed` replaced by a
// copy, so that results never point into caller memory.
c10::IValue without_aliases(const c10::IValue &value, const std::vector<at::Tensor> &borrowed);

// Every tensor inside `value` (recursively), for alias checks.
void collect_tensors(const c10::IValue &value, std::vector<at::Tensor> &out);

// `value` with every tensor replaced by a copy (inputs to models that keep state).
c10::IValue with_copied_tensors(const c10::IValue &value);

// `value` with every tensor of type `from` replaced by a copy converted to `to`.
c10::IValue cast_tensors(const c10::IValue &value, c10::ScalarType from, c10::ScalarType to);

// Whether any method of `module` may assign or modify in place one of its attributes.
bool may_change_own_state(const torch::jit::Module &module);

// The message for a method that raised: the cause (the last line of libtorch's report) with
// the arguments' types and shapes, and the input shape the file declares when the call's
// differs; the full TorchScript traceback follows when the model was loaded with debug info.
std::string describe_call_failure(const tsrt_model &model, const std::string &method,
                                  const c10::IValue *args, size_t nargs, const std::string &raw);

// The message for arguments that do not fit a method's schema (`stack` holds self first):
// which argument, what was given, what was expected, and the signature without mangled names.
// `raw` is libtorch's own report, the fallback when no single argument is to blame.
std::string describe_bad_arguments(const std::string &method, const c10::FunctionSchema &schema,
                                   const std::vector<c10::IValue> &stack, const std::string &raw);

// "1x3x224x224" lines, as export.py stores them in the extra file tsrt/input_shapes; {} when
// one is malformed (a std::exception when a number cannot be read).
std::vector<std::vector<int64_t>> parse_input_shapes(const std::string &text);

// Fail with TSRT_ERR_BAD_MODEL, naming what the file is, when the archive `reader` opened is a
// torch.save checkpoint or a torch.export archive rather than a TorchScript program.
// `weights` is the file name to suggest to `pyfront export --weights`.
void reject_other_archives(caffe2::serialize::PyTorchStreamReader &reader,
                           const std::string &weights);

// The same for bytes that are not a zip archive at all, from their first bytes: an ONNX model,
// or a torch.save checkpoint in the legacy format. Does nothing for anything else.
void reject_other_formats(const unsigned char *head, size_t size, const std::string &weights);

// Whether `forward` may modify one of its arguments in place.
bool forward_may_write_arguments(const torch::jit::Module &module);

// Fails with TSRT_ERR_BAD_MODEL when a tensor of the module (attribute or constant) claims
// more elements than its storage holds.
void check_tensors_fit_storage(const torch::jit::Module &module);

// Calls method `name` with `args` as tsrt_model_run_method documents; the result never
// references caller memory.
c10::IValue call_method(tsrt_model &model, const char *name, std::vector<c10::IValue> args);

// Runs `function` on `stack` (self, then the arguments) and returns its result. What libtorch
// raises becomes TSRT_ERR_FORWARD with a message naming method `name` and describing `args`.
c10::IValue invoke(const tsrt_model &model, torch::jit::Function &function,
                   std::vector<c10::IValue> stack, const std::string &name,
                   const std::vector<c10::IValue> &args);

// Runs forward on the reference, the model's `module`: float32, as saved or frozen, run by
// libtorch's simple executor (never optimised, so never fused).
c10::IValue run_reference(tsrt_model &model, const std::vector<c10::IValue> &args);

// Reads method names, schemas, parameter count and state analysis into `model`.
void describe_model(tsrt_model &model);

// Reads what export records in the model's extra files (its parameter count before freezing,
// its input shapes) into `model`.
void describe_recorded(tsrt_model &model);

// Finds the methods of the model's final module once (after freezing) for the calls, and
// makes them run with libtorch's simple executor. Before any call runs the module.
void bind_methods(tsrt_model &model);

// Applies the loading options that make a model fast: freezing, then the verified fast path
// for forward (fusion, precision) prepared on the warm-up shapes.
void optimise_for_inference(tsrt_model &model, const tsrt_options *options);

// Prepares `fast` for forward on the warm-up `inputs`, each checked against the reference's
// `expected` results. Returns "" when every shape agreed (the specialisations are then in
// `fast.shapes`), else why not.
std::string prepare_fast_path(FastPath &fast, const std::vector<at::Tensor> &inputs,
                              const std::vector<c10::IValue> &expected);

// forward through the fast path: a specialisation verified for the arguments' shapes, or
// the reference for inputs it might not treat as torch does (NaN, infinities, huge values,
// empty tensors), for results holding NaN or infinities, and for shapes without a verified
// specialisation. A shape met for the first time gets its specialisation prepared and checked
// during that call, which returns the reference's result.
c10::IValue run_fast_forward(tsrt_model &model, const std::vector<c10::IValue> &args);

// Whether `fused` agrees with `reference` within `tolerance` times the largest |reference
// value| of each sample (slice along the first dimension), non-finite values in the same
// places; "" when it does, else what differed.
std::string compare_results(const c10::IValue &fast, const c10::IValue &reference,
                            double tolerance);

// How close bfloat16 results must be to float32's, relative to the largest |float32 value| of
// each sample: bfloat16 keeps 8 significant bits (ResNet-18: 0.005). tsrt.h states it.
constexpr double kBf16Tolerance = TSRT_BF16_TOLERANCE;

// Whether the CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16).
bool native_bf16();

// Converts the float32 constants of every method's graph (a frozen module's weights) to
// bfloat16, in place. Only for a module no call has run yet.
void convert_weights_to_bf16(torch::jit::Module &module);

// Writes out the default stride (the kernel size) of every pooling whose stride list is empty,
// as TorchScript records max_pool2d(x, 2): oneDNN Graph refuses an empty list, and the model
// then ran unfused. The operators compute the same either way.
void spell_out_pool_strides(torch::jit::Module &module);

// Turns libtorch's process-wide oneDNN Graph fusion switch on for the lifetime of the object
// when `on`, and back to what it was after. The switch is read only while a graph is
// optimised, and only preparations of specialisations optimise graphs with it on, one at a
// time in the process; every other call runs with it as it was.
class FusionSwitch {
   public:
    explicit FusionSwitch(bool on);
    ~FusionSwitch();
    FusionSwitch(const FusionSwitch &) = delete;
    FusionSwitch &operator=(const FusionSwitch &) = delete;

   private:
    bool on_;
    bool before_ = false;
};

// Whether fusion is wanted for models loaded from now on (tsrt_set_fusion).
bool fusion_wanted();

// Remembers the intra-op thread count the caller set (tsrt_set_num_threads).
void record_thread_setting(int n);
int configured_thread_count() noexcept;

// Shares the intra-op threads among the calls running at once, so that concurrent callers
// never oversubscribe the cores: each of n concurrent calls uses max(1, threads / n).
class ThreadBudget {
   public:
    ThreadBudget();
    ~ThreadBudget();
    ThreadBudget(const ThreadBudget &) = delete;
    ThreadBudget &operator=(const ThreadBudget &) = delete;
};

// Registers a call on a model for tsrt_model_close; fails with TSRT_ERR_CLOSED when the model
// is closed.
class InFlight {
   public:
    explicit InFlight(tsrt_model &model);
    ~InFlight();
    InFlight(const InFlight &) = delete;
    InFlight &operator=(const InFlight &) = delete;

   private:
    tsrt_model &model_;
};

// Holds the model's call lock for the duration of a call when the model keeps state.
class CallGuard {
   public:
    explicit CallGuard(tsrt_model &model) {
        if (model.keeps_state) lock_ = std::unique_lock<std::mutex>(model.call_lock);
    }

   private:
    std::unique_lock<std::mutex> lock_;
};

// Softmax over dim 1 of a 2-D floating-point tensor, then top-k into caller buffers.
void softmax_topk_into(const at::Tensor &logits, int64_t k, int64_t *indices, float *probs,
                       size_t capacity);

}  // namespace tsrt
