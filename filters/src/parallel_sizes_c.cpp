// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 24 32
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

#define KALMANSCAN_INSTANTIATE(T, N)                                                                            \
  template BasicTrajectory<T> parallel_filter_n<T, N>(const Model&, const Measurements&,                         \
                                                      const std::optional<StepState>&, StepState*,               \
                                                      const ParallelOptions&);                                   \
  template void parallel_smooth_n<T, N>(const Model&, const Measurements&, BasicTrajectory<T>&,                  \
                                        const std::optional<StepState>&, bool, const ParallelOptions&);
KALMANSCAN_INSTANTIATE(float, 24)
KALMANSCAN_INSTANTIATE(double, 24)
KALMANSCAN_INSTANTIATE(float, 32)
KALMANSCAN_INSTANTIATE(double, 32)
#undef KALMANSCAN_INSTANTIATE

}  // namespace kalmanscan::filters::detail
