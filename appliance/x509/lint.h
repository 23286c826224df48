// The linter every certificate, CRL and OCSP response passes before the
// token signs it, as Let's Encrypt's Boulder lints before it signs, and
// that `custos lint FILE` runs on anything an operator hands it.
//
// A rule is a row: its name (after the clause it enforces), the clause,
// a severity, where it applies (always, or to TLS server certificates and
// the CAs that issue them: the CA/Browser Forum Baseline Requirements in
// force on the day), and one small function that says what is wrong.
//
//   std::vector<Finding> findings = lint_certificate(certificate);
//   if (has_errors(findings)) throw LintRefusal(findings);
#pragma once

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/openssl.h"

namespace custos::x509 {

enum class Severity { kWarning, kError };

struct Finding {
  std::string rule;    // e.g. "br_6_3_2_subscriber_validity"
  std::string clause;  // e.g. "BR 6.3.2"
  Severity severity = Severity::kError;
  std::string message;
  // "error br_6_3_2_subscriber_validity (BR 6.3.2): …"
  std::string to_text() const;
};

bool has_errors(const std::vector<Finding>& findings);

// A to-be-signed structure that breaks an error-level rule; what() lists
// every error finding, one after another.
class LintRefusal : public Error {
 public:
  CUSTOS_ERROR_TYPE(LintRefusal)
  explicit LintRefusal(std::vector<Finding> findings);
  const std::vector<Finding>& findings() const { return findings_; }

 private:
  std::vector<Finding> findings_;
};

// The CA/Browser Forum's maximum validity of a TLS subscriber certificate
// issued at `when`, in days (BR 6.3.2): 398, then 200 from 2026-03-15, 100
// from 2027-03-15, 47 from 2029-03-15.
int br_max_subscriber_validity_days(std::time_t when);

// RFC 5280 and, for a certificate with EKU serverAuth (a TLS subscriber
// certificate, or a TLS CA), the Baseline Requirements in force at its
// notBefore. Works on a certificate under construction (unsigned), whose
// X509 may hold its public key as bytes only (prepare_certificate): then
// `subject_key` is that key decoded from exactly those bytes, which the
// caller holds already. Without it the linter takes the X509's own.
std::vector<Finding> lint_certificate(X509* certificate, EVP_PKEY* subject_key = nullptr);

// RFC 5280 §5 and, with `tls` (the CA issues TLS server certificates), BR
// 4.9.7's ten-day bound.
std::vector<Finding> lint_crl(X509_CRL* crl, bool tls);
// What lint_crl says of a CRL's entries' dates, for a CRL written entry by
// entry (crl.cpp): `latest_revocation` is the latest revocationDate among
// them, `this_update` the CRL's.
std::vector<Finding> lint_crl_revocation_dates(std::time_t latest_revocation, std::time_t this_update);

// What an OCSP response promises: its validity interval (RFC 6960 §4.2.2.1,
// and with `tls` BR 4.9.10's 8 hours to 10 days).
std::vector<Finding> lint_ocsp_validity(std::time_t this_update, std::time_t next_update, bool tls);

// The names and clauses of every rule, for `custos lint --rules`.
std::vector<std::pair<std::string, std::string>> lint_rules();

}  // namespace custos::x509
