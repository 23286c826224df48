// The request-flow and administration commands of the custos CLI: submit,
// retrieve, admin …, crl. Each goes through the custosd serving the CA
// directory when one runs, else opens the CA (token and store) in this
// process (ca_service.h); prints the result (JSON with --json) and throws
// custos::Error on failure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "appliance/engine/authority.h"
#include "storage/store.h"

namespace custos::cli {

struct CaContext {
  std::filesystem::path directory;
  engine::TokenOptions token;
  bool json = false;
};

struct SubmitCommand {
  std::filesystem::path request_file;
  std::string profile;
  std::vector<std::string> attributes;  // KEY=VALUE
  std::optional<std::filesystem::path> out;
};
void run_submit(const CaContext& context, const SubmitCommand& command);
// With `chain`, `out` gets the certificate followed by the CA chain (what
// install-ca-cert takes for a subordinate).
void run_retrieve(const CaContext& context, std::int64_t id, const std::optional<std::filesystem::path>& out,
                  bool chain = false);

void run_admin_list(const CaContext& context, const std::string& state, const storage::RequestPage& page);
void run_admin_resubmit(const CaContext& context, std::int64_t id);
void run_admin_deny(const CaContext& context, std::int64_t id, const std::string& message);
void run_admin_set_attr(const CaContext& context, std::int64_t id, const std::string& assignment);
void run_admin_set_ext(const CaContext& context, std::int64_t id, const std::string& oid, const std::string& hex,
                       bool critical);
void run_admin_remove_ext(const CaContext& context, std::int64_t id, const std::string& oid);
void run_admin_revoke(const CaContext& context, const std::vector<std::string>& serials, const std::string& reason,
                      const std::string& at);
void run_admin_unrevoke(const CaContext& context, const std::string& serial);

// `admin show SERIAL`: one certificate's status.
void run_admin_show(const CaContext& context, const std::string& serial);
// `admin revoke --cert FILE` / `--serials-from FILE`: the serials to revoke,
// from a certificate this CA issued (PEM or DER) or a file of one hex serial
// a line ('#' comments and blank lines skipped).
std::vector<std::string> serials_of_certificate_file(const CaContext& context, const std::filesystem::path& file);
std::vector<std::string> serials_from_file(const std::filesystem::path& file);
// `admin revoke --serials-from FILE`: bulk revocation in batches, each one
// transaction; prints (or, with --json, answers) how many were revoked.
void run_admin_revoke_from_file(const CaContext& context, const std::filesystem::path& file,
                                const std::string& reason, const std::string& at);
void run_crl(const CaContext& context, const std::optional<std::filesystem::path>& out, bool der);
// Exit 1 when the log does not hold, naming the first bad entry.
void run_audit_verify(const CaContext& context, const std::optional<std::string>& expect);
void run_backup(const CaContext& context, const std::filesystem::path& directory);
// `custos whoami`: the caller's identity and roles, through custosd or locally.
void run_whoami(const CaContext& context);
void run_admin_reload(const CaContext& context);

}  // namespace custos::cli
