// The filters' numeric model (kalmanscan/filters/model.hpp) of a validated model spec.
#pragma once

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/formats/model.hpp"

namespace kalmanscan::net::detail {

/// Motion model → filters::MotionModel; explicit dynamics → one constant Transition {F, Q, c, B};
/// each sensor's rows of the stacked H, d, R → its constant SensorModel; prior m0, P0.
filters::Model to_filters_model(const formats::Model& model);

}  // namespace kalmanscan::net::detail
