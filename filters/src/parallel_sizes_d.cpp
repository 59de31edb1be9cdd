// Explicit instantiations of the parallel filter/smoother for compiled state sizes: 48 64
// (split over several files so that they compile in parallel).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

KALMANSCAN_INSTANTIATE_PARALLEL(float, 48)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 48)
KALMANSCAN_INSTANTIATE_PARALLEL(float, 64)
KALMANSCAN_INSTANTIATE_PARALLEL(double, 64)

}  // namespace kalmanscan::filters::detail
