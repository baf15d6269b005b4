// The hand-written half of the safety layer (see guard.hpp): loading the original, the per-thread error slot, the two
// functions forwarded by hand, and the quarantine that defers the free of TorchSharp's Scalars.
#include "guard.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

// The original's function addresses, by index of imle_guard::function_names (also read by IMLE_GUARD_JUMP).
extern "C" __attribute__((visibility("hidden"))) void* imle_guard_table[4096];

namespace {

const char* const original_name = "libLibTorchSharp.real.so";

std::string load_error;
void* original = nullptr;
int index_get_and_reset_last_err = -1;
int index_dispose_scalar = -1;

thread_local char* pending = nullptr;

void set_pending(const std::string& message) {
    std::free(pending);
    pending = strdup(message.c_str());
}

extern "C" int imle_guard_missing() {
    set_pending("Imle's TorchSharp guard: a function without a signature could not be resolved: " + load_error);
    return 0;
}

// Loads the original from the folder this library was loaded from and resolves every exported function.
__attribute__((constructor)) void load_original() {
    static_assert(sizeof(imle_guard_table) / sizeof(void*) >= 2048, "table too small");
    if (imle_guard::function_count > static_cast<int>(sizeof(imle_guard_table) / sizeof(void*))) {
        load_error = "the function table is too small";
        return;
    }
    Dl_info self{};
    if (dladdr(reinterpret_cast<void*>(&load_original), &self) == 0 || self.dli_fname == nullptr) {
        load_error = "dladdr could not name this library's own file";
    } else {
        std::string path(self.dli_fname);
        auto slash = path.rfind('/');
        std::string folder = slash == std::string::npos ? std::string(".") : path.substr(0, slash);
        std::string full = folder + "/" + original_name;
        original = dlopen(full.c_str(), RTLD_LAZY | RTLD_LOCAL);
        if (original == nullptr) {
            const char* why = dlerror();
            load_error = full + " did not load: " + (why ? why : "unknown reason");
        }
    }
    for (int i = 0; i < imle_guard::function_count; i++) {
        const char* name = imle_guard::function_names[i];
        void* address = original ? dlsym(original, name) : nullptr;
        if (address == nullptr && original != nullptr && load_error.empty()) {
            load_error = std::string(name) + " is missing from " + original_name;
        }
        if (std::strcmp(name, "THSTorch_get_and_reset_last_err") == 0) index_get_and_reset_last_err = i;
        if (std::strcmp(name, "THSTorch_dispose_scalar") == 0) index_dispose_scalar = i;
        imle_guard_table[i] = address;
    }
    for (int i = 0; i < imle_guard::function_count; i++) {
        if (imle_guard_table[i] == nullptr && std::strncmp(imle_guard::function_names[i], "THS", 3) != 0) {
            imle_guard_table[i] = reinterpret_cast<void*>(&imle_guard_missing);
        }
    }
}

// ----- Scalar quarantine ----------------------------------------------------------------------------------------------
// TorchSharp's implicit conversions create a Scalar, pass its handle to a native call and keep no reference to it; a
// garbage collection during that call runs the Scalar's finaliser, which calls THSTorch_dispose_scalar while libtorch
// may still read the Scalar. The free is therefore deferred: a disposed Scalar waits here until it is older than
// `min_age_ns` (far longer than any call reads its arguments), or until the quarantine holds `capacity` Scalars (then the
// oldest goes first: at a million disposals a second each still waits a quarter of a second). At most `batch` are freed
// per dispose, outside the lock.
struct Entry {
    void* scalar;
    int64_t at;
};
constexpr size_t capacity = size_t(1) << 18;  // 4 MiB of entries (committed at first use) and ~12 MiB of Scalars at most
constexpr int64_t min_age_ns = 1000000000;  // one second
constexpr int batch = 64;
std::mutex quarantine_lock;
Entry* ring = nullptr;
size_t head = 0;
size_t count = 0;

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void free_scalar(void* scalar) {
    using F = void (*)(void*);
    F f = index_dispose_scalar < 0 ? nullptr : reinterpret_cast<F>(imle_guard_table[index_dispose_scalar]);
    if (f == nullptr) return;
    try {
        f(scalar);
    } catch (...) {
    }
}

}  // namespace

namespace imle_guard {

void* target(int index) { return imle_guard_table[index]; }

void begin_call() {
    if (pending != nullptr) {
        std::free(pending);
        pending = nullptr;
    }
}

void fail(int index, const char* what) {
    if (what != nullptr) {
        set_pending(what);
    } else {
        set_pending(std::string("an exception not derived from std::exception left ") + function_names[index]);
    }
}

void unavailable(int index) {
    set_pending(std::string("Imle's TorchSharp guard: ") + function_names[index] + " is not available: " +
                (load_error.empty() ? std::string("unknown reason") : load_error));
}

}  // namespace imle_guard

extern "C" {

void* imle_guard_table[4096];

// The error of the last call on this thread: this library's own (an exception it caught) first, else the original's.
IMLE_GUARD_EXPORT const char* THSTorch_get_and_reset_last_err() {
    using F = const char* (*)();
    F f = index_get_and_reset_last_err < 0 ? nullptr
                                           : reinterpret_cast<F>(imle_guard_table[index_get_and_reset_last_err]);
    const char* theirs = nullptr;
    if (f != nullptr) {
        try {
            theirs = f();
        } catch (...) {
        }
    }
    if (pending != nullptr) {
        char* mine = pending;
        pending = nullptr;
        std::free(const_cast<char*>(theirs));  // older than ours: the exception we caught left the original's call
        return mine;
    }
    return theirs;
}

IMLE_GUARD_EXPORT void THSTorch_dispose_scalar(void* scalar) {
    imle_guard::begin_call();
    if (scalar == nullptr) return;
    void* due[batch];
    int n = 0;
    {
        std::lock_guard<std::mutex> guard(quarantine_lock);
        if (ring == nullptr) {
            ring = static_cast<Entry*>(std::malloc(capacity * sizeof(Entry)));
            // Written through now, so that the quarantine is resident from the start and memory stays flat after.
            if (ring != nullptr) std::fill(ring, ring + capacity, Entry{nullptr, -1});
        }
        if (ring != nullptr) {
            int64_t now = now_ns();
            while (count > 0 && n < batch && (count == capacity || now - ring[head].at > min_age_ns)) {
                due[n++] = ring[head].scalar;
                head = (head + 1) % capacity;
                count--;
            }
            ring[(head + count) % capacity] = Entry{scalar, now};
            count++;
        } else {
            due[n++] = scalar;  // no memory for the quarantine: free at once, as the original does
        }
    }
    for (int i = 0; i < n; i++) free_scalar(due[i]);
}

// For tests: how many disposed Scalars wait in the quarantine, and a marker that names this library as the guard.
IMLE_GUARD_EXPORT int64_t ImleGuard_quarantined() {
    std::lock_guard<std::mutex> guard(quarantine_lock);
    return int64_t(count);
}

IMLE_GUARD_EXPORT const char* ImleGuard_status() {
    return original != nullptr && load_error.empty() ? "ok" : load_error.c_str();
}
}
