# Eigen is required (filters and the host-side tests of the engine's fixed-size solves).
find_package(Eigen3 3.4 QUIET NO_MODULE)
if(NOT Eigen3_FOUND)
  if(EXISTS ${KALMANSCAN_DEPS_DIR}/eigen3/Eigen)
    kalmanscan_fallback_interface(Eigen3::Eigen ${KALMANSCAN_DEPS_DIR}/eigen3)
  else()
    message(FATAL_ERROR "kalmanscan: Eigen 3.4 not found (Debian: libeigen3-dev; scripts/install-deps installs it)")
  endif()
endif()
