// Calling any method with any arguments, and describing a loaded model.
#include <ATen/Functions.h>
#include <ATen/core/function_schema.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/function_impl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <sstream>
#include <string>

#include "aoti_package.hpp"
#include "internal.hpp"

using tsrt::fail;
using tsrt::guarded;
using tsrt::require;

namespace {

// Gives values built from the caller's data the types the schema asks for, as Python's
// binding does: an int where a float is wanted, typed lists from untyped ones (an empty list
// is Any[] until it meets a schema), and the same inside tuples, lists, dicts and Optionals.
c10::IValue coerce_to(const c10::IValue &value, const c10::TypePtr &type) {
    // The commonest case first: value.type() of a tensor builds a new type object.
    if (value.isTensor() && type->kind() == c10::TensorType::Kind) return value;
    if (value.type()->isSubtypeOf(*type)) return value;
    if (auto optional = type->cast<c10::OptionalType>()) {
        return value.isNone() ? value : coerce_to(value, optional->getElementType());
    }
    if (type->kind() == c10::FloatType::Kind && value.isInt())
        return c10::IValue(static_cast<double>(value.toInt()));
    if (auto list_type = type->cast<c10::ListType>(); list_type && value.isList()) {
        c10::impl::GenericList list(list_type->getElementType());
        for (const c10::IValue &item : value.toListRef()) {
            c10::IValue coerced = coerce_to(item, list_type->getElementType());
            // An item of another type stays in the caller's list, for the schema to report.
            if (!coerced.type()->isSubtypeOf(*list_type->getElementType())) return value;
            list.push_back(std::move(coerced));
        }
        return c10::IValue(list);
    }
    if (auto tuple_type = type->cast<c10::TupleType>(); tuple_type && value.isTuple()) {
        const auto &elements = value.toTupleRef().elements();
        if (elements.size() != tuple_type->elements().size()) return value;
        std::vector<c10::IValue> items;
        for (size_t i = 0; i < elements.size(); ++i)
            items.push_back(coerce_to(elements[i], tuple_type->elements()[i]));
        return c10::ivalue::Tuple::create(std::move(items));
    }
    if (auto dict_type = type->cast<c10::DictType>(); dict_type && value.isGenericDict()) {
        c10::impl::GenericDict dict(dict_type->getKeyType(), dict_type->getValueType());
        for (const auto &entry : value.toGenericDict()) {
            c10::IValue key = coerce_to(entry.key(), dict_type->getKeyType());
            c10::IValue item = coerce_to(entry.value(), dict_type->getValueType());
            if (!key.type()->isSubtypeOf(*dict_type->getKeyType()) ||
                !item.type()->isSubtypeOf(*dict_type->getValueType()))
                return value;
            dict.insert_or_assign(std::move(key), std::move(item));
        }
        return c10::IValue(dict);
    }
    return value;  // left for the schema check to report
}

// libtorch's schema check lets an empty dict through as any argument (its element types are
// unknown), so `{}` would reach the method as a Tensor, an int or a list; torch.jit.load's
// Python call refuses it. A dict that coerce_to left untyped is refused here the same way.
void refuse_empty_dicts_of_other_types(const c10::FunctionSchema &schema,
                                       const std::vector<c10::IValue> &stack) {
    for (size_t i = 1; i < stack.size() && i < schema.arguments().size(); ++i) {
        const c10::IValue &value = stack[i];
        const c10::Argument &argument = schema.arguments()[i];
        if (value.isGenericDict() && value.toGenericDict().empty() &&
            !value.type()->isSubtypeOf(*argument.type()))
            TORCH_CHECK(false, "Expected a value of type '", argument.type()->repr_str(),
                        "' for argument '", argument.name(), "' but instead found an empty Dict");
    }
}

const tsrt::MethodEntry &find_method(const tsrt_model &model, const char *name) {
    for (const tsrt::MethodEntry &method : model.methods)
        if (method.name == name) return method;
    std::string known;
    for (const auto &m : model.method_names) known += (known.empty() ? "" : ", ") + m;
    fail(TSRT_ERR_NO_SUCH_NAME,
         std::string("the model has no method '") + name + "' (it has: " + known + ")");
}

// "Float[1, 3, 224]" for a tensor, the TorchScript type for anything else.
std::string describe_argument(const c10::IValue &value) {
    if (value.isTensor()) {
        const at::Tensor &tensor = value.toTensor();
        if (!tensor.defined()) return "undefined Tensor";
        return std::string(c10::toString(tensor.scalar_type())) + c10::str(tensor.sizes());
    }
    return value.type()->str();
}

// Copies a method's result into the caller's buffer, which must be of its shape and dtype (a
// bfloat16 result may widen into float32); `out` is untouched when anything does not fit.
void write_result_into(const c10::IValue &result, const tsrt::CallerBuffer &out,
                       const std::string &method) {
    if (!result.isTensor())
        fail(TSRT_ERR_UNSUPPORTED, method + " returned a " + result.type()->str() +
                                       ", not one tensor, so there is nothing to write into out");
    const at::Tensor &tensor = result.toTensor();
    if (!tensor.defined() || tensor.layout() != c10::kStrided || tensor.is_quantized() ||
        tsrt::to_abi_dtype(tensor.scalar_type()) == TSRT_DTYPE_UNKNOWN)
        fail(TSRT_ERR_UNSUPPORTED, method + " returned " + describe_argument(result) +
                                       ", which no out can hold (undefined, sparse, quantized, "
                                       "or of a dtype this ABI does not have)");
    bool widened = tensor.scalar_type() == c10::kBFloat16 && out.type == c10::kFloat;
    if ((tensor.scalar_type() != out.type && !widened) || tensor.sizes() != out.sizes)
        fail(TSRT_ERR_INVALID_ARGUMENT, method + " returned " + describe_argument(result) +
                                            " but out is " + c10::toString(out.type) +
                                            c10::str(out.sizes) +
                                            ": give out the result's shape and dtype");
    if (out.numel == 0) return;
    at::Tensor readable = tsrt::readable_on_host(tensor);
    if (widened) {
        at::from_blob(out.data, out.sizes, at::TensorOptions().dtype(out.type)).copy_(readable);
        return;
    }
    std::memmove(out.data, readable.const_data_ptr(), readable.nbytes());  // out may be the input
}

// Whether `value` is a tensor whose shape matches one the model's file declares, the first
// (batch) size aside; also true when the file declares none.
bool fits_declared_shapes(const tsrt_model &model, const c10::IValue &value) {
    if (model.declared_shapes.empty() || !value.isTensor()) return true;
    c10::IntArrayRef sizes = value.toTensor().sizes();
    for (const std::vector<int64_t> &shape : model.declared_shapes)
        if (shape.size() == sizes.size() &&
            std::equal(shape.begin() + 1, shape.end(), sizes.begin() + 1))
            return true;
    return false;
}

std::string last_line(const std::string &text) {
    size_t end = text.find_last_not_of(" \n");
    if (end == std::string::npos) return text;
    size_t newline = text.rfind('\n', end);
    size_t start = newline == std::string::npos ? 0 : newline + 1;
    return text.substr(start, end + 1 - start);
}

// A non-negative decimal count, as export writes it; 0 for anything else.
int64_t recorded_count(const std::string &text) {
    int64_t count = 0;
    const char *begin = text.data(), *end = text.data() + text.size();
    while (end > begin && std::isspace(static_cast<unsigned char>(end[-1]))) --end;
    auto [stop, error] = std::from_chars(begin, end, count);
    return error == std::errc() && stop == end && count >= 0 ? count : 0;
}

}  // namespace

namespace tsrt {

c10::IValue call_method(tsrt_model &model, const char *name, std::vector<c10::IValue> args) {
    InFlight registered(model);
    c10::InferenceMode inference_mode;
    if (model.package) {
        std::vector<at::Tensor> borrowed;
        for (const c10::IValue &arg : args) collect_tensors(arg, borrowed);
        ThreadBudget threads;
        return without_aliases(run_aoti_package(model, name, args), borrowed);
    }
    const MethodEntry &method = find_method(model, name);
    const c10::FunctionSchema &schema = method.function->getSchema();

    std::vector<c10::IValue> stack;  // self first, as the schema lists it
    stack.reserve(args.size() + 1);
    stack.push_back(model.module._ivalue());
    std::vector<at::Tensor> borrowed;
    for (size_t i = 0; i < args.size(); ++i) {
        c10::IValue &arg = args[i];
        if (i + 1 < schema.arguments().size())
            arg = coerce_to(arg, schema.arguments()[i + 1].type());
        collect_tensors(arg, borrowed);
        if (!model.device.is_cpu()) arg = arg.deepcopy(model.device);
        stack.push_back(arg);
    }
    try {
        refuse_empty_dicts_of_other_types(schema, stack);
        schema.checkAndNormalizeInputs(stack);
    } catch (const c10::Error &e) {
        fail(TSRT_ERR_INVALID_ARGUMENT,
             describe_bad_arguments(name, schema, stack, e.what_without_backtrace()));
    }
    if (stack.size() != args.size() + 1) args.assign(stack.begin() + 1, stack.end());  // defaults
    CallGuard serialise(model);
    ThreadBudget threads;
    if (model.keeps_state)  // the model could keep a reference to caller memory
        for (size_t i = 1; i < stack.size(); ++i) stack[i] = with_copied_tensors(stack[i]);
    c10::IValue result = model.fast && &method == model.forward
                             ? run_fast_forward(model, args)
                             : invoke(model, *method.function, std::move(stack), name, args);
    return without_aliases(result, borrowed);
}

c10::IValue invoke(const tsrt_model &model, torch::jit::Function &function,
                   std::vector<c10::IValue> stack, const std::string &name,
                   const std::vector<c10::IValue> &args) {
    try {
        function.run(stack);
    } catch (...) {
        Translation failure = translate_current_exception(TSRT_ERR_FORWARD);
        if (!failure.from_libtorch) throw;
        fail(failure.status,
             describe_call_failure(model, name, args.data(), args.size(), failure.message));
    }
    return std::move(stack.back());
}

c10::IValue run_reference(tsrt_model &model, const std::vector<c10::IValue> &args) {
    std::vector<c10::IValue> stack;
    stack.reserve(args.size() + 1);
    stack.push_back(model.module._ivalue());
    stack.insert(stack.end(), args.begin(), args.end());
    return invoke(model, *model.forward->function, std::move(stack), "forward", args);
}

std::string describe_call_failure(const tsrt_model &model, const std::string &method,
                                  const c10::IValue *args, size_t nargs, const std::string &raw) {
    std::string described;
    for (size_t i = 0; i < nargs; ++i) described += (i ? ", " : "") + describe_argument(args[i]);
    std::string cause = last_line(raw);
    std::string message = method + " failed on (" + described + "): " + cause;
    if (method == "forward" && nargs == 1 && !fits_declared_shapes(model, args[0])) {
        message += " (the model's file gives its input shape as ";
        for (size_t i = 0; i < model.declared_shapes.size(); ++i)
            message += (i ? " or " : "") + c10::str(c10::IntArrayRef(model.declared_shapes[i]));
        message += ")";
    }
    if (model.debug_info && cause.size() < raw.size()) message += "\n\n" + raw;
    return message;
}

void describe_model(tsrt_model &model) {
    for (const torch::jit::Method &method : model.module.get_methods()) {
        model.method_names.push_back(method.name());
        std::ostringstream schema;
        schema << method.function().getSchema();
        model.schemas[method.name()] = schema.str();
    }
    for (const at::Tensor &parameter : model.module.parameters(/*recurse=*/true))
        model.parameter_count += parameter.numel();
    describe_recorded(model);
    model.keeps_state = may_change_own_state(model.module);
}

void describe_recorded(tsrt_model &model) {
    // Freezing turns parameters into constants (and folds batch norms into convolutions), so
    // a frozen file counts none; export records the count of the model it froze.
    auto recorded = model.extra_files.find("tsrt/parameter_count");
    if (model.parameter_count == 0 && recorded != model.extra_files.end())
        model.parameter_count = recorded_count(recorded->second);
    auto shapes = model.extra_files.find("tsrt/input_shapes");
    if (shapes != model.extra_files.end()) {
        try {
            model.declared_shapes = parse_input_shapes(shapes->second);
        } catch (const std::exception &) {
            // A malformed file only loses the shape in messages (warm-up reports it).
        }
    }
}

void bind_methods(tsrt_model &model) {
    // The reference runs with libtorch's simple executor: as saved, never profiled, optimised
    // or fused, whatever the calling thread's optimiser setting or the process-wide fusion
    // switch. Copies made later (the fast path's) get the profiling executor.
    for (torch::jit::Function *function :
         model.module._ivalue()->compilation_unit()->get_functions())
        if (auto *graph_function = torch::jit::tryToGraphFunction(*function))
            graph_function->_set_initial_executor_execution_mode(torch::jit::SIMPLE);
    model.methods.clear();
    for (const torch::jit::Method &method : model.module.get_methods()) {
        auto schema = model.schemas.find(method.name());
        model.methods.push_back({method.name(), &method.function(),
                                 schema != model.schemas.end() ? schema->second : ""});
    }
    model.forward = nullptr;
    for (const MethodEntry &method : model.methods)
        if (method.name == "forward") model.forward = &method;
}

}  // namespace tsrt

extern "C" {

int tsrt_model_run_method(tsrt_model *model, const char *name, tsrt_value *const *args,
                          size_t nargs, tsrt_value **out) {
    return guarded(TSRT_ERR_FORWARD, "the method failed", [&] {
        require(model != nullptr, "model is NULL");
        require(name != nullptr, "name is NULL");
        require(args != nullptr || nargs == 0, "args is NULL");
        require(out != nullptr, "out is NULL");
        std::vector<c10::IValue> values;
        values.reserve(nargs);
        for (size_t i = 0; i < nargs; ++i) {
            if (args[i] == nullptr)
                fail(TSRT_ERR_INVALID_ARGUMENT, "argument " + std::to_string(i) + " is NULL");
            values.push_back(args[i]->value);
        }
        c10::IValue result = tsrt::call_method(*model, name, std::move(values));
        auto value = std::make_unique<tsrt_value>();
        value->value = std::move(result);
        *out = value.release();
    });
}

int tsrt_model_run_tensor(tsrt_model *model, const char *name, const void *data, tsrt_dtype dtype,
                          const int64_t *shape, size_t ndim, tsrt_value **out,
                          tsrt_tensor_info *info) {
    return guarded(TSRT_ERR_FORWARD, "the method failed", [&] {
        require(model != nullptr, "model is NULL");
        require(name != nullptr, "name is NULL");
        require(out != nullptr && info != nullptr, "out or info is NULL");
        at::Tensor input =
            tsrt::borrow_input(data, tsrt::from_abi_dtype(tsrt::enum_code(dtype)), shape, ndim);
        c10::IValue result = tsrt::call_method(*model, name, {c10::IValue(input)});
        auto value = std::make_unique<tsrt_value>();
        tsrt_tensor_info described{TSRT_DTYPE_UNKNOWN, 0, nullptr, nullptr, 0};
        if (result.isTensor()) {
            at::Tensor tensor = result.toTensor();
            tsrt_dtype type = tsrt::to_abi_dtype(tensor.scalar_type());
            if (type != TSRT_DTYPE_UNKNOWN && tensor.layout() == c10::kStrided &&
                !tensor.is_quantized()) {
                result = c10::IValue(tsrt::readable_on_host(std::move(tensor)));
                const at::Tensor &kept = result.toTensor();
                described = {type, static_cast<size_t>(kept.dim()),
                             kept.dim() ? kept.sizes().data() : nullptr,
                             kept.numel() ? kept.const_data_ptr() : nullptr, kept.nbytes()};
            }
        }
        value->value = std::move(result);
        *info = described;
        *out = value.release();
    });
}

int tsrt_model_run_tensor_into(tsrt_model *model, const char *name, const void *data,
                               tsrt_dtype dtype, const int64_t *shape, size_t ndim, void *out,
                               tsrt_dtype out_dtype, const int64_t *out_shape, size_t out_ndim) {
    return guarded(TSRT_ERR_FORWARD, "the method failed", [&] {
        require(model != nullptr, "model is NULL");
        require(name != nullptr, "name is NULL");
        // out is checked before the method runs: a bad out never costs a call (or a state
        // change of a model that keeps state).
        tsrt::CallerBuffer destination =
            tsrt::check_caller_buffer(out, tsrt::from_abi_dtype(tsrt::enum_code(out_dtype), "out"),
                                      out_shape, out_ndim, tsrt::kOutNames);
        at::Tensor input =
            tsrt::borrow_input(data, tsrt::from_abi_dtype(tsrt::enum_code(dtype)), shape, ndim);
        c10::IValue result = tsrt::call_method(*model, name, {c10::IValue(input)});
        write_result_into(result, destination, name);
    });
}

size_t tsrt_model_method_count(const tsrt_model *model) {
    return model ? model->method_names.size() : 0;
}

const char *tsrt_model_method_name(const tsrt_model *model, size_t index) {
    if (model == nullptr || index >= model->method_names.size()) return nullptr;
    return model->method_names[index].c_str();
}

int tsrt_model_method_schema(const tsrt_model *model, const char *name, const char **out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a schema", [&] {
        require(model != nullptr, "model is NULL");
        require(name != nullptr, "name is NULL");
        require(out != nullptr, "out is NULL");
        auto found = model->schemas.find(name);
        if (found == model->schemas.end())
            fail(TSRT_ERR_NO_SUCH_NAME, std::string("the model has no method '") + name + "'");
        *out = found->second.c_str();
    });
}

size_t tsrt_model_extra_file_count(const tsrt_model *model) {
    return model ? model->extra_file_names.size() : 0;
}

const char *tsrt_model_extra_file_name(const tsrt_model *model, size_t index) {
    if (model == nullptr || index >= model->extra_file_names.size()) return nullptr;
    return model->extra_file_names[index]->c_str();
}

int tsrt_model_extra_file(const tsrt_model *model, const char *name, const void **data,
                          size_t *size) {
    return guarded(TSRT_ERR_INTERNAL, "reading an extra file", [&] {
        require(model != nullptr, "model is NULL");
        require(name != nullptr, "name is NULL");
        require(data != nullptr && size != nullptr, "data or size is NULL");
        auto found = model->extra_files.find(name);
        if (found == model->extra_files.end())
            fail(TSRT_ERR_NO_SUCH_NAME, std::string("the model has no extra file '") + name + "'");
        *data = found->second.data();
        *size = found->second.size();
    });
}

int64_t tsrt_model_parameter_count(const tsrt_model *model) {
    return model ? model->parameter_count : -1;
}

int tsrt_model_run_flags(const tsrt_model *model) {
    if (model == nullptr) return -1;
    return (model->frozen ? TSRT_RUN_FROZEN : 0) | (model->fused ? TSRT_RUN_FUSED : 0);
}

int tsrt_model_keeps_state(const tsrt_model *model) {
    return model ? (model->keeps_state ? 1 : 0) : -1;
}

}  // extern "C"
