/* The sanitizer script's negative control for valgrind: reads memory after freeing it, so
 * memcheck must report an invalid read and the run must fail. Does not use libtsrt. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char *bytes = malloc(16);
    if (!bytes) return 0;
    bytes[0] = 1;
    free(bytes);
    printf("%d\n", ((volatile char *)bytes)[0]); /* used, so that nothing drops the read */
    return 0;
}
