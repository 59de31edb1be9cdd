// Explicit instantiations of the parallel filter/smoother for the run-time state size
// (elements::dynamic_size: Eigen heap matrices of the model's own size, any n).
#include "parallel_impl.hpp"

namespace kalmanscan::filters::detail {

KALMANSCAN_INSTANTIATE_PARALLEL(float, elements::dynamic_size)
KALMANSCAN_INSTANTIATE_PARALLEL(double, elements::dynamic_size)

}  // namespace kalmanscan::filters::detail
