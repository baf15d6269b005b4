/* A plain C caller of TorchSharp's native library (no .NET involved): THSTensor_mm and THSTensor_matmul with shapes that
   cannot be multiplied. TorchSharp 0.107.0's mm catches the c10::Error and reports it through
   THSTorch_get_and_reset_last_err; its matmul catches nothing, so the process ends in std::terminate (exit 134). Through
   the guard both report the error. See docs/notes/native-fix.md.

     gcc -o probe native/guard/probe.c -ldl
     ./probe <folder>/libLibTorchSharp.so <libtorch folder holding libc10.so, libtorch_cpu.so, libtorch.so>   */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <stdbool.h>
typedef void* (*randn_t)(void*, const int64_t*, int32_t, int8_t, int32_t, int32_t, bool);
typedef void* (*binary_t)(void*, void*);
typedef const char* (*err_t)(void);
int main(int argc, char** argv) {
    if (argc != 3) { printf("usage: probe <libLibTorchSharp.so> <libtorch folder>\n"); return 2; }
    const char* dir = argv[2];
    const char* libs[] = {"libc10.so", "libtorch_cpu.so", "libtorch.so"};
    char path[512];
    for (int i = 0; i < 3; i++) { snprintf(path, sizeof path, "%s/%s", dir, libs[i]); if (!dlopen(path, RTLD_NOW | RTLD_GLOBAL)) { printf("%s\n", dlerror()); return 2; } }
    void* h = dlopen(argv[1], RTLD_LAZY);
    if (!h) { printf("%s\n", dlerror()); return 2; }
    randn_t randn = (randn_t)dlsym(h, "THSTensor_randn");
    err_t err = (err_t)dlsym(h, "THSTorch_get_and_reset_last_err");
    int64_t s1[] = {3, 4}, s2[] = {5, 6};
    void* a = randn(NULL, s1, 2, 6, 0, -1, false);
    void* b = randn(NULL, s2, 2, 6, 0, -1, false);
    const char* ops[] = {"THSTensor_mm", "THSTensor_matmul"};
    for (int i = 0; i < 2; i++) {
        binary_t f = (binary_t)dlsym(h, ops[i]);
        printf("%s -> ", ops[i]); fflush(stdout);
        void* r = f(a, b);
        const char* e = err();
        printf("result %p, error: %.*s\n", r, e ? (int)strcspn(e, "\n") : 6, e ? e : "(none)"); fflush(stdout);
    }
    return 0;
}
