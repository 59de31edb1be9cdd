// The plot data of one view, shared between the threads that ingest it and the UI thread.
//
// Locking rule (the one rule for every piece of plot data):
//   - every access to the series, their list and their roles goes through a SeriesSet::Lock,
//     which holds the set's one mutex for its lifetime;
//   - writers (ingest threads: file loaders, the network client) take a Lock for one batch of
//     appends and call changed() when they appended anything;
//   - the UI thread takes a Lock only to decimate the visible range into its own buffers, never
//     while painting and never while waiting for anything else;
//   - version() and the change callback need no lock: when a Lock that called changed() is
//     released, version() increases and then the callback runs on the writer's thread (after the
//     mutex is unlocked), so a callback may take a Lock itself or post to the UI thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "kalmanscan/viz/series.hpp"

namespace kalmanscan::viz {

/// What a series shows; decides its kind (estimates are bands, the rest lines) and how it is drawn.
enum class Role {
  filtered,  ///< p(x_t | z_0..t): mean and σ of one state component
  smoothed,  ///< p(x_t | z_0..T−1): mean and σ of one state component
  measured,  ///< measurements mapped onto one state component (drawn as points)
  nis,       ///< normalised innovation squared per step (drawn as a line)
};

const char* to_string(Role role);
SeriesKind kind_of(Role role);

/// Where a series is drawn: every series of one panel shares a value axis; all panels share
/// the time axis.
struct SeriesInfo {
  std::string panel;
  Role role;
};

class SeriesSet {
 public:
  explicit SeriesSet(SeriesOptions options = {}) : options_(options) {}
  SeriesSet(const SeriesSet&) = delete;
  SeriesSet& operator=(const SeriesSet&) = delete;

  class Lock {
   public:
    explicit Lock(SeriesSet& set) : set_(set), lock_(set.mutex_) {}
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    /// Number of series; ids are 0 .. count() − 1 in the order they were added.
    std::size_t count() const { return set_.series_.size(); }
    /// The id of the series of `panel` and `role`, adding it (empty) when there is none.
    std::size_t get_or_add(const std::string& panel, Role role);
    std::optional<std::size_t> find(const std::string& panel, Role role) const;
    Series& series(std::size_t id) { return set_.series_.at(id); }
    const Series& series(std::size_t id) const { return set_.series_.at(id); }
    const SeriesInfo& info(std::size_t id) const { return set_.info_.at(id); }
    /// Panels in the order their first series was added.
    const std::deque<std::string>& panels() const { return set_.panels_; }
    /// Marks the data as changed: version() moves when this lock is released.
    void changed() { changed_ = true; }

   private:
    SeriesSet& set_;
    std::unique_lock<std::mutex> lock_;
    bool changed_ = false;
  };

  Lock lock() { return Lock(*this); }
  /// Increases after every released Lock that called changed(). Lock-free.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  /// Called after data changed (see the locking rule). Set it before any writer starts.
  void on_change(std::function<void()> callback) { on_change_ = std::move(callback); }

 private:
  SeriesOptions options_;
  std::mutex mutex_;
  std::deque<Series> series_;  // deque: references stay valid as series are added
  std::deque<SeriesInfo> info_;
  std::deque<std::string> panels_;
  std::atomic<std::uint64_t> version_{0};
  std::function<void()> on_change_;
};

}  // namespace kalmanscan::viz
