// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 2 4 6 8
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

#define KALMANSCAN_INSTANTIATE(T, N)                                                                            \
  template BasicTrajectory<T> parallel_filter_n<T, N>(const Model&, const Measurements&,                         \
                                                      const std::optional<StepState>&, StepState*,               \
                                                      const ParallelOptions&);                                   \
  template void parallel_smooth_n<T, N>(const Model&, const Measurements&, BasicTrajectory<T>&,                  \
                                        const std::optional<StepState>&, bool, const ParallelOptions&);
KALMANSCAN_INSTANTIATE(float, 2)
KALMANSCAN_INSTANTIATE(double, 2)
KALMANSCAN_INSTANTIATE(float, 4)
KALMANSCAN_INSTANTIATE(double, 4)
KALMANSCAN_INSTANTIATE(float, 6)
KALMANSCAN_INSTANTIATE(double, 6)
KALMANSCAN_INSTANTIATE(float, 8)
KALMANSCAN_INSTANTIATE(double, 8)
#undef KALMANSCAN_INSTANTIATE

}  // namespace kalmanscan::filters::detail
