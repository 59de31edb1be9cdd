// kalmanscan: offline smoothing, the demo, and (apps/net) the stream service and its clients.
#include "kalmanscan/cli/cli.hpp"

int main(int argc, char** argv) { return kalmanscan::cli::run(argc, argv); }
