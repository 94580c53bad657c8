// forward's fast path. libtorch's graph executor optimises a graph once, for the shapes it
// profiled first; oneDNN Graph kernels are compiled for those exact shapes, and another shape
// falls back to separately optimised pieces without the fused layout between them (ResNet-18
// warmed for batch 1 ran batch 8 at 1.2x the time of a model warmed for batch 8). So each
// input shape gets its own copy of the frozen forward, prepared for that shape and checked
// against the reference (the unfused float32 model) before any of its results are used.
//
// The fused kernels differ from torch where values are not ordinary: oneDNN's ReLU and
// pooling drop NaN, and an empty batch can fail to compile. Such inputs, and results holding
// NaN or infinities, go to the reference, which gives torch's answer.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/codegen/onednn/interface.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "internal.hpp"

namespace {

// Shapes per model that get a specialisation; calls with further shapes run the reference.
// Each holds its compiled kernels (fused: also oneDNN's copy of the weights in its layout).
constexpr size_t kMaxShapes = 8;

// Floating-point inputs of larger magnitude go to the reference. The fused kernels turn a NaN
// made inside the model (Inf - Inf after an overflow) into 0 where torch keeps it; from
// |x| <= 1e9, an overflow of float32 would take a gain of 1e29 inside the model.
constexpr double kInputLimit = 1e9;

std::mutex preparing;

// Whether every element of a floating-point tensor has |x| <= limit (NaN never has).
bool all_within(const at::Tensor &tensor, double limit) {
    if (tensor.scalar_type() == at::kFloat && tensor.is_cpu() && tensor.is_contiguous()) {
        const float *data = tensor.const_data_ptr<float>();
        const float bound = limit >= std::numeric_limits<float>::max()
                                ? std::numeric_limits<float>::max()
                                : static_cast<float>(limit);
        int64_t outside = 0, n = tensor.numel();
        for (int64_t i = 0; i < n; ++i) outside += !(std::fabs(data[i]) <= bound);
        return outside == 0;
    }
    return at::abs(tensor).max().item<double>() <= limit;
}

// Inputs the specialisations treat as torch does: non-empty, and floating-point values that
// are finite and within kInputLimit.
bool ordinary_inputs(const std::vector<at::Tensor> &tensors) {
    for (const at::Tensor &tensor : tensors) {
        if (!tensor.defined() || tensor.numel() == 0 || !tensor.is_cpu()) return false;
        if (at::isComplexType(tensor.scalar_type())) return false;
        if (at::isFloatingType(tensor.scalar_type()) && !all_within(tensor, kInputLimit))
            return false;
    }
    return true;
}

bool finite_results(const c10::IValue &result) {
    if (result.isTensor()) {
        const at::Tensor &tensor = result.toTensor();
        return !tensor.defined() || !at::isFloatingType(tensor.scalar_type()) ||
               tensor.numel() == 0 || all_within(tensor, std::numeric_limits<double>::max());
    }
    std::vector<at::Tensor> tensors;
    tsrt::collect_tensors(result, tensors);
    for (const at::Tensor &tensor : tensors)
        if (!finite_results(c10::IValue(tensor))) return false;
    return true;
}

tsrt::ShapeKey key_of(const std::vector<c10::IValue> &args,
                      const std::vector<at::Tensor> &tensors) {
    tsrt::ShapeKey key;
    key.reserve(2 + tensors.size() * 6);
    key.push_back(static_cast<int64_t>(args.size()));
    for (const at::Tensor &tensor : tensors) {
        key.push_back(static_cast<int64_t>(tensor.scalar_type()));
        key.push_back(tensor.dim());
        for (int64_t size : tensor.sizes()) key.push_back(size);
    }
    return key;
}

// An argument as a specialisation takes it: contiguous (fused kernels check strides too), and
// in bfloat16 for a bf16 variant.
c10::IValue specialisation_argument(const c10::IValue &arg, bool bf16) {
    if (arg.isTensor()) {
        const at::Tensor &tensor = arg.toTensor();
        if (bf16 && tensor.scalar_type() == at::kFloat)
            return tensor.to(at::kBFloat16).contiguous();
        return tensor.is_contiguous() ? arg : c10::IValue(tensor.contiguous());
    }
    if (!bf16) return arg;
    return tsrt::cast_tensors(arg, at::kFloat, at::kBFloat16);
}

c10::IValue run_specialisation(const tsrt::Specialisation &spec, const tsrt::FastPath &fast,
                               const std::vector<c10::IValue> &args) {
    std::vector<c10::IValue> stack;
    stack.reserve(args.size() + 1);
    stack.push_back(spec.module._ivalue());
    for (const c10::IValue &arg : args) stack.push_back(specialisation_argument(arg, fast.bf16));
    spec.forward->run(stack);
    c10::IValue result = std::move(stack.back());
    if (!fast.bf16) return result;
    return tsrt::cast_tensors(result, at::kBFloat16, at::kFloat);
}

std::string first_line(const char *text) {
    std::string line(text);
    return line.substr(0, line.find('\n'));
}

std::string describe_shapes(const std::vector<at::Tensor> &tensors) {
    std::ostringstream out;
    for (size_t i = 0; i < tensors.size(); ++i) {
        out << (i ? ", " : "");
        for (int64_t d = 0; d < tensors[i].dim(); ++d) out << (d ? "x" : "") << tensors[i].size(d);
    }
    return out.str();
}

// A specialisation of `fast` for the shapes of `args`: a clone of the base, warmed up on
// `args` (the first run profiles, the second optimises and compiles), then checked against
// `expected`, the reference's result on the same arguments. `why` says what failed.
std::shared_ptr<tsrt::Specialisation> prepare(const tsrt::FastPath &fast,
                                              const std::vector<c10::IValue> &args,
                                              const c10::IValue &expected, std::string &why) {
    auto spec = std::make_shared<tsrt::Specialisation>();
    try {
        spec->module = fast.base.clone();
        spec->forward = &spec->module.get_method("forward").function();
        c10::IValue result;
        {
            // The graph is optimised (for these shapes) during these runs and never again:
            // later calls find the optimised plan whatever the thread's optimiser setting.
            torch::jit::GraphOptimizerEnabledGuard optimise(true);
            tsrt::FusionSwitch fusion(fast.fused);
            for (int run = 0; run < std::max(1, fast.warmup_runs); ++run)
                result = run_specialisation(*spec, fast, args);
        }
        why = tsrt::compare_results(result, expected, fast.tolerance);
    } catch (const std::exception &e) {
        why = "it failed: " + first_line(e.what());
    }
    spec->verified = why.empty();
    if (!spec->verified) spec->module = torch::jit::Module();  // keep only the verdict
    return spec;
}

bool is_pooling(c10::Symbol kind) {
    using namespace torch::jit;
    return kind == aten::max_pool1d || kind == aten::max_pool2d || kind == aten::max_pool3d ||
           kind == aten::avg_pool1d || kind == aten::avg_pool2d || kind == aten::avg_pool3d;
}

// The ints of a list known when the graph is built: a constant, or a list made of constants
// (as scripting writes a kernel size of 2).
std::optional<std::vector<int64_t>> constant_ints(torch::jit::Value *value) {
    if (std::optional<c10::IValue> constant = torch::jit::toIValue(value)) {
        if (!constant->isIntList()) return std::nullopt;
        return constant->toIntVector();
    }
    if (value->node()->kind() != torch::jit::prim::ListConstruct) return std::nullopt;
    std::vector<int64_t> ints;
    for (torch::jit::Value *item : value->node()->inputs()) {
        std::optional<c10::IValue> constant = torch::jit::toIValue(item);
        if (!constant || !constant->isInt()) return std::nullopt;
        ints.push_back(constant->toInt());
    }
    return ints;
}

void spell_out_block(torch::jit::Block *block) {
    for (torch::jit::Node *node : block->nodes()) {
        for (torch::jit::Block *inner : node->blocks()) spell_out_block(inner);
        if (!is_pooling(node->kind()) || node->inputs().size() < 3) continue;
        // (self, kernel_size, stride, ...) in each of these schemas
        std::optional<std::vector<int64_t>> kernel = constant_ints(node->input(1));
        std::optional<std::vector<int64_t>> stride = constant_ints(node->input(2));
        if (!kernel || kernel->empty() || !stride || !stride->empty()) continue;
        torch::jit::WithInsertPoint here(node);
        node->replaceInput(2, node->owningGraph()->insertConstant(c10::IValue(*kernel)));
    }
}

// Prepares a specialisation for a shape met in a call, unless another is being prepared
// (that call then returns the reference's result, and a later one prepares this shape).
void learn_shape(tsrt::FastPath &fast, const tsrt::ShapeKey &key,
                 const std::vector<c10::IValue> &args, const c10::IValue &expected) {
    std::unique_lock<std::mutex> one_at_a_time(preparing, std::try_to_lock);
    if (!one_at_a_time.owns_lock()) return;
    {
        std::shared_lock<std::shared_mutex> read(fast.lock);
        if (fast.shapes.count(key) || fast.shapes.size() >= kMaxShapes) return;
    }
    std::string why;
    std::shared_ptr<const tsrt::Specialisation> spec = prepare(fast, args, expected, why);
    std::unique_lock<std::shared_mutex> write(fast.lock);
    fast.shapes.emplace(key, std::move(spec));
}

}  // namespace

namespace tsrt {

void spell_out_pool_strides(torch::jit::Module &module) {
    for (const torch::jit::Method &method : module.get_methods())
        spell_out_block(torch::jit::toGraphFunction(method.function()).graph()->block());
}

FusionSwitch::FusionSwitch(bool on) : on_(on) {
    if (!on_) return;
    before_ = torch::jit::RegisterLlgaFuseGraph::isEnabled();
    torch::jit::RegisterLlgaFuseGraph::setEnabled(true);
}

FusionSwitch::~FusionSwitch() {
    if (on_) torch::jit::RegisterLlgaFuseGraph::setEnabled(before_);
}

std::string compare_results(const c10::IValue &fast, const c10::IValue &reference,
                            double tolerance) {
    std::vector<at::Tensor> ours, theirs;
    collect_tensors(fast, ours);
    collect_tensors(reference, theirs);
    if (ours.size() != theirs.size()) return "its results differ in structure";
    for (size_t i = 0; i < ours.size(); ++i) {
        const at::Tensor &a = ours[i], &b = theirs[i];
        std::string which = "result tensor " + std::to_string(i);
        if (a.defined() != b.defined()) return which + " differs in definedness";
        if (!b.defined()) continue;
        if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type())
            return which + " differs in shape or type";
        if (!at::isFloatingType(b.scalar_type())) {
            if (!at::equal(a.cpu(), b.cpu())) return which + " differs";
            continue;
        }
        if (b.numel() == 0) continue;
        at::Tensor a64 = a.to(at::kCPU, at::kDouble), b64 = b.to(at::kCPU, at::kDouble);
        if (!at::equal(at::isnan(a64), at::isnan(b64)) ||
            !at::equal(at::isposinf(a64), at::isposinf(b64)) ||
            !at::equal(at::isneginf(a64), at::isneginf(b64)))
            return which + " has NaN or infinities in other places";
        double scale = std::max(1e-30, at::nan_to_num(b64.abs(), 0, 0, 0).max().item<double>());
        double worst = at::nan_to_num((a64 - b64).abs(), 0, 0, 0).max().item<double>();
        if (worst > tolerance * scale) {
            std::ostringstream out;
            out.precision(2);
            out << which << " differs by " << worst / scale
                << " of its largest value (allowed: " << tolerance << ")";
            return out.str();
        }
    }
    return "";
}

std::string prepare_fast_path(FastPath &fast, const std::vector<at::Tensor> &inputs,
                              const std::vector<c10::IValue> &expected) {
    std::lock_guard<std::mutex> one_at_a_time(preparing);
    for (size_t i = 0; i < inputs.size(); ++i) {
        std::vector<c10::IValue> args{c10::IValue(inputs[i])};
        std::vector<at::Tensor> tensors{inputs[i]};
        if (!ordinary_inputs(tensors)) continue;  // an empty shape runs the reference anyway
        ShapeKey key = key_of(args, tensors);
        if (fast.shapes.count(key) || fast.shapes.size() >= kMaxShapes) continue;
        std::string why;
        std::shared_ptr<const Specialisation> spec = prepare(fast, args, expected[i], why);
        if (!spec->verified) return why + " on the warm-up shape " + describe_shapes(tensors);
        fast.shapes.emplace(std::move(key), std::move(spec));
    }
    if (fast.shapes.empty()) return "no warm-up shape has elements to check it on";
    return "";
}

c10::IValue run_fast_forward(tsrt_model &model, const std::vector<c10::IValue> &args) {
    FastPath &fast = *model.fast;
    std::vector<at::Tensor> tensors;
    for (const c10::IValue &arg : args) collect_tensors(arg, tensors);
    if (!ordinary_inputs(tensors)) return run_reference(model, args);
    ShapeKey key = key_of(args, tensors);
    std::shared_ptr<const Specialisation> spec;
    size_t known;
    {
        std::shared_lock<std::shared_mutex> read(fast.lock);
        auto found = fast.shapes.find(key);
        if (found != fast.shapes.end()) spec = found->second;
        known = fast.shapes.size();
    }
    if (spec) {
        if (spec->verified) {
            try {
                c10::IValue result = run_specialisation(*spec, fast, args);
                if (finite_results(result)) return result;
            } catch (const c10::OutOfMemoryError &) {
                throw;
            } catch (const std::exception &) {
                // The reference runs the call again and reports what the model raises.
            }
        }
        return run_reference(model, args);
    }
    c10::IValue expected = run_reference(model, args);
    if (known < kMaxShapes) learn_shape(fast, key, args, expected);
    return expected;
}

}  // namespace tsrt
