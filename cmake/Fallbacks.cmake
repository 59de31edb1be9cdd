# The GPU machine's image may lack some Debian development packages. scripts/gpu-deps copies the
# header-only ones (and GoogleTest's sources, Google Benchmark's library) from this machine into
# the git-ignored .deps/, which travels with the device call; these helpers use them only when
# find_package found nothing.
set(KALMANSCAN_DEPS_DIR ${PROJECT_SOURCE_DIR}/.deps)

# kalmanscan_fallback_interface(TARGET INCLUDE_DIR [LIB]): an imported target from .deps.
function(kalmanscan_fallback_interface target include_dir)
  add_library(${target} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${include_dir})
  if(ARGN)
    set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${ARGN}")
  endif()
  message(STATUS "kalmanscan: ${target} from ${include_dir} (fallback)")
endfunction()
