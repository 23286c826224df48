// custos backup: a CA directory's worth of files and an online copy of the
// database. The token is not copied — it cannot be — and the copy opens
// only where the same token (or its own backup, by the vendor's means) is.
#include "appliance/engine/database_key.h"
#include "appliance/engine/engine.h"
#include "common/files.h"
#include "storage/audit.h"

namespace custos::engine {

nlohmann::json BackupReport::to_json() const {
  return {{"directory", directory.string()}, {"files", files}, {"audit_entries", audit_entries}};
}

BackupReport Engine::backup(const std::filesystem::path& directory, const std::string& actor,
                            std::optional<unsigned> owner) {
  namespace fs = std::filesystem;
  const CaConfig& config = ca_.config();
  if (config.database.file.is_absolute()) {
    throw Error("custos.toml names the database by an absolute path (" + config.database.file.string() +
                "); a backup copies it beside custos.toml, so give it a path relative to the CA directory");
  }
  if (fs::exists(directory)) throw Error("the backup directory " + directory.string() + " already exists");
  NewPrivateDirectory made(directory);
  const fs::path inside = made.inside();
  BackupReport report{directory, {}, 0};
  try {
    store_.append_audit({actor, "backup_made", {{"directory", directory.string()}}});
    checkpoint_audit();
    fs::create_directories((inside / config.database.file).parent_path());
    store_.backup_to(inside / config.database.file);
    report.files.push_back(config.database.file.string());

    const fs::path& source = ca_.paths().directory;
    for (const fs::path& file : {fs::path("custos.toml"), ca_.paths().certificate.filename(), ca_.paths().chain.filename()}) {
      if (!fs::exists(source / file)) continue;
      fs::copy_file(source / file, inside / file);
      report.files.push_back(file.string());
    }
    if (fs::exists(source / "ocsp")) {
      fs::copy(source / "ocsp", inside / "ocsp", fs::copy_options::recursive);
      report.files.push_back("ocsp/");
    }

    // The copy opens with the token's key and its chain holds.
    SecureBuffer key = derive_database_key(ca_.token(), config.database);
    storage::StoreLocation copied = store_location(config);
    copied.path = inside / config.database.file;
    std::unique_ptr<storage::Store> copy = storage::open_store(copied, key);
    storage::AuditChain log;
    copy->read_audit_log(0, [&log](const storage::AuditRecord& record) { log.add(record); });
    if (std::optional<std::int64_t> broken = log.first_broken()) {
      throw Error("the copied audit log does not hold from entry " + std::to_string(*broken));
    }
    report.audit_entries = log.entries();
    copy.reset();
    if (owner) made.give_to(*owner);
  } catch (const std::exception& error) {
    made.remove();
    try {
      store_.append_audit({actor, "backup_failed", {{"directory", directory.string()}, {"error", error.what()}}});
    } catch (const std::exception&) {
      // The backup's own error is the one to report.
    }
    throw;
  }
  return report;
}

}  // namespace custos::engine
