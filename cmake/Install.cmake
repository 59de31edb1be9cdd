# `cmake --install` installs the libraries, the public headers and an exported package config,
# so another project can `find_package(kalmanscan)` and link `kalmanscan::scan` etc.
include(CMakePackageConfigHelpers)
install(TARGETS kalmanscan_config kalmanscan_warnings EXPORT kalmanscanTargets)
install(FILES ${PROJECT_BINARY_DIR}/generated/kalmanscan/config.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kalmanscan)
install(EXPORT kalmanscanTargets NAMESPACE kalmanscan:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
configure_package_config_file(cmake/kalmanscanConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kalmanscanConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kalmanscanConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kalmanscanConfig.cmake ${PROJECT_BINARY_DIR}/kalmanscanConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
