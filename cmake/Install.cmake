# `cmake --install` installs the libraries, the public headers and an exported package config,
# so another project can `find_package(kalmanscan)` and link `kalmanscan::scan` etc.
include(CMakePackageConfigHelpers)
install(TARGETS kalmanscan_config kalmanscan_warnings EXPORT kalmanscanTargets)
# Exported names drop the prefix: kalmanscan_scan is imported as kalmanscan::scan, as the
# build-tree ALIAS targets are named.
foreach(target config warnings scan scan_cuda filters filters_cuda kla kla_cuda proto formats)
  if(TARGET kalmanscan_${target})
    set_target_properties(kalmanscan_${target} PROPERTIES EXPORT_NAME ${target})
  endif()
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/generated/kalmanscan/config.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kalmanscan)
install(EXPORT kalmanscanTargets NAMESPACE kalmanscan:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
configure_package_config_file(cmake/kalmanscanConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kalmanscanConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kalmanscanConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kalmanscanConfig.cmake ${PROJECT_BINARY_DIR}/kalmanscanConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/kalmanscan)
