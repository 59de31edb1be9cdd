# Protobuf: formats, logs and the stream protocol (proto/, apps/, viz/). Without it those
# folders are switched off; the engine, filters and KLA still build and test.
set(KALMANSCAN_HAS_PROTOBUF OFF)
find_package(Protobuf QUIET)
if(Protobuf_FOUND AND Protobuf_PROTOC_EXECUTABLE)
  set(KALMANSCAN_HAS_PROTOBUF ON)
else()
  message(STATUS "kalmanscan: proto/, apps/, viz/ OFF (Protobuf with protoc not found)")
endif()
