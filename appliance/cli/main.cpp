// custos [--dir DIR] COMMAND [OPTIONS] — see README.md and `custos --help`.
#include <CLI/CLI.hpp>
#include <openssl/crypto.h>
#include <sodium.h>

#include <cstdlib>
#include <functional>
#include <iostream>

#include "appliance/cli/commands.h"
#include "appliance/cli/flow_commands.h"
#include "appliance/cli/main.h"
#include "appliance/cli/module_test.h"
#include "appliance/cli/output.h"
#include "common/error.h"
#include "common/password.h"
#include "common/process.h"
#include "packaging/revision.h"
#include "storage/sqlite.h"

namespace {

using custos::cli::CaContext;

// The token options of every command that opens the CA, bound to one set
// of variables (only one command runs).
struct TokenArguments {
  std::string module;
  std::string label;
  std::string pin_file;
  bool pin_stdin = false;

  void add_to(CLI::App* command) {
    command->add_option("--hsm-module", module, "the PKCS#11 library (default: from custos.toml)");
    command->add_option("--token", label, "the token's label (default: from custos.toml)");
    command->add_option("--pin-file", pin_file, "a file holding the user PIN, readable by its owner only");
    command->add_flag("--pin-stdin", pin_stdin, "read the user PIN from the first line of standard input");
  }

  // CUSTOS_PIN_FILE is read when neither --pin-file nor --pin-stdin is given.
  custos::engine::TokenOptions options() const {
    custos::engine::TokenOptions token;
    if (!module.empty()) token.module = module;
    if (!label.empty()) token.label = label;
    if (!pin_file.empty()) token.pin.file = pin_file;
    token.pin.from_stdin = pin_stdin;
    return token;
  }
};

// The token options of a command with no CA yet (init, token check): the
// library is --hsm-module, else CUSTOS_HSM_MODULE, else the build's
// default. Later commands take it from custos.toml.
custos::engine::TokenOptions without_a_ca(custos::engine::TokenOptions token) {
  if (const char* module = std::getenv("CUSTOS_HSM_MODULE"); !token.module && module != nullptr && *module != '\0') {
    token.module = module;
  }
  return token;
}

std::optional<std::filesystem::path> optional_path(const std::string& text) {
  return text.empty() ? std::nullopt : std::optional<std::filesystem::path>(text);
}

}  // namespace

namespace {

// `custos --version`: what a report about this build needs.
std::string version_text() {
  return std::string("custos ") + CUSTOS_VERSION + " (git " + CUSTOS_GIT_REVISION + ")\n" +
         OpenSSL_version(OPENSSL_VERSION) + "\nSQLCipher " + custos::storage::sqlcipher_version() +
         "\nlibsodium " + sodium_version_string();
}

}  // namespace

int custos::cli::run(int argc, char** argv, const ServeFunction& serve) {
  // The PIN and the database key pass through this process (custosd is this
  // process too): never into a core file.
  try {
    forbid_core_dumps();
  } catch (const Error& error) {
    std::cerr << "custos: " << error.what() << "\n";
    return 1;
  }
  CLI::App app{"custos: a certificate authority whose keys never leave a PKCS#11 token"};
  app.set_version_flag("--version", [] { return version_text(); }, "the version, the git revision and the libraries");
  app.require_subcommand(1);
  std::string directory_text;
  app.add_option("--dir", directory_text, "the CA directory (default: $CUSTOS_DIR, else the current directory)");

  TokenArguments token;
  bool json = false;
  std::string out;
  // What the chosen command does, set by its callback once parsing is done.
  std::function<void(const CaContext&)> action;
  auto opens_ca = [&](CLI::App* command) {
    token.add_to(command);
    return command;
  };
  auto with_json = [&](CLI::App* command) {
    command->add_flag("--json", json, "print the result as JSON");
    return command;
  };

  // token check
  CLI::App* token_command = app.add_subcommand("token", "the PKCS#11 token, before a CA is made on it");
  token_command->require_subcommand(1);
  CLI::App* token_check_command = with_json(opens_ca(token_command->add_subcommand(
      "check", "list what the token offers, and try each key type and database-key method in scratch objects")));
  token_check_command->callback([&] {
    action = [&](const CaContext& context) {
      custos::cli::run_token_check(without_a_ca(context.token), context.json);
    };
  });

  // init
  custos::engine::InitOptions init;
  std::string csr_out;
  std::string database_key_method;
  CLI::App* init_command = with_json(opens_ca(
      app.add_subcommand("init", "create a CA: key on the token, certificate or request, encrypted database")));
  init_command->add_option("--subject", init.subject, "the CA's name, e.g. \"CN=Example Root,O=Example\"")->required();
  init_command->add_option("--key", init.key_type, "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519")
      ->required();
  init_command->add_option("--days", init.validity_days, "validity of a root certificate in days (3650)");
  init_command->add_flag("--subordinate", init.subordinate, "make a request to a parent CA instead");
  init_command->add_option("--crl-url", init.crl_urls, "where the CRL is published, for [crl] distribution_points (repeatable)");
  init_command->add_option("--ocsp-url", init.ocsp_urls, "the OCSP responder's URL, for [aia] ocsp (repeatable)");
  init_command->add_option("--ca-issuers-url", init.ca_issuers_urls,
                           "where the CA certificate is published, for [aia] ca_issuers (repeatable)");
  init_command->add_option("--csr-out", csr_out, "with --subordinate: where to write the request (PEM)");
  init_command->add_option("--db-key-method", database_key_method,
                           "hmac-sha256 or rsa-oaep (default: what the token offers, hmac-sha256 first)");
  init_command->callback([&] {
    action = [&](const CaContext& context) {
      init.directory = context.directory;
      init.token = without_a_ca(context.token);
      init.actor = custos::engine::local_actor();
      init.csr_out = optional_path(csr_out);
      if (!database_key_method.empty()) init.database_key_method = database_key_method;
      custos::cli::run_init({init, context.json});
    };
  });

  // install-ca-cert, ca-cert, config
  std::string certificate_file;
  CLI::App* install_command = with_json(
      opens_ca(app.add_subcommand("install-ca-cert", "install a subordinate CA's certificate signed by its parent")));
  install_command->add_option("--cert", certificate_file, "PEM: the CA certificate, then its issuers up to the root")
      ->required();
  install_command->callback([&] {
    action = [&](const CaContext& context) {
      custos::cli::run_install_ca_cert({context.directory, certificate_file, context.token, context.json});
    };
  });
  CLI::App* ca_cert_command = app.add_subcommand("ca-cert", "print the CA certificate chain (PEM)");
  ca_cert_command->add_option("--out", out, "write it to this file instead");
  ca_cert_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_ca_cert(context.directory, optional_path(out)); }; });
  CLI::App* config_command = with_json(app.add_subcommand("config", "show the CA's configuration"));
  config_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_config(context.directory, context.json); }; });

  // submit, retrieve
  custos::cli::SubmitCommand submit;
  std::string request_file;
  CLI::App* submit_command = with_json(opens_ca(app.add_subcommand("submit", "submit a PKCS#10 request (PEM or DER)")));
  submit_command->add_option("--csr", request_file, "the request file")->required();
  submit_command->add_option("--profile", submit.profile, "the profile to issue under (default: server)");
  submit_command->add_option("--attr", submit.attributes, "a request attribute KEY=VALUE (repeatable)");
  submit_command->add_option("--out", out, "where to write the certificate (PEM) when it is issued");
  submit_command->callback([&] {
    action = [&](const CaContext& context) {
      submit.request_file = request_file;
      submit.out = optional_path(out);
      custos::cli::run_submit(context, submit);
    };
  });
  std::int64_t request_id = 0;
  CLI::App* retrieve_command =
      with_json(opens_ca(app.add_subcommand("retrieve", "the disposition of a request, and its certificate")));
  retrieve_command->add_option("ID", request_id, "the request id")->required();
  retrieve_command->add_option("--out", out, "where to write the certificate (PEM) when it is issued");
  bool with_chain = false;
  retrieve_command->add_flag("--chain", with_chain, "with --out: the certificate followed by the CA chain");
  retrieve_command->callback([&] {
    if (with_chain && out.empty()) throw CLI::ValidationError("--chain", "needs --out FILE");
    action = [&](const CaContext& context) {
      custos::cli::run_retrieve(context, request_id, optional_path(out), with_chain);
    };
  });

  // admin …
  CLI::App* admin = app.add_subcommand("admin", "administer requests and certificates");
  admin->require_subcommand(1);
  std::string state;
  CLI::App* list_command = with_json(opens_ca(admin->add_subcommand("list", "requests, newest first")));
  list_command->add_option("--state", state, "pending, issued, denied, revoked or failed");
  storage::RequestPage page;
  list_command->add_option("--limit", page.limit, "at most this many (default: all)");
  list_command->add_option("--after", page.after, "only requests older than this id (the last of the page before)");
  list_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_admin_list(context, state, page); }; });

  CLI::App* resubmit_command =
      with_json(opens_ca(admin->add_subcommand("resubmit", "ask policy again for a pending or denied request")));
  resubmit_command->add_option("ID", request_id, "the request id")->required();
  resubmit_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_admin_resubmit(context, request_id); }; });

  std::string message;
  CLI::App* deny_command = with_json(opens_ca(admin->add_subcommand("deny", "deny a pending request")));
  deny_command->add_option("ID", request_id, "the request id")->required();
  deny_command->add_option("--message", message, "why");
  deny_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_admin_deny(context, request_id, message); }; });

  std::string assignment;
  CLI::App* set_attr_command = opens_ca(admin->add_subcommand("set-attr", "change a pending request's attribute"));
  set_attr_command->add_option("ID", request_id, "the request id")->required();
  set_attr_command->add_option("ASSIGNMENT", assignment, "KEY=VALUE")->required();
  set_attr_command->callback([&] {
    action = [&](const CaContext& context) { custos::cli::run_admin_set_attr(context, request_id, assignment); };
  });

  std::string oid;
  std::string value_hex;
  bool critical = false;
  CLI::App* set_ext_command =
      opens_ca(admin->add_subcommand("set-ext", "add or replace an extension of a pending request's certificate"));
  set_ext_command->add_option("ID", request_id, "the request id")->required();
  set_ext_command->add_option("--oid", oid, "the extension's OID")->required();
  set_ext_command->add_option("--value-der-hex", value_hex, "the extension's value, DER, in hex")->required();
  set_ext_command->add_flag("--critical", critical, "mark the extension critical");
  set_ext_command->callback([&] {
    action = [&](const CaContext& context) {
      custos::cli::run_admin_set_ext(context, request_id, oid, value_hex, critical);
    };
  });
  CLI::App* remove_ext_command =
      opens_ca(admin->add_subcommand("remove-ext", "remove an extension from a pending request's certificate"));
  remove_ext_command->add_option("ID", request_id, "the request id")->required();
  remove_ext_command->add_option("--oid", oid, "the extension's OID")->required();
  remove_ext_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_admin_remove_ext(context, request_id, oid); }; });

  std::string serial;
  std::string reason;
  std::string at;
  std::string revoked_certificate_file;
  std::string serials_file;
  CLI::App* revoke_command = with_json(opens_ca(admin->add_subcommand("revoke", "revoke certificates")));
  revoke_command->add_option("SERIAL", serial, "the serial, hex as OpenSSL prints it");
  revoke_command->add_option("--cert", revoked_certificate_file, "instead of SERIAL: the certificate (PEM or DER) this CA issued");
  revoke_command->add_option("--serials-from", serials_file, "instead of SERIAL: a file of serials, one a line");
  revoke_command->add_option("--reason", reason, "an RFC 5280 reason: keyCompromise, superseded, certificateHold, …")
      ->required();
  revoke_command->add_option("--at", at, "the invalidity date (RFC 3339): when the key was compromised or unfit");
  revoke_command->callback([&] {
    if (!serial.empty() + !revoked_certificate_file.empty() + !serials_file.empty() != 1) {
      throw CLI::ValidationError("admin revoke", "name the certificate by SERIAL, --cert FILE or --serials-from FILE");
    }
    action = [&](const CaContext& context) {
      std::vector<std::string> serials = {serial};
      if (!revoked_certificate_file.empty()) {
        serials = custos::cli::serials_of_certificate_file(context, revoked_certificate_file);
      }
      if (!serials_file.empty()) return custos::cli::run_admin_revoke_from_file(context, serials_file, reason, at);
      custos::cli::run_admin_revoke(context, serials, reason, at);
    };
  });
  CLI::App* show_command =
      with_json(opens_ca(admin->add_subcommand("show", "one certificate: valid, revoked (when, why), expired or unknown")));
  show_command->add_option("SERIAL", serial, "the serial, hex")->required();
  show_command->callback([&] { action = [&](const CaContext& context) { custos::cli::run_admin_show(context, serial); }; });
  CLI::App* unrevoke_command = opens_ca(admin->add_subcommand("unrevoke", "lift a certificateHold"));
  unrevoke_command->add_option("SERIAL", serial, "the serial, hex")->required();
  unrevoke_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_admin_unrevoke(context, serial); }; });

  CLI::App* whoami_command = with_json(opens_ca(app.add_subcommand(
      "whoami", "print who you are to the CA and the roles you hold (through custosd when one serves the directory)")));
  whoami_command->callback([&] { action = [&](const CaContext& context) { custos::cli::run_whoami(context); }; });

  CLI::App* reload_command =
      opens_ca(admin->add_subcommand("reload", "have custosd read custos.toml again (as SIGHUP does)"));
  reload_command->callback([&] { action = [&](const CaContext& context) { custos::cli::run_admin_reload(context); }; });

  // crl
  bool der = false;
  CLI::App* crl_command = opens_ca(app.add_subcommand("crl", "sign and publish a new CRL"));
  crl_command->add_option("--out", out, "write it to this file (default: standard output)");
  crl_command->add_flag("--der", der, "DER instead of PEM");
  crl_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_crl(context, optional_path(out), der); }; });

  // backup
  std::string backup_directory;
  CLI::App* backup_command = with_json(opens_ca(app.add_subcommand(
      "backup", "copy the database (online, still encrypted to the token) and the CA's files into a new directory")));
  backup_command->add_option("--out", backup_directory, "the directory to create")->required();
  backup_command->callback(
      [&] { action = [&](const CaContext& context) { custos::cli::run_backup(context, backup_directory); }; });

  // audit verify
  CLI::App* audit = app.add_subcommand("audit", "the audit log");
  audit->require_subcommand(1);
  CLI::App* verify_command = with_json(opens_ca(audit->add_subcommand(
      "verify", "check the audit log's hash chain and the token's signed checkpoints; exit 1 naming the first bad entry")));
  std::string expect;
  verify_command->add_option("--expect", expect,
                             "SEQUENCE:FINGERPRINT of a checkpoint noted earlier: fail unless it is still there");
  verify_command->callback([&] {
    action = [&](const CaContext& context) {
      custos::cli::run_audit_verify(context, expect.empty() ? std::nullopt : std::optional<std::string>(expect));
    };
  });

  // module test
  custos::cli::ModuleTestCommand module_test;
  std::vector<std::string> module_words;
  std::string config_file;
  CLI::App* module = app.add_subcommand("module", "tools for module authors");
  module->require_subcommand(1);
  CLI::App* module_test_command = module->add_subcommand(
      "test", "run a module through a scripted hello / verify_request / notify / shutdown, in its sandbox");
  module_test_command->add_option("MODULE", module_words, "a program (and its arguments), or builtin:NAME")
      ->expected(-1);
  module_test_command->add_option("--configured", module_test.configured,
                                  "the CA's own module instead (policy, exit or exit:N), started as the engine "
                                  "starts it from custos.toml");
  module_test_command->add_option("--role", module_test.role, "policy (default) or exit");
  module_test_command->add_option("--config", config_file, "a JSON file given to the module as hello.config");
  module_test_command->add_option("--subject", module_test.subject, "the sample request's subject");
  module_test_command->callback([&] {
    if (module_words.empty() == module_test.configured.empty()) {
      throw CLI::ValidationError("module test", "name a MODULE, or --configured policy|exit|exit:N, not both");
    }
    action = [&](const CaContext& context) {
      for (const std::string& word : module_words) module_test.module += (module_test.module.empty() ? "" : " ") + word;
      module_test.config_file = config_file;
      module_test.directory = context.directory;
      custos::cli::run_module_test(module_test);
    };
  });

  // serve (custosd)
  custos::cli::ServeOptions daemon;
  std::string listen;
  std::string plain_listen;
  int daemon_status = 0;
  CLI::App* serve_command = opens_ca(app.add_subcommand(
      "serve", "run the engine as a daemon (custosd): the local socket, HTTPS (REST, EST, OCSP, CRL); other "
               "commands then go through it"));
  serve_command->add_option("--listen", listen, "HTTPS HOST:PORT (default: [http] listen; off for none)");
  serve_command->add_option("--plain-listen", plain_listen, "plain HTTP HOST:PORT for /crl and /ocsp only");
  serve_command->callback([&] {
    action = [&](const CaContext& context) {
      daemon.directory = context.directory;
      daemon.token = context.token;
      if (!listen.empty()) daemon.listen = listen;
      if (!plain_listen.empty()) daemon.plain_listen = plain_listen;
      daemon_status = serve(daemon);
    };
  });

  // lint
  std::string lint_file;
  bool list_rules = false;
  CLI::App* lint_command = with_json(app.add_subcommand(
      "lint", "run the pre-issuance linter on a certificate or CRL (PEM or DER); exit 1 on an error-level finding"));
  lint_command->add_option("FILE", lint_file, "the certificate or CRL");
  lint_command->add_flag("--rules", list_rules, "list the rules and the clauses they enforce");
  lint_command->callback([&] {
    if (lint_file.empty() == !list_rules) throw CLI::ValidationError("lint", "name a FILE, or --rules");
    action = [&](const CaContext& context) {
      if (list_rules) {
        custos::cli::run_lint_rules(context.json);
      } else {
        custos::cli::run_lint(lint_file, context.json);
      }
    };
  });

  // hash-password
  CLI::App* hash_command = app.add_subcommand(
      "hash-password", "read a password from standard input and print its hash for [http.users.NAME] password_hash");
  hash_command->callback([&] {
    action = [&](const CaContext&) {
      std::string password;
      std::getline(std::cin, password);
      if (password.empty()) throw custos::UsageError("give the password on standard input");
      std::cout << custos::hash_password(password) << "\n";
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }

  int status = custos::cli::exit_status_of([&] {
    CaContext context{directory_text.empty() ? custos::cli::default_directory() : std::filesystem::path(directory_text),
                      token.options(), json};
    action(context);
  });
  return status != 0 ? status : daemon_status;
}
