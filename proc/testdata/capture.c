// capture.c produced c-program.smaps: it builds a representative address
// space (malloc'd heap, a 1 MiB bss array, a thread with its guard page, a
// memfd, a SysV segment, a POSIX shm object, shared anonymous memory, files
// whose names hold spaces and parentheses, a deleted file, a PROT_NONE
// reservation, a locked MADV_DONTDUMP region and a MADV_WIPEONFORK|DONTFORK
// region) and copies its own /proc/self/smaps to argv[1].
//
//	mkdir -p /tmp/vmkit-capture && cd /tmp/vmkit-capture
//	gcc -O1 -o capture capture.c -lpthread && ./capture c-program.smaps
//
// bash.smaps is `bash -c 'cat /proc/$$/smaps; true'`, go-static.smaps is a
// CGO_ENABLED=0 Go program printing its own /proc/self/smaps, and
// stat-paren.txt is /proc/PID/stat of /usr/bin/sleep copied to "a) b (c)".
// All were captured on Linux 6.18 (x86-64).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>

static char bigbss[1<<20];
int initialized = 42;
static volatile int go;

static void *thr(void *a) { while (!go) usleep(1000); return 0; }

static void *mapfile(const char *name, int shared) {
  int fd = open(name, O_RDWR|O_CREAT|O_TRUNC, 0600);
  ftruncate(fd, 8192);
  void *p = mmap(0, 8192, PROT_READ|PROT_WRITE, shared?MAP_SHARED:MAP_PRIVATE, fd, 0);
  ((char*)p)[0] = 1;
  close(fd);
  return p;
}

int main(int argc, char **argv) {
  char *h = malloc(100000); memset(h, 1, 100000);
  memset(bigbss, 1, sizeof bigbss / 2);
  pthread_t t; pthread_create(&t, 0, thr, 0);
  int mfd = memfd_create("vmkit test", 0); ftruncate(mfd, 4096);
  char *m = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, mfd, 0); m[0] = 1;
  int id = shmget(IPC_PRIVATE, 8192, IPC_CREAT|0600);
  char *s = shmat(id, 0, 0); s[0] = 1; shmctl(id, IPC_RMID, 0);
  int pfd = shm_open("/vmkit-posix", O_RDWR|O_CREAT, 0600); ftruncate(pfd, 4096);
  char *ps = mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, pfd, 0); ps[0] = 1; shm_unlink("/vmkit-posix");
  char *sa = mmap(0, 16384, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0); sa[0] = 1;
  mapfile("/tmp/vmkit-capture/with space (and) paren", 1);
  mapfile("/tmp/vmkit-capture/ leading space", 0);
  mapfile("/tmp/vmkit-capture/deleted file", 1); unlink("/tmp/vmkit-capture/deleted file");
  char *g = mmap(0, 1<<20, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0);
  char *l = mmap(0, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  memset(l, 7, 65536); mlock(l, 65536); madvise(l, 65536, MADV_DONTDUMP);
  char *w = mmap(0, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  w[0]=1; madvise(w, 8192, MADV_WIPEONFORK); madvise(w, 8192, MADV_DONTFORK);
  int in = open("/proc/self/smaps", O_RDONLY); char buf[65536]; ssize_t n;
  int out = open(argv[1], O_WRONLY|O_CREAT|O_TRUNC, 0644);
  while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
  go = 1; pthread_join(t, 0);
  return 0;
}
