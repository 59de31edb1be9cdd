# Boost.Asio (header-only) for the stream service.
find_package(Boost 1.74 REQUIRED)
