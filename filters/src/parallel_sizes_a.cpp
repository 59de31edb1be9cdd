// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 2 4 6 8
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

KALMANSCAN_INSTANTIATE_PARALLEL(float, 2)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 2)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 4)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 4)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 6)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 6)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 8)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 8)

}  // namespace kalmanscan::filters::detail
