// Reduced precision: whether the CPU computes bfloat16 natively, converting a frozen module's
// weights to bfloat16, and casting a call's tensors between float32 and bfloat16.
#include <ATen/cpu/Utils.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>

#include "internal.hpp"

using tsrt::guarded;
using tsrt::require;

namespace {

bool capability(const std::unordered_map<std::string, c10::IValue> &caps, const char *name) {
    auto found = caps.find(name);
    return found != caps.end() && found->second.isBool() && found->second.toBool();
}

// Native bfloat16 as oneDNN uses it: AMX tiles (Sapphire Rapids and later) or the AVX-512
// BF16 dot products (Cooper Lake, Zen 4 and later). libtorch's cpuinfo also checks that the
// operating system enables the registers.
bool detect_native_bf16() {
    try {
        auto caps = at::cpu::get_cpu_capabilities();
        return capability(caps, "amx_bf16") || capability(caps, "avx512_bf16");
    } catch (...) {
        return false;
    }
}

void convert_block(torch::jit::Block *block) {
    for (torch::jit::Node *node : block->nodes()) {
        for (torch::jit::Block *inner : node->blocks()) convert_block(inner);
        if (node->kind() != torch::jit::prim::Constant ||
            !node->hasAttribute(torch::jit::attr::value) ||
            node->kindOf(torch::jit::attr::value) != torch::jit::AttributeKind::t)
            continue;
        const at::Tensor &value = node->t(torch::jit::attr::value);
        if (value.scalar_type() != at::kFloat) continue;
        at::Tensor converted = value.to(at::kBFloat16);
        node->t_(torch::jit::attr::value, converted);
        node->output()->inferTypeFrom(converted);
    }
}

}  // namespace

namespace tsrt {

bool native_bf16() {
    static const bool native = detect_native_bf16();
    return native;
}

void convert_weights_to_bf16(torch::jit::Module &module) {
    for (const torch::jit::Method &method : module.get_methods())
        convert_block(torch::jit::toGraphFunction(method.function()).graph()->block());
}
}  // namespace tsrt

extern "C" {

int tsrt_cpu_has_native_bf16(void) { return tsrt::native_bf16() ? 1 : 0; }

int tsrt_options_set_precision(tsrt_options *options, tsrt_precision precision) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "setting the precision", [&] {
        require(options != nullptr, "options is NULL");
        int value = tsrt::enum_code(precision);
        if (value != TSRT_PRECISION_FP32 && value != TSRT_PRECISION_BF16 &&
            value != TSRT_PRECISION_AUTO)
            tsrt::fail(TSRT_ERR_INVALID_ARGUMENT,
                       "unknown precision " + std::to_string(value) +
                           ": use TSRT_PRECISION_FP32, TSRT_PRECISION_BF16 or "
                           "TSRT_PRECISION_AUTO");
        options->precision = static_cast<tsrt_precision>(value);
    });
}

int tsrt_model_precision(const tsrt_model *model) {
    return model ? static_cast<int>(model->precision) : -1;
}

const char *tsrt_model_precision_note(const tsrt_model *model) {
    return model ? model->precision_note.c_str() : nullptr;
}

}  // extern "C"
