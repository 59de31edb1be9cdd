// From the formats' validated model and step blocks to the filters' Model and Measurements.
#pragma once

#include <cstddef>

#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/formats/steps.hpp"

namespace kalmanscan::cli {

/// The filters' model for a validated spec: a MotionModel (F(dt), Q(dt) from the timestamps) or
/// constant explicit dynamics, and one constant SensorModel per sensor (its rows of H, d, R).
filters::Model to_filters_model(const formats::Model& model);

/// The steps of `block` as Measurements starting at global step `first_step`: each sensor with
/// at least one measured component at a step becomes one observation (NaN = missing component);
/// timestamps always, controls when the model has any.
filters::Measurements to_measurements(const formats::StepBlock& block, std::size_t first_step,
                                      const formats::Model& model);

}  // namespace kalmanscan::cli
