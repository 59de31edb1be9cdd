// Dynamic-size Eigen types of the sequential (host) filters, in precision T (float or double).
#pragma once

#include <Eigen/Core>

namespace kalmanscan::filters {

template <class T>
using VecX = Eigen::Matrix<T, Eigen::Dynamic, 1>;
template <class T>
using MatX = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// N(mean, cov): a filtered, predicted or smoothed state.
template <class T>
struct Gaussian {
  VecX<T> mean;
  MatX<T> cov;
};

}  // namespace kalmanscan::filters
