# Boost.Asio (header-only) for the stream service; CLI11 for the command line. The command-line
# tool and the service need both, with Protobuf.
find_package(Boost 1.74 QUIET)
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND AND EXISTS ${KALMANSCAN_DEPS_DIR}/cli11/CLI/CLI.hpp)
  kalmanscan_fallback_interface(CLI11::CLI11 ${KALMANSCAN_DEPS_DIR}/cli11)
  set(CLI11_FOUND ON)
endif()
set(KALMANSCAN_HAS_APPS OFF)
if(KALMANSCAN_HAS_PROTOBUF AND Boost_FOUND AND CLI11_FOUND)
  set(KALMANSCAN_HAS_APPS ON)
elseif(KALMANSCAN_HAS_PROTOBUF)
  message(STATUS "kalmanscan: apps/ and viz/ OFF (needs Boost ${Boost_FOUND}, CLI11 ${CLI11_FOUND})")
endif()
