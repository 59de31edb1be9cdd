# Warnings and sanitizers as an interface target, never through CMAKE_CXX_FLAGS.
add_library(kalmanscan_warnings INTERFACE)
target_compile_options(kalmanscan_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall --expt-relaxed-constexpr -Wno-deprecated-gpu-targets>)
if(KALMANSCAN_SANITIZE)
  target_compile_options(kalmanscan_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(kalmanscan_warnings INTERFACE -fsanitize=address,undefined)
endif()
