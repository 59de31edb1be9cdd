#include "filters_bridge.hpp"

#include <cmath>
#include <span>

namespace kalmanscan::cli {

filters::Model to_filters_model(const formats::Model& model) {
  filters::Model fm;
  fm.m0 = model.m0();
  fm.P0 = model.P0();
  if (model.uses_timestamps()) {
    const auto& mm = model.spec().motion();
    filters::MotionModel motion;
    switch (mm.kind()) {
      case proto::MotionModel::RANDOM_WALK: motion.kind = filters::MotionKind::random_walk; break;
      case proto::MotionModel::CONSTANT_VELOCITY: motion.kind = filters::MotionKind::constant_velocity; break;
      default: motion.kind = filters::MotionKind::constant_acceleration; break;
    }
    motion.axes = static_cast<int>(mm.dimensions());
    motion.q = mm.noise_density();
    fm.motion = motion;
  } else {
    fm.transition = filters::Varying<filters::Transition>::constant({model.F(), model.Q(), model.c(), model.B()});
  }
  const auto& H = model.H();
  const auto& R = model.R();
  const auto& d = model.d();
  for (const auto& s : model.sensors()) {
    const auto o = static_cast<Eigen::Index>(s.offset), m = static_cast<Eigen::Index>(s.size);
    filters::SensorModel sm{H.middleRows(o, m), R.block(o, o, m, m), d.segment(o, m)};
    fm.sensors.push_back({s.name, filters::Varying<filters::SensorModel>::constant(std::move(sm))});
  }
  return fm;
}

filters::Measurements to_measurements(const formats::StepBlock& block, std::size_t first_step,
                                      const formats::Model& model) {
  filters::Measurements meas;
  meas.first_step = first_step;
  const std::size_t m = block.m, k = block.k;
  Eigen::VectorXd u(static_cast<Eigen::Index>(k));
  for (std::size_t t = 0; t < block.size(); ++t) {
    meas.add_step(block.time[t]);
    const double* z = block.z.data() + t * m;
    for (std::size_t s = 0; s < model.sensors().size(); ++s) {
      const auto& sensor = model.sensors()[s];
      const std::span<const double> values(z + sensor.offset, sensor.size);
      bool any = false;
      for (double v : values) any |= !std::isnan(v);
      if (any) meas.add(static_cast<std::uint32_t>(s), values);
    }
    if (k > 0) {
      for (std::size_t j = 0; j < k; ++j) u[static_cast<Eigen::Index>(j)] = block.u[t * k + j];
      meas.set_control(t, u);
    }
  }
  return meas;
}

}  // namespace kalmanscan::cli
