// The rules every certificate Custos signs must meet, checked on the
// finished TBSCertificate itself — after the profile, a policy module's
// verdict and an administrator's edits have all been applied — so that no
// path a value came in by can get round them:
//
//   check_certificate_rules(certificate, spec, issuer);  // throws custos::Error naming the broken rule
//
// prepare_certificate calls it on every certificate before its TBS exists;
// nothing else needs to.
#pragma once

#include "appliance/x509/certificate.h"

namespace custos::x509 {

// Throws custos::Error naming the first rule `certificate` breaks:
//  - an extension that appears twice, or that OpenSSL knows and that does
//    not decode as DER;
//  - basicConstraints missing, not critical, or with a CA flag or path
//    length other than the spec's;
//  - a subjectKeyIdentifier other than the subject key's, an
//    authorityKeyIdentifier other than the issuer's;
//  - a CA certificate without keyCertSign, a leaf with keyCertSign or
//    cRLSign, a keyUsage that is empty or not DER;
//  - an extendedKeyUsage that widens the spec's list (a profile's EKU is
//    the most a certificate may have), or names OCSPSigning or
//    anyExtendedKeyUsage when the spec does not;
//  - Application Policies (1.3.6.1.4.1.311.21.10), usages by another name;
//  - a certificate policy the spec (the profile) does not list, when it
//    lists any;
//  - a leaf with nameConstraints, policyConstraints or inhibitAnyPolicy;
//  - a certificate named as its issuer that is not self-signed;
//  - an empty subject without a subjectAltName; a name outside the
//    issuer's name constraints.
void check_certificate_rules(X509* certificate, const CertificateSpec& spec, const IssuerSpec& issuer);

}  // namespace custos::x509
