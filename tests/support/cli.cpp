#include "tests/support/cli.h"

#include <sstream>
#include <stdexcept>

#include "hsm/module.h"

namespace custos::testing {

CliFixture::CliFixture(const std::string& label) : label_(label) {
  TestToken& hsm = TestToken::instance();
  hsm.create_token(label, "1234");
  work_ = hsm.make_directory("work");
  pin_file_ = work_ / "pin";
  write_file(pin_file_, "1234\n", 0600);
}

CommandResult CliFixture::custos(const std::string& arguments, bool with_pin) const {
  std::string command = "cd " + quote(work_.string()) + " && " + quote(CUSTOS_CLI) + " " + arguments;
  if (with_pin) command += " --pin-file " + quote(pin_file_.string());
  return run_command(command);
}

std::size_t CliFixture::token_object_count() const {
  auto module = hsm::Module::load(TestToken::module_path());
  CK_FUNCTION_LIST* p11 = module->functions();
  hsm::TokenDescription token = module->find_token(label_);
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  if (p11->C_OpenSession(token.slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session) != CKR_OK) {
    throw std::runtime_error("C_OpenSession failed");
  }
  std::string pin = "1234";
  p11->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  p11->C_FindObjectsInit(session, nullptr, 0);
  CK_OBJECT_HANDLE objects[64];
  CK_ULONG count = 0;
  p11->C_FindObjects(session, objects, 64, &count);
  p11->C_FindObjectsFinal(session);
  p11->C_CloseSession(session);
  return count;
}

::testing::AssertionResult succeeded(const CommandResult& result) {
  if (result.status == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "exit " << result.status << "\nstdout: " << result.out
                                       << "\nstderr: " << result.err;
}

std::string quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::size_t line_count(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  return lines + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

std::string custos_lines(const std::string& err) {
  std::istringstream lines(err);
  std::string own;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("custos: ", 0) == 0) own += line + "\n";
  }
  return own;
}

}  // namespace custos::testing
