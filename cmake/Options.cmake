# Every kalmanscan option, in one place.
include(GNUInstallDirs)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type (Release by default)" FORCE)
endif()

option(KALMANSCAN_WITH_CUDA  "Build the CUDA backends (auto-detected: needs nvcc)" ON)
option(KALMANSCAN_WITH_QT    "Build the Qt 6 dashboard (auto-detected)" ON)
option(KALMANSCAN_WITH_TORCH "Build the LibTorch KLA op and kalmanscan-train (auto-detected)" ON)
option(KALMANSCAN_BUILD_TESTS      "Build the GoogleTest suites" ON)
option(KALMANSCAN_BUILD_BENCHMARKS "Build the benchmark programs in bench/" ON)
option(KALMANSCAN_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
# CI compiles a reduced list of CUDA template instantiations (float only) to stay fast on 2 cores;
# the GPU machine builds the full list.
option(KALMANSCAN_CUDA_FULL_INSTANTIATIONS "Instantiate every CUDA operator/type pair" ON)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
