# Eigen is required (filters and the host-side tests of the engine's fixed-size solves).
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
