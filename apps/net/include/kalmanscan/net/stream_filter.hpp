// The per-stream sequential filter of the service: one measurement record in, the filtered
// estimate of the current step out (and, with a smoothing lag L, the fixed-lag smoothed estimate
// of step t − L). The numerics are the filters library's step functions
// (filters/kalman_steps.hpp: predict, innovate, the Joseph-form update, rts_step), the same code
// that filters/kalman.hpp and filters/rts.hpp run on dynamic matrices.
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
//
// Cost: the numerics run on Eigen matrices of a capacity fixed at compile time when the state and
// the stacked measurement have at most `inline_capacity` components (every built-in motion model
// up to 3-D constant velocity), so a steady-state update allocates nothing; larger models take
// the same code on heap matrices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "kalmanscan/estimate.pb.h"
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
  /// Largest state and stacked measurement size served by the allocation-free matrices.
  static constexpr int inline_capacity = 6;

  /// Throws Error (ERROR_INVALID_ARGUMENT) when options.smoothing_lag > max_smoothing_lag.
  StreamFilter(std::shared_ptr<const formats::Model> model, StreamFilterOptions options);
  StreamFilter(StreamFilter&&) noexcept;
  StreamFilter& operator=(StreamFilter&&) noexcept;
  ~StreamFilter();

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
  /// The same, writing into `out` and reusing its storage (the service's hot path). On a throw
  /// `out` is unspecified.
  void update(const proto::LogRecord& record, Output& out);

  const formats::Model& model() const { return *model_; }
  const StreamFilterOptions& options() const { return options_; }
  /// Steps begun so far (the current step is steps() − 1).
  std::uint64_t steps() const;
  /// True when this stream's numerics use the allocation-free inline matrices.
  bool inline_storage() const;

  class Core;  ///< the window of steps and the numerics (src/stream_filter_core.hpp)

 private:
  std::size_t sensor_index(const proto::LogRecord& record) const;

  std::shared_ptr<const formats::Model> model_;
  StreamFilterOptions options_;
  std::unique_ptr<Core> core_;
};

}  // namespace kalmanscan::net
