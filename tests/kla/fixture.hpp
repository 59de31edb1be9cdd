// Reader for the KLA reference fixtures in tests/data/kla (format in its README.md).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace kalmanscan::kla::testing {

struct FixtureTensor {
  std::vector<std::size_t> dims;
  std::vector<double> values;
};

/// All tensors of one fixture file by name. Throws std::runtime_error naming the file and line
/// when a line is malformed or its value count does not match its dimensions.
std::map<std::string, FixtureTensor> load_fixture(const std::string& path);

/// Absolute path of tests/data/kla/<name>.
std::string kla_data_path(const std::string& name);

}  // namespace kalmanscan::kla::testing
