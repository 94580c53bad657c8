// Saying which argument of a call does not fit the method, instead of libtorch's "Expected a
// value of type ... Declaration: forward(__torch__...___torch_mangle_26.ResNet self, ...)".
#include <ATen/core/function_schema.h>

#include <regex>
#include <sstream>
#include <string>

#include "internal.hpp"

namespace {

// Type names as the model's Python source wrote them: "__torch__.zoo.___torch_mangle_3.Net"
// becomes "zoo.Net" (TorchScript adds both parts when it compiles and saves a class).
std::string demangle(const std::string &text) {
    static const std::regex mangle("___torch_mangle_[0-9]+\\.");
    static const std::regex root("__torch__\\.");
    return std::regex_replace(std::regex_replace(text, mangle, ""), root, "");
}

std::string type_name(const c10::TypePtr &type) { return demangle(type->annotation_str()); }

bool has_self(const c10::FunctionSchema &schema) {
    return !schema.arguments().empty() && schema.arguments()[0].name() == "self";
}

// "forward(x: Tensor, k: int = 2) -> Tuple[Tensor, Tensor]": the method as it reads in Python.
std::string signature(const std::string &method, const c10::FunctionSchema &schema) {
    const auto &arguments = schema.arguments();
    std::ostringstream text;
    text << method << "(";
    for (size_t i = has_self(schema) ? 1 : 0, n = 0; i < arguments.size(); ++i, ++n) {
        text << (n ? ", " : "") << arguments[i].name() << ": " << type_name(arguments[i].type());
        if (arguments[i].default_value()) text << " = " << *arguments[i].default_value();
    }
    text << ") -> ";
    const auto &returns = schema.returns();
    if (returns.size() == 1) {
        text << type_name(returns[0].type());
    } else {
        text << "Tuple[";
        for (size_t i = 0; i < returns.size(); ++i)
            text << (i ? ", " : "") << type_name(returns[i].type());
        text << "]";
    }
    return text.str();
}

// What the caller passed: "a Float[1, 3, 224] tensor", "str 'abc'", "int 3", "List[int]".
std::string describe_value(const c10::IValue &value) {
    if (value.isTensor()) {
        const at::Tensor &tensor = value.toTensor();
        if (!tensor.defined()) return "an undefined tensor";
        return std::string("a ") + c10::toString(tensor.scalar_type()) + c10::str(tensor.sizes()) +
               " tensor";
    }
    if (value.isString()) {
        std::string text = value.toStringRef();
        if (text.size() > 30) text = text.substr(0, 27) + "...";
        return "str '" + text + "'";
    }
    if (value.isInt() || value.isDouble() || value.isBool()) {
        std::ostringstream text;
        text << type_name(value.type()) << " " << value;
        return text.str();
    }
    if (value.isNone()) return "None";
    return type_name(value.type());
}

std::string last_line(const std::string &text) {
    size_t end = text.find_last_not_of(" \n");
    if (end == std::string::npos) return text;
    size_t newline = text.rfind('\n', end);
    size_t start = newline == std::string::npos ? 0 : newline + 1;
    return text.substr(start, end + 1 - start);
}

}  // namespace

namespace tsrt {

std::string describe_bad_arguments(const std::string &method, const c10::FunctionSchema &schema,
                                   const std::vector<c10::IValue> &stack, const std::string &raw) {
    const auto &declared = schema.arguments();
    size_t first = has_self(schema) ? 1 : 0;  // both `declared` and `stack` start with self
    size_t wanted = declared.size() - first, given = stack.size() - first;
    size_t required = 0;
    for (size_t i = first; i < declared.size(); ++i)
        if (!declared[i].default_value()) required = i - first + 1;
    // "it takes 1 to 2 arguments, got 3"
    std::string takes = "it takes " + std::to_string(required) +
                        (required < wanted ? " to " + std::to_string(wanted) : "") + " argument" +
                        (wanted == 1 ? "" : "s") + ", got " + std::to_string(given);
    std::string reason;
    if (given > wanted) {
        reason = takes;
    } else {
        for (size_t i = first; i < declared.size() && reason.empty(); ++i) {
            const c10::Argument &argument = declared[i];
            std::string which =
                "argument " + std::to_string(i - first + 1) + " (" + argument.name() + ")";
            if (i >= stack.size()) {
                if (i - first < required) reason = which + " is missing: " + takes;
            } else if (!stack[i].type()->isSubtypeOf(*argument.type())) {
                reason = which + " must be " + type_name(argument.type()) + ", got " +
                         describe_value(stack[i]);
            }
        }
    }
    if (reason.empty()) reason = demangle(last_line(raw));
    return "bad arguments for " + method + ": " + reason +
           " (schema: " + signature(method, schema) + ")";
}

}  // namespace tsrt
