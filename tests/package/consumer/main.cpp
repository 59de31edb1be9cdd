// Scans x_i = (1/2, 1) through the installed engine: the prefix offset converges to 2.
#include <cmath>
#include <cstdio>
#include <vector>

#include "kalmanscan/scan/scan.hpp"

int main() {
  using namespace kalmanscan::scan;
  std::vector<Affine<double>> xs(64, Affine<double>{0.5, 1.0}), prefixes(xs.size());
  scan<AffineOp<double>>(std::span<const Affine<double>>(xs), std::span<Affine<double>>(prefixes),
                         Layout::single(xs.size()));
  const double expected = 2.0 - std::ldexp(1.0, -63);  // Σ_{k<64} 2^-k
  std::printf("consumer: last prefix offset %.17g, expected %.17g\n", prefixes.back().b, expected);
  return prefixes.back().b == expected ? 0 : 1;
}
