#include "filters_model.hpp"

namespace kalmanscan::net::detail {

filters::Model to_filters_model(const formats::Model& model) {
  filters::Model fm;
  fm.m0 = model.m0();
  fm.P0 = model.P0();
  const proto::ModelSpec& spec = model.spec();
  if (spec.has_motion()) {
    filters::MotionModel mm;
    switch (spec.motion().kind()) {
      case proto::MotionModel::RANDOM_WALK: mm.kind = filters::MotionKind::random_walk; break;
      case proto::MotionModel::CONSTANT_VELOCITY: mm.kind = filters::MotionKind::constant_velocity; break;
      default: mm.kind = filters::MotionKind::constant_acceleration; break;  // validated by formats::Model
    }
    mm.axes = static_cast<int>(spec.motion().dimensions());
    mm.q = spec.motion().noise_density();
    fm.motion = mm;
  } else {
    fm.transition = filters::Varying<filters::Transition>::constant({model.F(), model.Q(), model.c(), model.B()});
  }
  for (const formats::SensorLayout& s : model.sensors()) {
    const auto o = static_cast<Eigen::Index>(s.offset), m = static_cast<Eigen::Index>(s.size);
    filters::SensorModel sm{model.H().middleRows(o, m), model.R().block(o, o, m, m), model.d().segment(o, m)};
    fm.sensors.push_back({s.name, filters::Varying<filters::SensorModel>::constant(std::move(sm))});
  }
  return fm;
}

}  // namespace kalmanscan::net::detail
