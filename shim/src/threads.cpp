// Sharing the intra-op threads among concurrent calls, so that several caller threads never
// oversubscribe the cores.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>

#include "internal.hpp"

// The OpenMP runtime libtorch uses, when it uses one: its thread count is per calling thread.
extern "C" {
__attribute__((weak)) void omp_set_num_threads(int);
__attribute__((weak)) int omp_get_max_threads(void);
}

namespace {

std::atomic<int> calls_in_flight{0};
std::atomic<int> configured_threads{0};  // 0: not read yet

int intra_threads() {
    int threads = configured_threads.load(std::memory_order_relaxed);
    if (threads == 0) {
        threads = std::max(1, at::get_num_threads());
        int expected = 0;
        configured_threads.compare_exchange_strong(expected, threads);
        threads = configured_threads.load();
    }
    return threads;
}

void set_this_threads_budget(int threads) {
    if (omp_set_num_threads && omp_get_max_threads) {
        if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
    }
}

}  // namespace

namespace tsrt {

ThreadBudget::ThreadBudget() {
    int concurrent = ++calls_in_flight;
    set_this_threads_budget(std::max(1, intra_threads() / concurrent));
}

ThreadBudget::~ThreadBudget() { --calls_in_flight; }

void record_thread_setting(int n) { configured_threads.store(n); }

int configured_thread_count() noexcept {
    try {
        return intra_threads();
    } catch (...) {
        return 1;
    }
}

}  // namespace tsrt
