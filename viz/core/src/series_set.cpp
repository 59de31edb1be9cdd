#include "kalmanscan/viz/series_set.hpp"

#include <algorithm>

namespace kalmanscan::viz {

const char* to_string(Role role) {
  switch (role) {
    case Role::filtered: return "filtered";
    case Role::smoothed: return "smoothed";
    case Role::measured: return "measured";
    case Role::nis: return "nis";
  }
  return "?";
}

SeriesKind kind_of(Role role) {
  return role == Role::filtered || role == Role::smoothed ? SeriesKind::band : SeriesKind::line;
}

SeriesSet::Lock::~Lock() {
  if (!changed_) return;
  set_.version_.fetch_add(1, std::memory_order_acq_rel);
  lock_.unlock();
  if (set_.on_change_) set_.on_change_();
}

std::optional<std::size_t> SeriesSet::Lock::find(const std::string& panel, Role role) const {
  for (std::size_t id = 0; id < set_.info_.size(); ++id)
    if (set_.info_[id].role == role && set_.info_[id].panel == panel) return id;
  return std::nullopt;
}

std::size_t SeriesSet::Lock::get_or_add(const std::string& panel, Role role) {
  if (auto id = find(panel, role)) return *id;
  set_.series_.emplace_back(panel + "/" + to_string(role), kind_of(role), set_.options_);
  set_.info_.push_back({panel, role});
  if (std::find(set_.panels_.begin(), set_.panels_.end(), panel) == set_.panels_.end()) set_.panels_.push_back(panel);
  changed_ = true;
  return set_.series_.size() - 1;
}

}  // namespace kalmanscan::viz
