// The custos command line, shared by the `custos` binary and `custosd`
// (which is `custos serve`).
#pragma once

namespace custos::cli {

// Parses argv and runs the command; returns the exit status (README:
// 0 success, 1 runtime error, 2 usage error).
int run(int argc, char** argv);

}  // namespace custos::cli
