// One byte and, with it, at most one open descriptor over a Unix socket
// (SCM_RIGHTS): how the module's filter hands its seccomp listener to the
// supervisor, and how the dialer hands a connection to the relay.
#pragma once

namespace custos::host {

// Sends `byte`, and `fd` with it unless it is -1. True when sent.
bool send_descriptor(int channel, char byte, int fd);

// Receives one byte into `byte` and the descriptor sent with it
// (close-on-exec); -1 when none came or nothing could be read.
int receive_descriptor(int channel, char& byte);

}  // namespace custos::host
