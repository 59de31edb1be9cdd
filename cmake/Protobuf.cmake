# Protobuf is required: formats, logs and the stream protocol.
find_package(Protobuf REQUIRED)
