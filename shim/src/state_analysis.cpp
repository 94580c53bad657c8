// Deciding whether a module may change its own attributes, which decides whether calls on it
// must be serialised, and whether forward may change its arguments, which decides whether it
// may be run twice on them.
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include "internal.hpp"

namespace {

bool block_changes_state(torch::jit::Block *block, const torch::jit::AliasDb &aliases) {
    for (torch::jit::Node *node : block->nodes()) {
        switch (node->kind()) {
            case torch::jit::prim::SetAttr: return true;  // self.x = ...
            case torch::jit::prim::CallMethod:
                return true;  // a call the inliner could not see into (an interface): assume so
            case torch::jit::prim::GetAttr:
                // An attribute written through an in-place op or an alias (self.buf.add_(1)).
                if (aliases.hasWriters(node->output())) return true;
                break;
            default: break;
        }
        for (torch::jit::Block *inner : node->blocks())
            if (block_changes_state(inner, aliases)) return true;
    }
    return false;
}

// Replaces every read of a module's `training` flag by `false`: the loaded module is in eval
// mode (and scripted code cannot switch it back), so branches taken only in training, such as
// BatchNorm's update of num_batches_tracked, never run and must not count as state changes.
void specialise_for_eval(torch::jit::Block *block, torch::jit::Graph &graph) {
    for (torch::jit::Node *node : block->nodes()) {
        for (torch::jit::Block *inner : node->blocks()) specialise_for_eval(inner, graph);
        if (node->kind() == torch::jit::prim::GetAttr &&
            node->s(torch::jit::attr::name) == "training") {
            torch::jit::WithInsertPoint here(node);
            node->output()->replaceAllUsesWith(graph.insertConstant(false));
        }
    }
}

}  // namespace

namespace tsrt {

namespace {

// A copy of a method's graph as it runs in eval mode, calls into submodules inlined.
std::shared_ptr<torch::jit::Graph> eval_graph(const torch::jit::Method &method) {
    std::shared_ptr<torch::jit::Graph> graph = method.graph()->copy();
    torch::jit::Inline(*graph);  // submodule calls become visible code
    specialise_for_eval(graph->block(), *graph);
    torch::jit::ConstantPropagation(graph);
    torch::jit::EliminateDeadCode(graph);
    return graph;
}

}  // namespace

bool may_change_own_state(const torch::jit::Module &module) {
    for (const torch::jit::Method &method : module.get_methods()) {
        std::shared_ptr<torch::jit::Graph> graph = eval_graph(method);
        torch::jit::AliasDb aliases(graph);
        if (block_changes_state(graph->block(), aliases)) return true;
    }
    return false;
}

bool forward_may_write_arguments(const torch::jit::Module &module) {
    auto forward = module.find_method("forward");
    if (!forward) return false;
    std::shared_ptr<torch::jit::Graph> graph = eval_graph(*forward);
    torch::jit::AliasDb aliases(graph);
    for (size_t i = 1; i < graph->inputs().size(); ++i)  // input 0 is self
        if (aliases.hasWriters(graph->inputs()[i])) return true;
    return false;
}

}  // namespace tsrt
