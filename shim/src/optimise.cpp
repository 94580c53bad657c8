// Making a loaded model fast by default: freezing, then a fast path for forward (oneDNN Graph
// fusion, bfloat16 when asked for) prepared on the warm-up shapes and kept only where it
// agrees with the reference.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>

#include <atomic>
#include <sstream>
#include <string>

#include "internal.hpp"

using tsrt::fail;

namespace {

// How close a fused float32 variant's results must be to the reference's, relative to the
// largest |reference value| of each result tensor: oneDNN's fused kernels sum in another order
// (ResNet-18: 1e-6). bfloat16 variants get kBf16Tolerance.
constexpr double kFusedTolerance = 1e-4;

std::atomic<bool> fusion_on{true};  // tsrt_set_fusion

// "1x3x224x224" lines, as export.py stores them in the extra file tsrt/input_shapes.
std::vector<std::vector<int64_t>> parse_shapes(const std::string &text) {
    std::vector<std::vector<int64_t>> shapes;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        std::vector<int64_t> shape;
        std::istringstream dims(line);
        std::string dim;
        while (std::getline(dims, dim, 'x')) {
            size_t used = 0;
            long long value = std::stoll(dim, &used);
            if (used != dim.size() || value < 0 || value > (1 << 20)) return {};
            shape.push_back(value);
        }
        if (shape.empty() || shape.size() > 8) return {};
        shapes.push_back(std::move(shape));
    }
    return shapes;
}

// Whether any attribute of the module or its submodules holds a tensor: weights read as
// attributes, which freezing turns into constants. A module without any is as good as frozen.
bool has_tensor_attributes(const torch::jit::Module &module) {
    for (const auto &attribute : module.named_attributes(/*recurse=*/true)) {
        std::vector<at::Tensor> tensors;
        tsrt::collect_tensors(attribute.value, tensors);
        if (!tensors.empty()) return true;
    }
    return false;
}

// The warm-up inputs: uniform random values in [0, 1) from a fixed seed, so that every load
// checks with the same numbers; unlike normal ones they also suit models that take their
// input as indices or masks.
std::vector<at::Tensor> warmup_inputs(const std::vector<std::vector<int64_t>> &shapes,
                                      c10::Device device) {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(20240229);
    std::vector<at::Tensor> inputs;
    for (const auto &shape : shapes) {
        at::Tensor input = at::rand(shape, generator, at::TensorOptions().dtype(at::kFloat));
        inputs.push_back(device.is_cpu() ? input : input.to(device));
    }
    return inputs;
}

// One way to run forward fast, tried in order at load until one agrees with the reference.
struct Variant {
    bool bf16;
    bool fused;
};

// Why bf16 cannot even be tried on this model, or "".
std::string bf16_impossible(const tsrt_model &model, bool has_warmup) {
    if (model.keeps_state)
        return "the model keeps state between calls (a method changes its attributes)";
    if (!model.frozen) return "the model is not frozen (freezing was turned off)";
    if (!has_warmup) return "bf16 is checked on the warm-up shapes, and this load has none";
    if (!model.device.is_cpu()) return "bf16 is used on the CPU only";
    if (model.forward == nullptr) return "the model has no forward method";
    return "";
}

std::string fp32_because(tsrt_precision asked, const std::string &reason) {
    std::string who =
        asked == TSRT_PRECISION_AUTO ? "auto precision would pick bf16" : "bf16 was asked for";
    return who + ", but " + reason + "; the model runs in fp32";
}

// Tries each variant on the warm-up inputs and keeps the first that agrees with the
// reference. Returns why the first bf16 variant failed, or "".
std::string choose_variant(tsrt_model &model, const std::vector<Variant> &variants, int warmup_runs,
                           const std::vector<at::Tensor> &inputs,
                           const std::vector<c10::IValue> &expected) {
    std::string bf16_failure;
    for (const Variant &variant : variants) {
        auto fast = std::make_unique<tsrt::FastPath>();
        fast->fused = variant.fused;
        fast->bf16 = variant.bf16;
        fast->tolerance = variant.bf16 ? tsrt::kBf16Tolerance : kFusedTolerance;
        fast->warmup_runs = warmup_runs;
        std::string why;
        try {
            fast->base = model.module.clone();
            if (variant.bf16) tsrt::convert_weights_to_bf16(fast->base);
            if (variant.fused) tsrt::spell_out_pool_strides(fast->base);
            why = tsrt::prepare_fast_path(*fast, inputs, expected);
        } catch (const std::exception &e) {
            std::string raw = e.what();
            why = "it failed: " + raw.substr(0, raw.find('\n'));
        }
        if (why.empty()) {
            model.fused = fast->fused;
            if (fast->bf16) model.precision = TSRT_PRECISION_BF16;
            model.fast = std::move(fast);
            return bf16_failure;
        }
        if (variant.bf16 && bf16_failure.empty()) bf16_failure = why;
    }
    return bf16_failure;
}

}  // namespace

namespace tsrt {

bool fusion_wanted() { return fusion_on.load(); }

void optimise_for_inference(tsrt_model &model, const tsrt_options *options) {
    tsrt_options defaults;
    const tsrt_options &opts = options ? *options : defaults;
    // Freezing inlines attributes, so a model that changes them cannot be frozen; warm-up
    // would change its state.
    if (!model.keeps_state) {
        bool weights_are_attributes = has_tensor_attributes(model.module);
        if (opts.freeze && weights_are_attributes)
            model.module = torch::jit::freeze(model.module, model.method_names);
        model.frozen = !weights_are_attributes || opts.freeze;
    }
    bind_methods(model);

    std::vector<std::vector<int64_t>> shapes = opts.warmup_shapes;
    if (!opts.warmup_shapes_given) {
        auto stored = model.extra_files.find("tsrt/input_shapes");
        if (stored != model.extra_files.end()) shapes = parse_shapes(stored->second);
    }
    bool has_warmup = !shapes.empty() && opts.warmup_runs > 0;

    tsrt_precision asked = opts.precision;
    bool want_bf16 =
        asked == TSRT_PRECISION_BF16 || (asked == TSRT_PRECISION_AUTO && native_bf16());
    if (asked == TSRT_PRECISION_AUTO && !native_bf16())
        model.precision_note =
            "auto precision picked fp32: this CPU has no native bf16 (AMX-BF16 or AVX512-BF16)";
    std::string impossible = bf16_impossible(model, has_warmup);
    if (impossible.empty() && forward_may_write_arguments(model.module))
        impossible = "forward writes into its arguments";
    if (want_bf16 && !impossible.empty()) {
        model.precision_note = fp32_because(asked, impossible);
        want_bf16 = false;
    }
    if (model.keeps_state || !has_warmup || model.forward == nullptr) return;

    // The reference's results on the warm-up inputs: the answers every variant must give.
    c10::InferenceMode inference_mode;
    std::vector<at::Tensor> inputs = warmup_inputs(shapes, model.device);
    std::vector<c10::IValue> expected;
    try {
        for (const at::Tensor &input : inputs)
            expected.push_back(run_reference(model, {c10::IValue(input)}));
    } catch (const Error &e) {
        fail(TSRT_ERR_FORWARD,
             "warm-up on the input shapes failed: " + e.message.substr(0, e.message.find('\n')));
    }
    if (!model.frozen || !model.device.is_cpu() || forward_may_write_arguments(model.module))
        return;

    // Fastest first. oneDNN Graph fusion is wrong on unfrozen graphs and fails on some frozen
    // ones; bfloat16 is checked against its own, looser tolerance.
    std::vector<Variant> variants;
    if (want_bf16) {
        if (fusion_wanted()) variants.push_back({true, true});
        variants.push_back({true, false});
    }
    if (fusion_wanted()) variants.push_back({false, true});
    std::string bf16_failure = choose_variant(model, variants, opts.warmup_runs, inputs, expected);
    if (want_bf16 && model.precision != TSRT_PRECISION_BF16)
        model.precision_note = fp32_because(asked, "in bf16 " + bf16_failure);
    else if (model.precision == TSRT_PRECISION_BF16 && !native_bf16())
        model.precision_note =
            "bf16 as asked for; this CPU has no native bf16 (AMX-BF16 or AVX512-BF16), so it "
            "is likely slower than fp32 here";
}

}  // namespace tsrt

extern "C" {

int tsrt_set_fusion(int enable) {
    fusion_on.store(enable != 0);
    tsrt::record_success();
    return TSRT_OK;
}

int tsrt_get_fusion(void) { return fusion_on.load() ? 1 : 0; }

}  // extern "C"

namespace tsrt {

std::vector<std::vector<int64_t>> parse_input_shapes(const std::string &text) {
    return parse_shapes(text);
}

}  // namespace tsrt
