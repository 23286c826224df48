// The framing of module protocol v1 in Python, for the test modules that
// tests write as Python scripts: read() returns the next message (and ends
// the module when the engine hangs up), write() sends one; json, os,
// struct and sys are imported.
//
//   testing::write_file(script, testing::python_module(kBody), 0644);
#pragma once

#include <string>

namespace custos::testing {

inline std::string python_module(const std::string& body) {
  return R"py(import json, os, struct, sys
stream_in, stream_out = sys.stdin.buffer, sys.stdout.buffer
def read():
    header = stream_in.read(4)
    if len(header) < 4:
        sys.exit(0)
    return json.loads(stream_in.read(struct.unpack(">I", header)[0]))
def write(message):
    body = json.dumps(message).encode()
    stream_out.write(struct.pack(">I", len(body)) + body)
    stream_out.flush()
)py" + body;
}

}  // namespace custos::testing
