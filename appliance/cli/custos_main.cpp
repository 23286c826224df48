// custos [--dir DIR] COMMAND [OPTIONS] — see README.md and `custos --help`.
#include "appliance/cli/main.h"

int main(int argc, char** argv) { return custos::cli::run(argc, argv); }
