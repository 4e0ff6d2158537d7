#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

uint32_t q3e_cpu_features(void) {
    uint32_t eax, ebx, ecx, edx;
    uint32_t features = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int osxsave = (ecx >> 27) & 1;
    if (!osxsave) return 0;
    uint64_t xcr0 = read_xcr0();
    int avx_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX registers saved by the OS
    int avx512_state = avx_state && (xcr0 & 0xE0) == 0xE0;  // opmask + ZMM state
    int amx_state = (xcr0 & 0x60000) == 0x60000;    // XTILECFG + XTILEDATA
    if (avx_state && ((ecx >> 12) & 1)) features |= Q3E_CPU_FMA;
    if (avx_state && ((ecx >> 29) & 1)) features |= Q3E_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return features;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    if (avx_state && ((ebx >> 5) & 1)) features |= Q3E_CPU_AVX2;
    if (avx512_state) {
        if ((ebx >> 16) & 1) features |= Q3E_CPU_AVX512F;
        if ((ebx >> 30) & 1) features |= Q3E_CPU_AVX512BW;
        if ((ebx >> 31) & 1) features |= Q3E_CPU_AVX512VL;
        if ((ecx >> 11) & 1) features |= Q3E_CPU_AVX512_VNNI;
    }
    if (amx_state) {
        if ((edx >> 24) & 1) features |= Q3E_CPU_AMX_TILE;
        if ((edx >> 22) & 1) features |= Q3E_CPU_AMX_BF16;
        if ((edx >> 25) & 1) features |= Q3E_CPU_AMX_INT8;
    }
    uint32_t eax1, ebx1, ecx1, edx1;
    __cpuid_count(7, 1, eax1, ebx1, ecx1, edx1);
    if (avx_state && ((eax1 >> 4) & 1)) features |= Q3E_CPU_AVX_VNNI;
    if (avx512_state && ((eax1 >> 5) & 1)) features |= Q3E_CPU_AVX512_BF16;
    return features;
}

int q3e_request_amx_permission(void) {
#if defined(__linux__)
    // ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return 0;
#endif
}

#else
uint32_t q3e_cpu_features(void) { return 0; }
int q3e_request_amx_permission(void) { return 0; }
#endif
