// Adds COUNT stored certificates to a CA's SQLCipher store, for the figures
// bench/compare takes at a million stored certificates: issuing that many
// through Custos takes about 25 minutes on the development VM, this about
// two and a half.
//
//   fill_store CA_DIR PIN_FILE COUNT SERIALS_OUT
//
// Each one copies the rows of the newest certificate issued to a
// subscriber and not revoked (its request and its certificate) with a
// serial of its own, drawn as Custos draws serials (the token's random
// bytes), and a CSR hash of its own, so the indexes that issuance and a
// status lookup walk are as large, and their keys as random, as after real
// issuance. Its two audit entries (request_received, certificate_issued)
// are the template's with the new request id and serial, chained as the
// store chains them, so the log is as long and still verifies. What a copy
// lacks: an exit event (there is none left once the exits have it), and a
// DER of its own (the copies carry the template's; a status answer finds
// the row by its serial and takes the status from the row). The serials,
// upper-case hex as the store keeps them, go to SERIALS_OUT, one a line.
// Run it on a CA no custosd has open.
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "appliance/engine/authority.h"
#include "appliance/engine/config.h"
#include "appliance/engine/database_key.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "storage/audit.h"
#include "storage/sqlite.h"

namespace {

using namespace custos;

constexpr std::int64_t kPerTransaction = 50'000;

// A serial as the engine draws one (the token's random bytes), in the
// upper-case hex the store keeps.
std::string random_serial_hex(hsm::Token& token) {
  std::string hex = to_hex(engine::random_serial(token));
  std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::toupper(c); });
  return hex;
}

void fill(const std::filesystem::path& directory, const std::filesystem::path& pin_file, std::int64_t count,
          const std::filesystem::path& serials_out) {
  engine::CaConfig config = engine::load_config(directory / "custos.toml");
  if (config.database.backend != "sqlcipher") throw Error("fill_store fills a SQLCipher store only");
  engine::TokenOptions options;
  options.module = config.token.module;
  options.label = config.token.label;
  options.pin.file = pin_file;
  std::unique_ptr<hsm::Token> token = engine::open_token(options);
  SecureBuffer key = engine::derive_database_key(*token, config.database);
  std::filesystem::path file = config.database.file.is_absolute() ? config.database.file
                                                                  : directory / config.database.file;
  storage::Connection connection(file, false, key);
  // The whole of both random-keyed indexes stays decrypted in memory.
  connection.execute("PRAGMA cache_size = -1048576");

  // Not the OCSP responder's own certificate, which custosd issues itself.
  storage::Statement newest(connection,
                            "SELECT c.request_id, c.serial FROM certificates c JOIN requests r ON r.id = c.request_id "
                            "WHERE c.revoked_at IS NULL AND r.state = 'issued' AND r.profile <> 'ocsp-signer' "
                            "ORDER BY c.request_id DESC LIMIT 1");
  if (!newest.step()) throw Error("the store has no certificate to copy: issue one first");
  std::int64_t template_request = newest.column_int(0);
  std::string template_serial = newest.column_text(1);
  newest.reset();

  // The template's audit entries, and the end of the chain to extend.
  struct TemplateEntry {
    std::int64_t actor_id;
    std::string actor, event;
    nlohmann::json detail;
  };
  // (The linked SQLCipher has no JSON functions: the details are read here.)
  std::optional<TemplateEntry> received, issued;
  storage::Statement entries(connection,
                             "SELECT log.actor_id, actors.name, log.event, log.detail FROM audit_log AS log "
                             "JOIN audit_actors AS actors ON actors.id = log.actor_id WHERE log.event IN "
                             "('request_received', 'certificate_issued') ORDER BY log.id DESC");
  while ((!received || !issued) && entries.step()) {
    TemplateEntry entry{entries.column_int(0), entries.column_text(1), entries.column_text(2),
                        nlohmann::json::parse(entries.column_text(3))};
    if (!received && entry.event == "request_received" &&
        entry.detail.value("request_id", std::int64_t{0}) == template_request) {
      received = std::move(entry);
    } else if (!issued && entry.event == "certificate_issued" && entry.detail.value("serial", "") == template_serial) {
      issued = std::move(entry);
    }
  }
  entries.reset();
  if (!received || !issued) throw Error("the audit log has no entries for the copied certificate");
  storage::Statement last(connection, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
  if (!last.step()) throw Error("the audit log is empty");
  std::int64_t audit_id = last.column_int(0);
  std::vector<std::uint8_t> previous_hash = last.column_blob(1);
  last.reset();

  std::ofstream serials(serials_out);
  if (!serials) throw Error("cannot write " + serials_out.string());
  for (std::int64_t done = 0; done < count;) {
    storage::Transaction transaction(connection);
    storage::Statement add_request(
        connection,
        "INSERT INTO requests (state, csr, subject, profile, attributes, requester, message, overrides, "
        "submitted_at, updated_at, csr_sha256) SELECT state, csr, subject, profile, attributes, requester, message, "
        "overrides, submitted_at, updated_at, ?2 FROM requests WHERE id = ?1");
    storage::Statement add_certificate(
        connection,
        "INSERT INTO certificates (serial, request_id, der, not_before, not_after) "
        "SELECT ?2, ?3, der, not_before, not_after FROM certificates WHERE serial = ?1");
    storage::Statement add_audit(connection,
                                 "INSERT INTO audit_log (id, at, actor_id, event, detail, hash) "
                                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    std::string at = now_rfc3339();
    auto append_audit = [&](TemplateEntry& entry) {
      std::string detail = entry.detail.dump();
      std::vector<std::uint8_t> hash =
          storage::audit_hash(previous_hash, ++audit_id, at, entry.actor, entry.event, detail);
      add_audit.bind(1, audit_id).bind(2, at).bind(3, entry.actor_id).bind(4, entry.event).bind(5, detail);
      add_audit.bind(6, hash).run();
      add_audit.reset();
      previous_hash = std::move(hash);
    };
    for (std::int64_t batch = 0; batch < kPerTransaction && done < count; ++batch, ++done) {
      std::uint8_t csr_hash[crypto_hash_sha256_BYTES];
      randombytes_buf(csr_hash, sizeof csr_hash);
      add_request.bind(1, template_request).bind(2, std::span<const std::uint8_t>(csr_hash)).run();
      add_request.reset();
      std::int64_t request_id = sqlite3_last_insert_rowid(connection.get());
      std::string serial = random_serial_hex(*token);
      add_certificate.bind(1, template_serial).bind(2, serial).bind(3, request_id).run();
      add_certificate.reset();
      received->detail["request_id"] = request_id;
      append_audit(*received);
      issued->detail["request_id"] = request_id;
      issued->detail["serial"] = serial;
      append_audit(*issued);
      serials << serial << '\n';
    }
    transaction.commit();
  }
  serials.flush();
  if (!serials) throw Error("writing " + serials_out.string() + " failed");
  connection.execute("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: fill_store CA_DIR PIN_FILE COUNT SERIALS_OUT\n";
    return 2;
  }
  try {
    if (sodium_init() < 0) throw custos::Error("libsodium did not initialise");
    std::int64_t count = std::stoll(argv[3]);
    if (count < 1) throw custos::Error("COUNT is a positive number");
    fill(argv[1], argv[2], count, argv[4]);
  } catch (const std::exception& error) {
    std::cerr << "fill_store: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
