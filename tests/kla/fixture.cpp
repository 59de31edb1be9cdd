#include "fixture.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kalmanscan::kla::testing {

std::map<std::string, FixtureTensor> load_fixture(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("fixture: cannot open " + path);
  std::map<std::string, FixtureTensor> out;
  std::string line;
  for (std::size_t line_no = 1; std::getline(file, line); ++line_no) {
    if (line.empty() || line[0] == '#') continue;
    auto fail = [&](const std::string& why) {
      return std::runtime_error("fixture " + path + ":" + std::to_string(line_no) + ": " + why);
    };
    std::istringstream in(line);
    std::string name, dims;
    if (!(in >> name >> dims)) throw fail("expected '<name> <d0>x<d1>... <values>'");
    FixtureTensor t;
    std::size_t count = 1;
    std::istringstream d(dims);
    for (std::string part; std::getline(d, part, 'x');) {
      if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) throw fail("bad dims '" + dims + "'");
      t.dims.push_back(std::stoul(part));
      count *= t.dims.back();
    }
    for (double x; in >> x;) t.values.push_back(x);
    if (!in.eof()) throw fail("unparsable value in tensor " + name);
    if (t.values.size() != count)
      throw fail(name + " has " + std::to_string(t.values.size()) + " values, dims " + dims + " need " +
                 std::to_string(count));
    if (!out.emplace(name, std::move(t)).second) throw fail("duplicate tensor " + name);
  }
  return out;
}

std::string kla_data_path(const std::string& name) { return std::string(KALMANSCAN_KLA_TEST_DATA) + "/" + name; }

}  // namespace kalmanscan::kla::testing
