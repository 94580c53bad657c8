/* The C test programs' one assertion: counts passes and failures, prints each failure with
 * the library's last error, and lets the program end with a "N passed, N failed" line. */
#ifndef TSRT_TESTS_CHECK_H
#define TSRT_TESTS_CHECK_H

#include <stdio.h>

#include "tsrt.h"

static int passed, failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            ++passed;                                                                \
        } else {                                                                     \
            ++failed;                                                                \
            printf("FAILED %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                   tsrt_last_error());                                               \
        }                                                                            \
    } while (0)

#endif
