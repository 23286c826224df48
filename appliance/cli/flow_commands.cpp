#include "appliance/cli/flow_commands.h"

#include <openssl/pem.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "appliance/cli/ca_service.h"
#include "appliance/cli/output.h"
#include "appliance/engine/engine.h"
#include "appliance/operations/operations.h"
#include "appliance/x509/certificate.h"
#include "appliance/x509/crl.h"
#include "appliance/x509/pem.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"

namespace custos::cli {
namespace {

void print_disposition(const CaContext& context, const engine::Disposition& disposition,
                       const std::optional<std::filesystem::path>& out, bool chain = false) {
  std::string certificate_pem;
  if (!disposition.certificate.empty()) {
    certificate_pem = pem_armour(PEM_STRING_X509, disposition.certificate) +
                      (out && chain ? engine::read_ca_chain(context.directory) : std::string());
  }
  cli::print_disposition(disposition.to_json(), context.json, out, certificate_pem);
}

}  // namespace

void run_submit(const CaContext& context, const SubmitCommand& command) {
  std::map<std::string, std::string> attributes = submit_attributes(command.attributes, command.profile);
  std::vector<std::uint8_t> request = read_file(command.request_file, kMaxInputBytes);
  print_disposition(context,
                    on_ca(context, [&](CaService& ca) { return ca.submit(request, attributes); }, Asks::kPolicy),
                    command.out);
}

void run_retrieve(const CaContext& context, std::int64_t id, const std::optional<std::filesystem::path>& out,
                  bool chain) {
  print_disposition(context, on_ca(context, [&](CaService& ca) { return ca.retrieve(id); }), out, chain);
}

void run_admin_list(const CaContext& context, const std::string& state_name, const storage::RequestPage& page) {
  nlohmann::json records = on_ca(context, [&](CaService& ca) { return ca.list(state_name, page); });
  if (context.json) {
    std::cout << records.dump(2) << "\n";
    return;
  }
  // Aligned columns under a header; the subject, of any length, last.
  std::vector<std::vector<std::string>> rows = {{"ID", "STATUS", "SUBMITTED", "PROFILE", "SERIAL", "NOT AFTER", "REVOKED", "SUBJECT"}};
  for (const nlohmann::json& record : records) {
    std::string revoked = record.contains("revoked_at")
                              ? record.at("revoked_at").get<std::string>() + " " + record.at("revocation_reason").get<std::string>()
                              : "-";
    rows.push_back({std::to_string(record.at("request_id").get<std::int64_t>()), record.at("status").get<std::string>(),
                    record.at("submitted_at").get<std::string>(), record.at("profile").get<std::string>(),
                    record.value("serial", "-"), record.value("not_after", "-"), revoked,
                    record.at("subject").get<std::string>()});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < row.size(); ++column) widths[column] = std::max(widths[column], row[column].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t column = 0; column < row.size(); ++column) {
      line += row[column];
      if (column + 1 < row.size()) line += std::string(widths[column] - row[column].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

void run_admin_resubmit(const CaContext& context, std::int64_t id) {
  print_disposition(context, on_ca(context, [&](CaService& ca) { return ca.resubmit(id); }, Asks::kPolicy),
                    std::nullopt);
}

void run_admin_deny(const CaContext& context, std::int64_t id, const std::string& message) {
  print_disposition(context, on_ca(context, [&](CaService& ca) { return ca.deny(id, message); }), std::nullopt);
}

void run_admin_set_attr(const CaContext& context, std::int64_t id, const std::string& assignment) {
  auto [name, value] = split_assignment(assignment);
  on_ca(context, [&](CaService& ca) { return ca.set_attribute(id, name, value); });
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
  on_ca(context, [&](CaService& ca) { return ca.set_extension(id, oid, der, critical); });
  if (!context.json) std::cout << "request " << id << ": extension " << oid << (critical ? " (critical)" : "") << " set\n";
}

void run_admin_remove_ext(const CaContext& context, std::int64_t id, const std::string& oid) {
  on_ca(context, [&](CaService& ca) { return ca.remove_extension(id, oid); });
  if (!context.json) std::cout << "request " << id << ": extension " << oid << " removed\n";
}

void run_admin_revoke(const CaContext& context, const std::vector<std::string>& serials, const std::string& reason,
                      const std::string& at) {
  std::optional<std::time_t> invalidity;
  if (!at.empty()) invalidity = parse_rfc3339(at);
  // One at a time, each its own transaction; the first refusal stops the
  // run, naming how far it got.
  on_ca(context, [&](CaService& ca) {
    for (std::size_t index = 0; index < serials.size(); ++index) {
      try {
        ca.revoke(serials[index], reason, invalidity);
      } catch (const Error& error) {
        if (serials.size() == 1) throw;
        throw Error(std::string(error.what()) + " (" + std::to_string(index) + " of " +
                    std::to_string(serials.size()) + " revoked before it)");
      }
      if (!context.json) std::cout << "revoked " << engine::normalize_serial(serials[index]) << " (" << reason << ")\n";
    }
  });
}

void run_admin_unrevoke(const CaContext& context, const std::string& serial) {
  on_ca(context, [&](CaService& ca) { return ca.unrevoke(serial); });
  if (!context.json) std::cout << "lifted the hold on " << engine::normalize_serial(serial) << "\n";
}

void run_admin_show(const CaContext& context, const std::string& serial) {
  nlohmann::json status = on_ca(context, [&](CaService& ca) { return ca.show(serial); });
  if (context.json) {
    std::cout << status.dump(2) << "\n";
    return;
  }
  std::cout << "certificate " << status.at("serial").get<std::string>() << ": " << status.at("status").get<std::string>();
  if (status.contains("revoked_at")) {
    std::cout << " on " << status.at("revoked_at").get<std::string>() << " ("
              << status.at("revocation_reason").get<std::string>() << ")";
  }
  std::cout << "\n";
  if (status.contains("request_id")) {
    std::cout << "  request " << status.at("request_id").get<std::int64_t>() << ", " << status.at("subject").get<std::string>()
              << ", valid " << status.at("not_before").get<std::string>() << " to "
              << status.at("not_after").get<std::string>() << "\n";
  } else {
    std::cout << "  this CA issued no certificate with that serial\n";
  }
}

std::vector<std::string> serials_of_certificate_file(const CaContext& context, const std::filesystem::path& file) {
  std::vector<std::uint8_t> bytes = read_file(file, kMaxInputBytes);
  std::string text(bytes.begin(), bytes.end());
  std::vector<ossl::Ptr<X509>> certificates;
  if (text.find("-----BEGIN") != std::string::npos) {
    certificates = x509::read_pem_certificates(text);
  } else {
    const unsigned char* cursor = bytes.data();
    ossl::Ptr<X509> certificate(d2i_X509(nullptr, &cursor, static_cast<long>(bytes.size())));
    if (certificate) certificates.push_back(std::move(certificate));
  }
  if (certificates.size() != 1) throw Error(file.string() + " does not hold exactly one certificate");
  // Only this CA's certificate: the same serial from another issuer is
  // another certificate.
  std::vector<ossl::Ptr<X509>> ca = x509::read_pem_certificates(engine::read_ca_chain(context.directory));
  if (ca.empty() || X509_check_issued(ca.front().get(), certificates.front().get()) != X509_V_OK) {
    throw Error(file.string() + " was not issued by this CA");
  }
  return {x509::serial_hex(certificates.front().get())};
}

std::vector<std::string> serials_from_file(const std::filesystem::path& file) {
  // Read a line at a time and uncapped: an incident's list may name every
  // certificate the CA issued.
  std::ifstream stream(file);
  if (!stream) throw Error("cannot read " + file.string());
  std::vector<std::string> serials;
  std::size_t number = 0;
  for (std::string line; std::getline(stream, line);) {
    ++number;
    std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::size_t last = line.find_last_not_of(" \t\r");
    try {
      serials.push_back(engine::normalize_serial(line.substr(first, last - first + 1)));
    } catch (const Error& error) {
      throw Error(file.string() + " line " + std::to_string(number) + ": " + error.what());
    }
  }
  if (stream.bad()) throw Error("reading " + file.string() + " failed");
  if (serials.empty()) throw Error(file.string() + " names no serial");
  return serials;
}

void run_admin_revoke_from_file(const CaContext& context, const std::filesystem::path& file,
                                const std::string& reason, const std::string& at) {
  std::vector<std::string> serials = serials_from_file(file);
  std::optional<std::time_t> invalidity;
  if (!at.empty()) invalidity = parse_rfc3339(at);
  // In batches, each one transaction (operations::kMaxRevocationBatch); a
  // refused batch revokes none of its serials and stops the run. What was
  // already revoked for this reason is counted, not refused, so the file
  // can be run again whole once the refusal is dealt with.
  engine::RevocationTally total;
  on_ca(context, [&](CaService& ca) {
    for (std::size_t first = 0; first < serials.size(); first += operations::kMaxRevocationBatch) {
      std::size_t end = std::min(serials.size(), first + operations::kMaxRevocationBatch);
      std::vector<std::string> batch(serials.begin() + static_cast<std::ptrdiff_t>(first),
                                     serials.begin() + static_cast<std::ptrdiff_t>(end));
      engine::RevocationTally tally;
      try {
        tally = ca.revoke_batch(batch, reason, invalidity);
      } catch (const Error& error) {
        throw Error(std::string(error.what()) + " (serials " + std::to_string(first + 1) + " to " + std::to_string(end) +
                    " of " + std::to_string(serials.size()) + " are left as they were; " +
                    std::to_string(total.revoked) + " revoked before them)");
      }
      total.revoked += tally.revoked;
      total.already_revoked += tally.already_revoked;
    }
  });
  if (context.json) {
    std::cout << total.to_json().dump() << "\n";
    return;
  }
  std::cout << "revoked " << total.revoked << " certificate" << (total.revoked == 1 ? "" : "s") << " (" << reason
            << ")";
  if (total.already_revoked > 0) std::cout << "; " << total.already_revoked << " already revoked, left as they were";
  std::cout << "\n";
}

void run_crl(const CaContext& context, const std::optional<std::filesystem::path>& out, bool der) {
  engine::PublishedCrl crl = on_ca(context, [&](CaService& ca) { return ca.publish_crl(); });
  std::string pem = der ? std::string() : x509::crl_to_pem(crl.der);
  std::string_view text = der ? std::string_view(reinterpret_cast<const char*>(crl.der.data()), crl.der.size()) : pem;
  if (out) {
    if (der) {
      write_file_atomic(*out, crl.der);
    } else {
      write_file_atomic(*out, pem);
    }
    std::cerr << "CRL " << crl.number << " written to " << out->string() << " and " << crl.file.string() << "\n";
  } else {
    std::cout << text;
  }
}

void run_audit_verify(const CaContext& context, const std::optional<std::string>& expect) {
  nlohmann::json report = on_ca(context, [&](CaService& ca) { return ca.verify_audit(expect); });
  const bool holds = report.at("holds").get<bool>();
  if (context.json) {
    std::cout << report.dump(2) << "\n";
  } else if (holds) {
    auto counted = [&](const char* field, const char* one, const char* many) {
      std::int64_t count = report.at(field).get<std::int64_t>();
      return std::to_string(count) + " " + (count == 1 ? one : many);
    };
    std::cout << "audit log holds: " << counted("entries", "entry", "entries") << ", "
              << counted("checkpoints", "checkpoint", "checkpoints") << " signed by the CA key";
    if (report.contains("last_checkpoint")) {
      std::cout << ", the last at entry " << report.at("last_signed_entry").get<std::int64_t>() << " ("
                << report.at("last_signed_at").get<std::string>() << ")";
    }
    std::cout << "; " << counted("unsigned_entries", "entry", "entries") << " not yet signed\n";
    if (report.contains("last_checkpoint")) {
      std::cout << "note elsewhere, to check later with --expect: " << report.at("last_checkpoint").get<std::int64_t>()
                << ":" << report.at("last_fingerprint").get<std::string>() << "\n";
    }
  }
  if (!holds) {
    throw Error("the audit log does not hold from entry " + std::to_string(report.at("first_bad_entry").get<std::int64_t>()) +
                ": " + report.at("problem").get<std::string>());
  }
}

void run_backup(const CaContext& context, const std::filesystem::path& directory) {
  nlohmann::json report = on_ca(context, [&](CaService& ca) { return ca.backup(directory); });
  if (context.json) {
    std::cout << report.dump(2) << "\n";
    return;
  }
  std::cout << "backup in " << report.at("directory").get<std::string>() << ":";
  for (const nlohmann::json& file : report.at("files")) std::cout << " " << file.get<std::string>();
  std::cout << "; the copied audit log holds " << report.at("audit_entries").get<std::int64_t>()
            << " entries. It opens only with this CA's token.\n";
}

void run_whoami(const CaContext& context) {
  nlohmann::json me = on_ca(context, [&](CaService& ca) { return ca.whoami(); });
  if (context.json) {
    std::cout << me.dump(2) << "\n";
    return;
  }
  std::string roles;
  for (const nlohmann::json& role : me.at("roles")) roles += (roles.empty() ? "" : ", ") + role.get<std::string>();
  std::cout << me.at("identity").get<std::string>() << (me.value("local", false) ? " (local mode)" : " (through custosd)")
            << ": " << (roles.empty() ? "no role" : roles) << "\n";
}

void run_admin_reload(const CaContext& context) {
  on_ca(context, [&](CaService& ca) { return ca.reload(); });
  std::cout << "custosd reloaded " << (context.directory / "custos.toml").string() << "\n";
}

}  // namespace custos::cli
