// Host-side entry points of the CUDA backend for arrays of elements. No CUDA header is
// included: a CPU-only consumer can call these, and gets Status{"built without CUDA"} or
// "no CUDA device" instead of a crash. Scans with device functor leaves/sinks are in
// kalmanscan/scan/cuda/device_scan.cuh, for code compiled by nvcc.
//
// Contract (CUB style): entry points that take device pointers also take an explicit stream
// (a cudaStream_t passed as void*; nullptr = the default stream) and caller-provided scratch
// whose size comes from the matching *_scratch_bytes query; they are asynchronous and report
// launch errors through the returned Status.
#pragma once

#include <cstddef>

#include "kalmanscan/config.hpp"
#include "kalmanscan/scan/error.hpp"
#include "kalmanscan/scan/operator.hpp"

namespace kalmanscan::scan::gpu {

/// Number of usable CUDA devices; 0 without CUDA support or without a device. Never throws.
int device_count();

/// True for the operators whose array scans are compiled into the CUDA library
/// (see scan/src/cuda/instantiations.hpp); specialised in gpu_instantiations.hpp.
template <class Op>
inline constexpr bool has_array_scan = false;

/// Scratch needed by scan() for `batch` sequences of `length` elements.
template <ScanOperator Op>
Status scan_scratch_bytes(std::size_t batch, std::size_t length, std::size_t& bytes);

/// Inclusive scan of device arrays: sequence b is d_in[b·length, (b+1)·length) and its
/// prefixes (suffixes for reverse) go to the same range of d_out (d_out == d_in allowed).
/// d_carry_in / d_carry_out hold `batch` elements each, or are null.
template <ScanOperator Op>
Status scan(const element_t<Op>* d_in, element_t<Op>* d_out, std::size_t batch, std::size_t length, Direction dir,
            const element_t<Op>* d_carry_in, element_t<Op>* d_carry_out, void* d_scratch, std::size_t scratch_bytes,
            void* stream);

/// Convenience: host arrays in and out (allocates device memory, copies, scans, copies back,
/// synchronises). h_carry_in / h_carry_out hold `batch` elements each, or are null.
template <ScanOperator Op>
Status scan_host_arrays(const element_t<Op>* h_in, element_t<Op>* h_out, std::size_t batch, std::size_t length,
                        Direction dir, const element_t<Op>* h_carry_in, element_t<Op>* h_carry_out);

}  // namespace kalmanscan::scan::gpu

#include "kalmanscan/scan/gpu_instantiations.hpp"
