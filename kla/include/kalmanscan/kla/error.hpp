// How the KLA module reports bad caller input: kalmanscan::kla::Error naming the tensor,
// its expected and actual shape or the offending value.
#pragma once

#include <stdexcept>

namespace kalmanscan::kla {

class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace kalmanscan::kla
