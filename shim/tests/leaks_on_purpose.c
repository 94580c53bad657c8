/* The sanitizer script's negative control: leaks two handles, so the leak check must fail.
 * The pointers are overwritten so that no stale copy on the stack keeps them reachable. */
#include "tsrt.h"

static void leak(void) {
    tsrt_value *volatile value = 0;
    tsrt_options *volatile options = 0;
    tsrt_value_int(3, (tsrt_value **)&value);
    tsrt_options_new((tsrt_options **)&options);
    value = 0;
    options = 0;
}

int main(void) {
    leak();
    return 0;
}
