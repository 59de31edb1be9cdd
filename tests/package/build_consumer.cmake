# Configures, builds and runs tests/package/consumer against the kalmanscan installed in PREFIX.
foreach(step
    "${CMAKE_COMMAND};-S;${SOURCE};-B;${BINARY};-G;${GENERATOR};-DCMAKE_PREFIX_PATH=${PREFIX}"
    "${CMAKE_COMMAND};--build;${BINARY}"
    "${BINARY}/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test step failed (${rc}): ${step}")
  endif()
endforeach()
