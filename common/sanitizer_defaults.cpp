// Linked into every executable of a sanitizer build (CUSTOS_SANITIZE), so
// the options hold however the binary is started: by ctest, by a test that
// runs the CLI, or by hand.
extern "C" {

// Exact (not frame-pointer) unwinding on allocation: PKCS#11 modules and
// libcrypto are built without frame pointers, and a leak must be traced to
// the library that made it. Ten frames reach from malloc through libcrypto
// into the calling library and cost half of the default thirty.
#ifdef CUSTOS_SANITIZER_NO_LEAK_CHECK
const char* __asan_default_options() { return "detect_leaks=0:fast_unwind_on_malloc=0:malloc_context_size=10"; }
#else
const char* __asan_default_options() { return "detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=10"; }
#endif

// The test tokens' own leaks, not ours to fix: SoftHSMv2 leaks a few bytes
// of ASN.1 per EdDSA C_SignInit and keeps process-lifetime state past
// C_Finalize; tpm2-pkcs11 1.9 leaks the ECDSA signature parameters of each
// C_SignInit. Every other leak still fails the test.
const char* __lsan_default_suppressions() { return "leak:libsofthsm2.so\nleak:libtpm2_pkcs11.so\n"; }
// A suppressed leak is no news: stderr stays the command's own.
const char* __lsan_default_options() { return "print_suppressions=0"; }
}
