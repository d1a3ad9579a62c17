#include <stdint.h>
void gnu_setup(void);
int gnu_chunk_size(void);
int gnu_alignment(void);
const char *gnu_get_libc_version_str(void);
uint64_t gnu_run(const uint8_t *sizes, int nsizes, const uint8_t *src, long n, long every);
