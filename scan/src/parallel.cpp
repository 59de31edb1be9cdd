#include "kalmanscan/scan/parallel.hpp"

#include <omp.h>

#include <exception>
#include <mutex>

namespace kalmanscan::scan {

unsigned default_threads() {
  const int n = omp_get_max_threads();
  return n > 0 ? unsigned(n) : 1u;
}

void parallel_tasks(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& task) {
  if (count == 0) return;
  if (count == 1 || threads <= 1) {
    for (std::size_t i = 0; i < count; ++i) task(i);
    return;
  }
  std::exception_ptr first;
  std::mutex first_mutex;
  const long long n = static_cast<long long>(count);
  // Exceptions must not escape an OpenMP region: keep the first, finish the rest.
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (long long i = 0; i < n; ++i) {
    try {
      task(static_cast<std::size_t>(i));
    } catch (...) {
      std::lock_guard<std::mutex> lock(first_mutex);
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace kalmanscan::scan
