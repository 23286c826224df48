// An example Custos exit module in C++ (module protocol v1, see
// ../PROTOCOL.md): it appends one JSON line per event to events.jsonl in its
// directory, and acknowledges. The event id makes a redelivered event easy
// to spot. In custos.toml:
//
//   [[exit]]
//   module = "exec:/opt/custos/journal-exit"
//   dir = "journal"           # made by the engine, the one place it may write
//
// Check it without a CA:  custos module test --role exit /opt/custos/journal-exit
#include <fstream>

#include "modules/sdk/custos_module.h"

int main() {
  nlohmann::json hello = custos::sdk::read_message();
  std::string directory = hello["config"].value("dir", "");
  custos::sdk::write_message({{"type", "hello"},
                              {"protocol", 1},
                              {"name", "journal"},
                              {"events", {"certificate_issued", "request_pending", "request_denied",
                                          "certificate_revoked", "crl_issued"}}});
  for (;;) {
    nlohmann::json message = custos::sdk::read_message();
    if (message["type"] == "shutdown") return 0;
    if (message["type"] != "notify") return 4;
    nlohmann::json line = {{"id", message["id"]}, {"event", message["event"]}};
    if (message.contains("certificate")) line["serial"] = message["certificate"]["serial"];
    if (message.contains("request")) line["subject"] = message["request"]["subject"];
    if (!directory.empty()) {
      std::ofstream journal(directory + "/events.jsonl", std::ios::app);
      journal << line.dump() << "\n";
      if (!journal.flush()) return 8;  // not written: no ack, and the engine delivers it again
    }
    custos::sdk::write_message({{"type", "ack"}});
  }
}
