// Which operators have compiled CUDA array scans. Must match scan/src/cuda/*.cu.
// CI (KALMANSCAN_CUDA_FULL_INSTANTIATIONS=0) compiles the float and exact ones only.
#pragma once

#include "kalmanscan/config.hpp"
#include "kalmanscan/scan/gpu.hpp"  // the primary template (gpu.hpp includes this file at its end)
#include "kalmanscan/scan/operators/affine.hpp"
#include "kalmanscan/scan/operators/affine_map.hpp"
#include "kalmanscan/scan/operators/exact.hpp"
#include "kalmanscan/scan/operators/mobius.hpp"

#if KALMANSCAN_HAS_CUDA
namespace kalmanscan::scan::gpu {
template <> inline constexpr bool has_array_scan<AffineOp<float>> = true;
template <> inline constexpr bool has_array_scan<Mobius2Op<float>> = true;
template <> inline constexpr bool has_array_scan<AffineMapOp<float, 2>> = true;
template <> inline constexpr bool has_array_scan<AffineMapOp<float, 4>> = true;
template <> inline constexpr bool has_array_scan<ModMatrix2M31Op> = true;
template <> inline constexpr bool has_array_scan<AffineMod32Op> = true;
#if KALMANSCAN_CUDA_FULL_INSTANTIATIONS
template <> inline constexpr bool has_array_scan<AffineOp<double>> = true;
template <> inline constexpr bool has_array_scan<Mobius2Op<double>> = true;
template <> inline constexpr bool has_array_scan<AffineMapOp<double, 2>> = true;
template <> inline constexpr bool has_array_scan<AffineMapOp<double, 4>> = true;
#endif
}  // namespace kalmanscan::scan::gpu
#endif
