/* The C ABI of Custos shared-object modules, version 1.
 *
 * A module built as a shared object (`module = "exec:/opt/site/mine.so"`:
 * a path ending in .so) is loaded into custos-module-host with dlopen,
 * inside the same sandbox as any module, before the seccomp filter is
 * installed. It exports one symbol, custos_module_v1_entry, returning its
 * table. The host keeps the frames; the module sees each engine message as
 * JSON text and writes its answer as JSON text — the same messages as
 * PROTOCOL.md, which the host checks as strictly as the engine would.
 *
 *   static int hello(const char* role, const char* config, char* answer, size_t size) { … }
 *   static int handle(const char* message, char* answer, size_t size) { … }
 *   static const custos_module_v1 kModule = {CUSTOS_MODULE_ABI_VERSION, "mine", hello, handle};
 *   extern "C" CUSTOS_MODULE_EXPORT const custos_module_v1* custos_module_v1_entry(void) { return &kModule; }
 */
#ifndef CUSTOS_MODULE_V1_H
#define CUSTOS_MODULE_V1_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUSTOS_MODULE_ABI_VERSION 1u

typedef struct custos_module_v1 {
  /* CUSTOS_MODULE_ABI_VERSION; a host refuses any other. */
  uint32_t abi_version;
  /* For the log. */
  const char* name;
  /* Called once, with the hello's role ("policy" or "exit") and config (a
   * JSON object). Writes the hello answer, a NUL-terminated JSON object,
   * into `answer` (at most `answer_size` bytes) and returns 0; or returns
   * non-zero, with a one-line reason in `answer`, to refuse the
   * configuration. */
  int (*hello)(const char* role, const char* config_json, char* answer, size_t answer_size);
  /* Called for each verify_request (a policy module) or notify (an exit
   * module), with the whole message as JSON. Writes the verdict or ack into
   * `answer` and returns 0; non-zero (a reason in `answer`) ends the module
   * — an exit event it could not publish is delivered again later. */
  int (*handle)(const char* message_json, char* answer, size_t answer_size);
} custos_module_v1;

/* Exports the entry point even when a module hides its other symbols
 * (-fvisibility=hidden), as a shared-object module should. */
#define CUSTOS_MODULE_EXPORT __attribute__((visibility("default")))

/* The one symbol a module exports. */
typedef const custos_module_v1* (*custos_module_v1_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* CUSTOS_MODULE_V1_H */
