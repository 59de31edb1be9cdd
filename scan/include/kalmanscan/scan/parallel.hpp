// The CPU thread pool behind the threaded backend (OpenMP underneath, kept out of headers).
#pragma once

#include <cstddef>
#include <functional>

namespace kalmanscan::scan {

/// Threads the threaded backend uses when Options::threads is 0 (OMP_NUM_THREADS or the cores).
unsigned default_threads();

/// Runs task(0) … task(count-1) on up to `threads` threads and waits for all of them. An
/// exception thrown by a task is rethrown here (the first one, after every task has ended).
void parallel_tasks(std::size_t count, unsigned threads, const std::function<void(std::size_t)>& task);

}  // namespace kalmanscan::scan
