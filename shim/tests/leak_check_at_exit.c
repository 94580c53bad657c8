/*
 * Linked into every program of a TSRT_SANITIZE build. LeakSanitizer's own exit-time check
 * never runs in a process that links libtorch, so this runs it explicitly when the program
 * ends (before shared libraries' destructors) and exits with status 86 on a leak.
 */
#include <sanitizer/lsan_interface.h>
#include <unistd.h>

__attribute__((destructor)) static void check_leaks_at_exit(void) {
    if (__lsan_do_recoverable_leak_check()) _exit(86);
}
