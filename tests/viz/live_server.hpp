// The live tests' in-process stream service (kalmanscan::net::Server, the code `kalmanscan serve`
// runs) on a loopback port. Its default model, given to every stream: a 1-D constant-velocity
// track (states position and velocity) with one sensor "gps" that measures the position (H = [1 0]).
#pragma once

#include <memory>

#include "kalmanscan/formats/model.hpp"
#include "kalmanscan/net/server.hpp"

namespace kalmanscan::viz {

inline std::shared_ptr<const formats::Model> cv_model() {
  const auto spec = formats::parse_model_spec(R"({
    "name": "cv1",
    "motion": {"kind": "CONSTANT_VELOCITY", "dimensions": 1, "noiseDensity": 0.5},
    "sensors": [{"name": "gps", "columns": ["z"], "H": {"rows": 1, "cols": 2, "data": [1, 0]},
                 "R": {"rows": 1, "cols": 1, "data": [0.25]}}],
    "prior": {"mean": [0, 0], "covariance": {"rows": 2, "cols": 2, "data": [10, 0, 0, 10]}}
  })",
                                              formats::SpecSyntax::json, "cv1");
  return std::make_shared<const formats::Model>(spec, "cv1");
}

/// A started server with cv_model() as the default model (its port: server->port()).
inline std::unique_ptr<net::Server> start_cv_server() {
  net::ServerOptions options;
  options.default_model = cv_model();
  auto server = std::make_unique<net::Server>(options);
  server->start();
  return server;
}

}  // namespace kalmanscan::viz
