// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 12 16
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

KALMANSCAN_INSTANTIATE_PARALLEL(float, 12)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 12)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 16)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 16)

}  // namespace kalmanscan::filters::detail
