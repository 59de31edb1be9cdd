// Host/device annotations for code that every backend runs (operators, fixed-size linear algebra).
#pragma once

#if defined(__CUDACC__)
#define KS_HD __host__ __device__
#define KS_INLINE __forceinline__
#else
#define KS_HD
#define KS_INLINE inline
#endif
