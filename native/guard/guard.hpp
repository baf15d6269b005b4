// The safety layer in front of TorchSharp's native library (see docs/notes/native-fix.md).
//
// This library is installed as libLibTorchSharp.so; TorchSharp's original sits beside it as libLibTorchSharp.real.so.
// It exports every function the original exports (forwarders.generated.cpp, written by generate.py from TorchSharp's
// own headers). Each forwarder calls the original inside try/catch: a C++ exception that leaves the original (many of
// its functions catch nothing, and its CATCH macro catches only c10::Error and std::runtime_error) would otherwise
// unwind into .NET frames that have no unwind information, and the C++ runtime would call std::terminate. Caught, its
// message goes to this library's own per-thread error slot and the forwarder returns zero (a null handle, false, 0),
// which TorchSharp answers with CheckForErrors(): THSTorch_get_and_reset_last_err returns that message first, so the
// .NET caller gets an ExternalException.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cxxabi.h>
#include <exception>

#define IMLE_GUARD_EXPORT __attribute__((visibility("default")))

namespace imle_guard {

// Structs TorchSharp passes by value, with the layout its headers declare (generate.py checks the fields).
struct TensorArray {
    void* array;
    int64_t size;
};
struct CSharpNodePtr {
    void* shared_ptr;
    void* weak_ptr;
};

extern const int function_count;
extern const char* const function_names[];

// The original's function at this index of function_names (null when the original or the function could not be loaded;
// `unavailable` then records why).
void* target(int index);
// Called first by every forwarder: drops an error of an earlier call that nobody read (the original's CATCH does the
// same with its own slot).
void begin_call();
// Records the message of an exception that left the original (what: null for an exception not derived from
// std::exception).
void fail(int index, const char* what);
// Records that the original's function at `index` could not be resolved.
void unavailable(int index);

template <typename R>
inline R zero() {
    return R();
}

}  // namespace imle_guard

// One forwarder body: R is the return type, SIG the parameter types, ARGS the arguments.
#define IMLE_GUARD_FORWARD(INDEX, R, SIG, ARGS)                                  \
    using F = R(*) SIG;                                                          \
    imle_guard::begin_call();                                                    \
    F f = reinterpret_cast<F>(imle_guard::target(INDEX));                        \
    if (f == nullptr) {                                                          \
        imle_guard::unavailable(INDEX);                                          \
        return imle_guard::zero<R>();                                            \
    }                                                                            \
    try {                                                                        \
        return f ARGS;                                                           \
    } catch (abi::__forced_unwind&) {                                            \
        throw;                                                                   \
    } catch (const std::exception& e) {                                          \
        imle_guard::fail(INDEX, e.what());                                       \
    } catch (...) {                                                              \
        imle_guard::fail(INDEX, nullptr);                                        \
    }                                                                            \
    return imle_guard::zero<R>();

// An exported function without a declared signature: a plain jump to the original (no catch is possible).
#define IMLE_GUARD_JUMP(NAME, INDEX)                                             \
    __asm__(".globl " #NAME "\n"                                                 \
            ".type " #NAME ", @function\n" #NAME ":\n"                           \
            "    jmp *imle_guard_table+8*" #INDEX "(%rip)\n"                     \
            ".size " #NAME ", .-" #NAME "\n");
