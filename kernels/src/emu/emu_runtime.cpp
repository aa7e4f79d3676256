// The emulator's runtime (see cuda_emu.h for what is and is not emulated): fibers, the block scheduler, barriers,
// warp-collective exchange, and the C entry points the Java side calls through the FFM linker:
//   int   emu_launch(name, sig, gx, gy, gz, bx, by, bz, sharedBytes, args, err, errLen)
//   void* emu_alloc(bytes)   (256-byte aligned, like cuMemAlloc)       void emu_free(p)
//   int   emu_kernel_count()  const char* emu_kernel_name(i)  const char* emu_kernel_signature(i)
//   const char* emu_sources_sha256()   (the kernel sources the library was built from)
// With the environment variable KESTREL_CUDA_EMU_TRACE=FILE every launch appends one line (kernel, grid, block,
// dynamic shared bytes) to FILE.
//
// Fibers: every CUDA thread of the running block is a fiber with its own stack (EMU_STACK bytes below a guard
// page, from one mapping made once); a hand-written x86-64 switch saves the callee-saved registers, MXCSR and the
// x87 control word and swaps stack pointers (no system call, unlike swapcontext). The scheduler runs on the
// caller's (the JVM thread's) stack and resumes ready fibers in FIFO order; a fiber runs until it waits at a
// barrier or exits. Launches are serialised by one mutex: the globals below belong to the launch in progress.
#include "cuda_emu.h"

#include <sys/mman.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace emu {
int cur_lane;
alignas(256) unsigned char dyn_smem[EMU_MAX_DYNAMIC_SMEM];
}  // namespace emu

// ---- context switch: emu_switch(&save, next) stores the current stack pointer in save and continues on next.
// A new fiber's stack holds a frame emu_switch can "return" into: emu_fiber_start then calls rbx(r12).
extern "C" void emu_switch(void** save_sp, void* new_sp);
extern "C" void emu_fiber_start();
asm(R"(
    .text
    .globl emu_switch
    .hidden emu_switch
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch

    .globl emu_fiber_start
    .hidden emu_fiber_start
    .type emu_fiber_start, @function
emu_fiber_start:
    movq %r12, %rdi
    callq *%rbx
    ud2
    .size emu_fiber_start, .-emu_fiber_start
)");

namespace emu {
namespace {

constexpr int MAX_THREADS = 1024;
constexpr size_t STACK = 256 * 1024;  // per fiber; pages are only committed when touched
constexpr size_t GUARD = 4096;

enum State { READY, RUNNING, WAIT_BLOCK, WAIT_WARP, DONE };

struct Thread {
    void* sp;
    uint3 idx;
    int lane, warp;
    State state;
    unsigned int coll;  // warp collectives entered so far (selects the exchange buffer's half)
};

struct Launch {
    const Kernel* kernel;
    void** args;
};

std::mutex launch_mutex;
unsigned char* stacks;  // MAX_THREADS slots of GUARD + STACK
Thread threads[MAX_THREADS];
int nthreads, live, block_arrived;
int warp_live[MAX_THREADS / 32], warp_arrived[MAX_THREADS / 32];
unsigned int warp_live_bits[MAX_THREADS / 32];
alignas(16) unsigned char warp_buf[MAX_THREADS / 32][2][32][16];
int runq[MAX_THREADS], rq_head, rq_count;
void* sched_sp;
Thread* cur;
Launch launch;
unsigned int mxcsr_init;
unsigned short fpucw_init;

void push(int t) {
    runq[(rq_head + rq_count) % MAX_THREADS] = t;
    rq_count++;
}

// The order in which threads released together (a block's start, a barrier's release) run:
// KESTREL_CUDA_EMU_ORDER=forward (default: thread 0 first), reverse, or random (a fixed-seed shuffle). Each order
// exposes a different set of missing barriers (a thread that runs ahead reads what others have not yet written).
enum Order { FORWARD, REVERSE, RANDOM };
Order order() {
    static Order o = [] {
        const char* e = getenv("KESTREL_CUDA_EMU_ORDER");
        if (e && !strcmp(e, "reverse")) return REVERSE;
        if (e && !strcmp(e, "random")) return RANDOM;
        return FORWARD;
    }();
    return o;
}
unsigned long long rng = 0x9e3779b97f4a7c15ull;

// Queues ids[0 .. n) in the configured order.
void push_all(int* ids, int n) {
    if (order() == REVERSE) {
        for (int i = n - 1; i >= 0; i--) push(ids[i]);
        return;
    }
    if (order() == RANDOM) {
        for (int i = n - 1; i > 0; i--) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            int j = (int)(rng % (unsigned long long)(i + 1));
            int t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
        }
    }
    for (int i = 0; i < n; i++) push(ids[i]);
}

int pop() {
    int t = runq[rq_head];
    rq_head = (rq_head + 1) % MAX_THREADS;
    rq_count--;
    return t;
}

void yield_to_scheduler() { emu_switch(&cur->sp, sched_sp); }

void release_block() {
    block_arrived = 0;
    int ids[MAX_THREADS], n = 0;
    for (int t = 0; t < nthreads; t++) {
        if (threads[t].state == WAIT_BLOCK) {
            threads[t].state = READY;
            ids[n++] = t;
        }
    }
    push_all(ids, n);
}

void release_warp(int w) {
    warp_arrived[w] = 0;
    int end = w * 32 + 32 < nthreads ? w * 32 + 32 : nthreads;
    int ids[32], n = 0;
    for (int t = w * 32; t < end; t++) {
        if (threads[t].state == WAIT_WARP) {
            threads[t].state = READY;
            ids[n++] = t;
        }
    }
    push_all(ids, n);
}

void thread_exit() {
    Thread* t = cur;
    t->state = DONE;
    live--;
    warp_live[t->warp]--;
    warp_live_bits[t->warp] &= ~(1u << t->lane);
    if (warp_arrived[t->warp] > 0 && warp_arrived[t->warp] == warp_live[t->warp]) release_warp(t->warp);
    if (block_arrived > 0 && block_arrived == live) release_block();
    void* dead;
    emu_switch(&dead, sched_sp);
    __builtin_unreachable();
}

void fiber_main(void*) {
    launch.kernel->call(launch.args);
    thread_exit();
}

void* initial_frame(int slot) {
    unsigned char* top = stacks + (size_t)(slot + 1) * (GUARD + STACK) - 64;  // 16-byte aligned
    void** f = reinterpret_cast<void**>(top - 64);
    memcpy(&f[0], &mxcsr_init, 4);
    memcpy(reinterpret_cast<unsigned char*>(&f[0]) + 4, &fpucw_init, 2);
    f[1] = nullptr;                                          // r15
    f[2] = nullptr;                                          // r14
    f[3] = nullptr;                                          // r13
    f[4] = nullptr;                                          // r12: fiber_main's argument
    f[5] = reinterpret_cast<void*>(&fiber_main);             // rbx: the function emu_fiber_start calls
    f[6] = nullptr;                                          // rbp
    f[7] = reinterpret_cast<void*>(&emu_fiber_start);        // return address
    return f;
}

bool ensure_stacks(std::string& err) {
    if (stacks) return true;
    size_t total = (size_t)MAX_THREADS * (GUARD + STACK);
    void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        err = "cannot map the fiber stacks";
        return false;
    }
    stacks = static_cast<unsigned char*>(m);
    for (int i = 0; i < MAX_THREADS; i++) mprotect(stacks + (size_t)i * (GUARD + STACK), GUARD, PROT_NONE);
    return true;
}

// Runs one block (blockIdx set) to completion; false with a message when its threads deadlock.
bool run_block(std::string& err) {
    for (int t = 0; t < nthreads; t++) {
        Thread& th = threads[t];
        th.idx = uint3{t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
        th.lane = t & 31;
        th.warp = t >> 5;
        th.state = READY;
        th.coll = 0;
        th.sp = initial_frame(t);
    }
    int nw = (nthreads + 31) / 32;
    for (int w = 0; w < nw; w++) {
        int n = nthreads - w * 32 < 32 ? nthreads - w * 32 : 32;
        warp_live[w] = n;
        warp_arrived[w] = 0;
        warp_live_bits[w] = n == 32 ? 0xffffffffu : (1u << n) - 1;
    }
    live = nthreads;
    block_arrived = 0;
    rq_head = 0;
    rq_count = 0;
    int ids[MAX_THREADS];
    for (int t = 0; t < nthreads; t++) ids[t] = t;
    push_all(ids, nthreads);
    while (rq_count > 0) {
        int t = pop();
        cur = &threads[t];
        cur->state = RUNNING;
        threadIdx = cur->idx;
        cur_lane = cur->lane;
        emu_switch(&sched_sp, cur->sp);
    }
    cur = nullptr;
    if (live == 0) return true;
    int atBlock = 0, atWarp = 0;
    for (int t = 0; t < nthreads; t++) {
        atBlock += threads[t].state == WAIT_BLOCK;
        atWarp += threads[t].state == WAIT_WARP;
    }
    char buf[256];
    snprintf(buf, sizeof buf,
             "deadlock in block (%u, %u, %u): %d threads wait at __syncthreads, %d at a warp collective, %d exited",
             blockIdx.x, blockIdx.y, blockIdx.z, atBlock, atWarp, nthreads - live);
    err = buf;
    return false;
}

const Kernel* find(const char* name) {
    static std::unordered_map<std::string, const Kernel*> byName = [] {
        std::unordered_map<std::string, const Kernel*> m;
        for (int i = 0; i < kernel_count; i++) m[kernels[i].name] = &kernels[i];
        return m;
    }();
    auto it = byName.find(name);
    return it == byName.end() ? nullptr : it->second;
}

const char* type_name(char c) {
    switch (c) {
        case 'p': return "a pointer";
        case 'i': return "a 32-bit integer";
        case 'l': return "a 64-bit integer";
        case 'f': return "a float";
        case 'd': return "a double";
        default: return "an unsupported type";
    }
}

int fail(char* err, int errLen, const std::string& msg) {
    if (err && errLen > 0) snprintf(err, (size_t)errLen, "%s", msg.c_str());
    return 1;
}

}  // namespace

void block_barrier() {
    Thread* t = cur;
    block_arrived++;
    if (block_arrived == live) {
        release_block();
        return;
    }
    t->state = WAIT_BLOCK;
    yield_to_scheduler();
}

void warp_barrier() {
    Thread* t = cur;
    int w = t->warp;
    t->coll++;
    warp_arrived[w]++;
    if (warp_arrived[w] == warp_live[w]) {
        release_warp(w);
        return;
    }
    t->state = WAIT_WARP;
    yield_to_scheduler();
}

unsigned char (*warp_slots())[16] { return warp_buf[cur->warp][cur->coll & 1]; }

unsigned int warp_live_mask() { return warp_live_bits[cur->warp]; }

}  // namespace emu

extern "C" __attribute__((visibility("default"))) int emu_launch(const char* name, const char* sig, unsigned int gx,
                                                                  unsigned int gy, unsigned int gz, unsigned int bx,
                                                                  unsigned int by, unsigned int bz,
                                                                  unsigned int sharedBytes, void** args, char* err,
                                                                  int errLen) {
    using namespace emu;
    std::lock_guard<std::mutex> lock(launch_mutex);
    const Kernel* k = find(name);
    if (!k) return fail(err, errLen, std::string("no kernel named ") + name);
    std::string s = sig ? sig : "";
    std::string want = k->sig;
    if (sig && s != want) {
        std::string msg = std::string(name) + " takes " + std::to_string(want.size()) + " arguments (" + want +
                          "), the launch passes " + std::to_string(s.size()) + " (" + s + ")";
        for (size_t i = 0; i < want.size() && i < s.size(); i++) {
            if (want[i] != s[i]) {
                msg += ": argument " + std::to_string(i) + " must be " + type_name(want[i]) + ", not " +
                       type_name(s[i]);
                break;
            }
        }
        return fail(err, errLen, msg);
    }
    unsigned long long n = (unsigned long long)bx * by * bz;
    if (n == 0 || n > (unsigned long long)MAX_THREADS)
        return fail(err, errLen, std::string(name) + ": block of " + std::to_string(n) + " threads (1 to 1024)");
    if (sharedBytes > EMU_MAX_DYNAMIC_SMEM)
        return fail(err, errLen, std::string(name) + ": " + std::to_string(sharedBytes) +
                                     " bytes of dynamic shared memory, more than the emulator's " +
                                     std::to_string(EMU_MAX_DYNAMIC_SMEM));
    std::string e;
    if (!ensure_stacks(e)) return fail(err, errLen, e);
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr_init));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw_init));
    static const char* trace = getenv("KESTREL_CUDA_EMU_TRACE");  // a file: one line per launch appended to it
    if (trace && *trace) {
        if (FILE* f = fopen(trace, "a")) {
            fprintf(f, "%s grid %u %u %u block %u %u %u shared %u\n", name, gx, gy, gz, bx, by, bz, sharedBytes);
            fclose(f);
        }
    }
    launch = Launch{k, args};
    gridDim = dim3(gx, gy, gz);
    blockDim = dim3(bx, by, bz);
    nthreads = (int)n;
    for (unsigned int z = 0; z < gz; z++) {
        for (unsigned int y = 0; y < gy; y++) {
            for (unsigned int x = 0; x < gx; x++) {
                blockIdx = uint3{x, y, z};
                if (sharedBytes) memset(dyn_smem, 0xff, sharedBytes);  // NaN floats: unwritten reads show
                if (!run_block(e)) return fail(err, errLen, std::string(name) + ": " + e);
            }
        }
    }
    return 0;
}

extern "C" __attribute__((visibility("default"))) void* emu_alloc(unsigned long long bytes) {
    size_t b = (size_t)((bytes + 255) & ~255ull);
    return aligned_alloc(256, b == 0 ? 256 : b);
}

extern "C" __attribute__((visibility("default"))) void emu_free(void* p) { free(p); }

#ifndef EMU_SOURCES_SHA256
#define EMU_SOURCES_SHA256 "unknown"
#endif
// SHA-256 of the kernel sources the library was built from (scripts/build-cuda's hash of kernels/src/main/cuda).
extern "C" __attribute__((visibility("default"))) const char* emu_sources_sha256() { return EMU_SOURCES_SHA256; }

extern "C" __attribute__((visibility("default"))) int emu_kernel_count() { return emu::kernel_count; }

extern "C" __attribute__((visibility("default"))) const char* emu_kernel_name(int i) { return emu::kernels[i].name; }

extern "C" __attribute__((visibility("default"))) const char* emu_kernel_signature(int i) {
    return emu::kernels[i].sig;
}
