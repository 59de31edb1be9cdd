// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 24 32
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

KALMANSCAN_INSTANTIATE_PARALLEL(float, 24)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 24)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 32)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 32)

}  // namespace kalmanscan::filters::detail
