// The per-stream sequential filter of the service: one measurement record in, the filtered
// estimate of the current step out (and, with a smoothing lag L, the fixed-lag smoothed estimate
// of step t − L). The numerics are the filters library's functional steps (filters/kalman.hpp:
// predict, stack_measurement, update in Joseph form; filters/rts.hpp: rts_step).
//
// Steps follow the log semantics of `kalmanscan smooth` (formats/steps.hpp), so a recording of
// the accepted records filtered offline gives the values the service sent:
//  - a step gathers the records of one timestamp; the first step starts from the prior
//    N(m0, P0) with no prediction; a later timestamp predicts with F(dt), Q(dt) (motion models)
//    or F, Q (explicit dynamics), b = B u + c with u the controls held at the end of the
//    previous step;
//  - the step's measurement stacks every sensor (NaN = not measured); each record adds its
//    sensor's components and the update is recomputed jointly from the step's prediction, so
//    after the last record of a step the estimate equals the offline filtered estimate of that
//    step (NIS and its degrees of freedom are the step's, over everything observed so far);
//  - fixed lag L: after each update of step t, the window of steps t−L … t is smoothed by RTS
//    backwards from the filtered estimate of t, which gives p(x_{t−L} | everything so far).
//
// Late and out-of-order policy: a record whose timestamp is earlier than the stream's current
// step is rejected (ERROR_OUT_OF_ORDER) and leaves the stream unchanged; it is not recorded.
// A record at the current step's timestamp joins that step; one that gives a component already
// measured at that timestamp, or a control value different from the one already given, is
// rejected (ERROR_INVALID_ARGUMENT) — the offline reader refuses the same. There is no reorder
// buffer: a client that needs one sorts before sending.
//
// Every rejected record leaves the filter exactly as it was (results are computed first and
// committed only on success).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "kalmanscan/estimate.pb.h"
#include "kalmanscan/filters/gaussian.hpp"
#include "kalmanscan/filters/model.hpp"
#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/log.pb.h"

namespace kalmanscan::net {

struct StreamFilterOptions {
  unsigned smoothing_lag = 0;  ///< L: 0 = filtered estimates only
  bool diagonal_only = false;  ///< estimates carry std_dev only (no full covariance)
};

class StreamFilter {
 public:
  /// Largest smoothing lag accepted (the window costs O(L n³) per update).
  static constexpr unsigned max_smoothing_lag = 1024;

  /// Throws Error (ERROR_INVALID_ARGUMENT) when options.smoothing_lag > max_smoothing_lag.
  StreamFilter(std::shared_ptr<const formats::Model> model, StreamFilterOptions options);

  struct Output {
    proto::EstimateRecord filtered;                ///< p(x_t | everything so far), t the current step
    std::optional<proto::EstimateRecord> smoothed;  ///< p(x_{t−L} | everything so far), once t ≥ L
  };

  /// Checks `record` against the model and the policy above without changing anything; throws
  /// Error naming the field (ERROR_INVALID_ARGUMENT, ERROR_OUT_OF_ORDER).
  void validate(const proto::LogRecord& record) const;

  /// validate(), then applies the record. Throws Error(ERROR_NUMERICAL) when the innovation
  /// covariance is not positive definite. On any throw the filter is unchanged.
  Output update(const proto::LogRecord& record);

  const formats::Model& model() const { return *model_; }
  const StreamFilterOptions& options() const { return options_; }
  /// Steps begun so far (the current step is steps() − 1).
  std::uint64_t steps() const { return steps_; }

 private:
  struct StepState {
    double t = 0;
    Eigen::VectorXd z;                 ///< stacked measurement so far (NaN = not measured)
    std::vector<char> u_given;         ///< controls given at this timestamp
    filters::Transition into;          ///< transition from the previous step (unused for the first)
    Eigen::VectorXd u_into;            ///< the previous step's controls, which drove `into`
    filters::Gaussian<double> predicted, filtered;
    double nis = 0;
    int dof = 0;
  };
  proto::EstimateRecord to_record(std::uint64_t step, double t, const filters::Gaussian<double>& x, double nis,
                                  int dof, proto::EstimateRecord::Kind kind) const;
  std::size_t sensor_index(const proto::LogRecord& record) const;

  /// The transition for a step of dt seconds; motion models cache the last dt's (regular
  /// streams repeat it), explicit dynamics are constant.
  const filters::Transition& transition(std::uint64_t step, double dt);

  std::shared_ptr<const formats::Model> model_;
  filters::Model fmodel_;  ///< the same model for the filters' functions
  filters::Transition cached_;
  double cached_dt_ = -1;                ///< dt of cached_ (< 0: none)
  filters::Measurements scratch_;         ///< reused for each update's one-step measurement
  StreamFilterOptions options_;
  std::uint64_t steps_ = 0;
  Eigen::VectorXd u_;                ///< controls held so far
  std::deque<StepState> window_;     ///< the last min(L + 1, steps) steps; back() is the current step
};

}  // namespace kalmanscan::net
