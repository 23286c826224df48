#include "appliance/cli/flow_commands.h"

#include <iostream>

#include "appliance/engine/engine.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"

namespace custos::cli {
namespace {

// The request file may be PEM or DER; the engine enforces the 64 KiB cap,
// this only keeps a mistaken multi-gigabyte path from being read whole.
constexpr std::size_t kMaxInputBytes = 16 << 20;

// The CA opened for one command. When the command is done, the exit
// modules get what the outbox holds — this command's events, and any an
// earlier command left undelivered.
struct OpenCa {
  std::unique_ptr<engine::CertificateAuthority> ca;
  std::unique_ptr<engine::Engine> engine;

  OpenCa() = default;
  OpenCa(OpenCa&&) = default;
  ~OpenCa() {
    if (!engine) return;
    try {
      for (const std::string& failure : engine->deliver_events()) std::cerr << "custos: warning: " << failure << "\n";
    } catch (const std::exception& error) {
      std::cerr << "custos: warning: delivering events to the exit modules: " << error.what() << "\n";
    }
  }
};

OpenCa open(const CaContext& context) {
  OpenCa opened;
  opened.ca = engine::CertificateAuthority::open(context.directory, context.token);
  opened.engine = std::make_unique<engine::Engine>(*opened.ca);
  return opened;
}

std::pair<std::string, std::string> split_assignment(const std::string& assignment) {
  std::size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw UsageError("'" + assignment + "' is not KEY=VALUE");
  }
  return {assignment.substr(0, equals), assignment.substr(equals + 1)};
}

std::string certificate_pem(const std::vector<std::uint8_t>& der) {
  const unsigned char* cursor = der.data();
  ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  return x509::to_pem(certificate.get());
}

void print_disposition(const CaContext& context, const engine::Disposition& disposition,
                       const std::optional<std::filesystem::path>& out) {
  if (out && !disposition.certificate.empty()) write_file_atomic(*out, certificate_pem(disposition.certificate));
  if (context.json) {
    std::cout << disposition.to_json().dump() << "\n";
    return;
  }
  std::cout << "request " << disposition.request_id << ": " << storage::request_state_name(disposition.state);
  if (disposition.serial) std::cout << ", serial " << *disposition.serial;
  std::cout << "\n";
  if (!disposition.message.empty()) std::cout << "  " << disposition.message << "\n";
  if (out && !disposition.certificate.empty()) std::cout << "  certificate written to " << out->string() << "\n";
}

}  // namespace

void run_submit(const CaContext& context, const SubmitCommand& command) {
  std::map<std::string, std::string> attributes;
  for (const std::string& assignment : command.attributes) attributes.insert(split_assignment(assignment));
  if (!command.profile.empty()) attributes["profile"] = command.profile;
  std::vector<std::uint8_t> request = read_file(command.request_file, kMaxInputBytes);
  OpenCa opened = open(context);
  print_disposition(context, opened.engine->submit(request, attributes, engine::local_actor()), command.out);
}

void run_retrieve(const CaContext& context, std::int64_t id, const std::optional<std::filesystem::path>& out) {
  OpenCa opened = open(context);
  print_disposition(context, opened.engine->retrieve_for_client(id, engine::local_actor()), out);
}

void run_admin_list(const CaContext& context, const std::string& state_name) {
  std::optional<storage::RequestState> state;
  if (!state_name.empty()) {
    state = storage::parse_request_state(state_name);
    if (!state) throw UsageError("--state must be pending, issued, denied, revoked, failed or received");
  }
  OpenCa opened = open(context);
  std::vector<storage::RequestRecord> records = opened.engine->list(state);
  if (context.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const storage::RequestRecord& record : records) {
      nlohmann::json entry = {{"request_id", record.id},
                              {"status", storage::request_state_name(record.state)},
                              {"message", record.message},
                              {"subject", record.subject},
                              {"profile", record.profile},
                              {"submitted_at", record.submitted_at}};
      if (record.serial) entry["serial"] = *record.serial;
      array.push_back(entry);
    }
    std::cout << array.dump(2) << "\n";
    return;
  }
  for (const storage::RequestRecord& record : records) {
    std::cout << record.id << "  " << storage::request_state_name(record.state) << "  " << record.submitted_at << "  "
              << record.profile << "  " << (record.serial ? *record.serial : "-") << "  " << record.subject << "\n";
  }
}

void run_admin_resubmit(const CaContext& context, std::int64_t id) {
  OpenCa opened = open(context);
  print_disposition(context, opened.engine->resubmit(id, engine::local_actor()), std::nullopt);
}

void run_admin_deny(const CaContext& context, std::int64_t id, const std::string& message) {
  OpenCa opened = open(context);
  opened.engine->deny(id, message, engine::local_actor());
  print_disposition(context, opened.engine->retrieve(id), std::nullopt);
}

void run_admin_set_attr(const CaContext& context, std::int64_t id, const std::string& assignment) {
  auto [name, value] = split_assignment(assignment);
  OpenCa opened = open(context);
  opened.engine->set_attribute(id, name, value, engine::local_actor());
  if (!context.json) std::cout << "request " << id << ": " << name << " = " << value << "\n";
}

void run_admin_set_ext(const CaContext& context, std::int64_t id, const std::string& oid, const std::string& hex,
                       bool critical) {
  std::vector<std::uint8_t> der;
  try {
    der = from_hex(hex);
  } catch (const Error&) {
    throw UsageError("--value-der-hex must be hex, not '" + hex + "'");
  }
  OpenCa opened = open(context);
  opened.engine->set_extension(id, oid, der, critical, engine::local_actor());
  if (!context.json) std::cout << "request " << id << ": extension " << oid << (critical ? " (critical)" : "") << " set\n";
}

void run_admin_remove_ext(const CaContext& context, std::int64_t id, const std::string& oid) {
  OpenCa opened = open(context);
  opened.engine->remove_extension(id, oid, engine::local_actor());
  if (!context.json) std::cout << "request " << id << ": extension " << oid << " removed\n";
}

void run_admin_revoke(const CaContext& context, const std::string& serial, const std::string& reason,
                      const std::string& at) {
  std::optional<std::time_t> invalidity;
  if (!at.empty()) invalidity = parse_rfc3339(at);
  OpenCa opened = open(context);
  opened.engine->revoke(serial, reason, invalidity, engine::local_actor());
  if (!context.json) std::cout << "revoked " << engine::normalize_serial(serial) << " (" << reason << ")\n";
}

void run_admin_unrevoke(const CaContext& context, const std::string& serial) {
  OpenCa opened = open(context);
  opened.engine->unrevoke(serial, engine::local_actor());
  if (!context.json) std::cout << "lifted the hold on " << engine::normalize_serial(serial) << "\n";
}

void run_crl(const CaContext& context, const std::optional<std::filesystem::path>& out, bool der) {
  OpenCa opened = open(context);
  engine::PublishedCrl crl = opened.engine->publish_crl(engine::local_actor());
  std::string text = der ? std::string(crl.der.begin(), crl.der.end()) : crl.pem;
  if (out) {
    write_file_atomic(*out, text);
    std::cerr << "CRL " << crl.number << " written to " << out->string() << " and " << crl.file.string() << "\n";
  } else {
    std::cout << text;
  }
}

}  // namespace custos::cli
