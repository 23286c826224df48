// Module protocol v1: frames over a real socketpair, the size cap enforced
// before a body is read, deadlines, and strict decoding of every message.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "modules/protocol/frame.h"
#include "modules/protocol/messages.h"

namespace custos::protocol {
namespace {

class SocketPair : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  void write_raw(const std::string& bytes) {
    ASSERT_EQ(::write(fds_[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  FrameError::Kind read_error_kind(std::chrono::milliseconds wait = std::chrono::milliseconds(200)) {
    try {
      read_frame(fds_[0], Clock::now() + wait);
    } catch (const FrameError& error) {
      return error.kind();
    }
    ADD_FAILURE() << "the frame was accepted";
    return FrameError::Kind::kIo;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(SocketPair, FrameRoundTrips) {
  nlohmann::json message = {{"type", "shutdown"}};
  write_frame(fds_[1], message, Clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(read_frame(fds_[0], Clock::now() + std::chrono::seconds(1)), message);
}

TEST_F(SocketPair, DeclaredLengthOverTheCapIsRefusedBeforeTheBody) {
  write_raw(std::string("\x80\x00\x00\x00", 4));  // 2 GiB declared, nothing sent
  EXPECT_EQ(read_error_kind(), FrameError::Kind::kMalformed);
}

TEST_F(SocketPair, ZeroLengthIsRefused) {
  write_raw(std::string("\x00\x00\x00\x00", 4));
  EXPECT_EQ(read_error_kind(), FrameError::Kind::kMalformed);
}

TEST_F(SocketPair, StreamClosedMidFrameIsMalformedAndBetweenFramesIsClosed) {
  write_raw(std::string("\x00\x00\x00\x10{\"type\"", 11));
  ::close(fds_[1]);
  fds_[1] = -1;
  EXPECT_EQ(read_error_kind(), FrameError::Kind::kMalformed);

  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ::close(pair[1]);
  try {
    read_frame(pair[0], Clock::now() + std::chrono::milliseconds(200));
    ADD_FAILURE() << "read a frame from a closed stream";
  } catch (const FrameError& error) {
    EXPECT_EQ(error.kind(), FrameError::Kind::kClosed);
  }
  ::close(pair[0]);
}

TEST_F(SocketPair, SilentPeerTimesOut) {
  auto started = Clock::now();
  EXPECT_EQ(read_error_kind(std::chrono::milliseconds(100)), FrameError::Kind::kTimeout);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(2));
}

TEST_F(SocketPair, GarbageAndNonObjectsAreRefused) {
  write_raw(std::string("\x00\x00\x00\x03xyz", 7));
  EXPECT_EQ(read_error_kind(), FrameError::Kind::kMalformed);
  write_raw(std::string("\x00\x00\x00\x02[]", 6));
  EXPECT_EQ(read_error_kind(), FrameError::Kind::kMalformed);
}

TEST_F(SocketPair, OversizedMessageIsNotSent) {
  nlohmann::json huge = {{"type", "verdict"}, {"message", std::string(kMaxFrameBytes, 'x')}};
  EXPECT_THROW(write_frame(fds_[1], huge, Clock::now() + std::chrono::seconds(1)), FrameError);
}

std::string decode_error(auto&& decode) {
  try {
    decode();
  } catch (const ProtocolError& error) {
    return error.what();
  }
  return "";
}

// A CRL larger than a frame goes in parts that each fit one, and an exit
// module's side joins them into the event it would have had whole.
TEST(Messages, ACrlOverAFrameGoesInPartsThatJoinIntoTheWholeEvent) {
  Notify event{41, "crl_issued", std::nullopt, std::nullopt, Notify::Crl{}};
  event.crl->number = 9;
  for (std::size_t i = 0; i < 2 * kCrlPartBytes + 1000; ++i) event.crl->der.push_back(static_cast<std::uint8_t>(i * 7));

  std::vector<Notify> parts = notify_parts(event);
  ASSERT_EQ(parts.size(), 3u);
  CrlParts joined;
  std::optional<Notify> whole;
  for (const Notify& part : parts) {
    std::string frame = encode(part).dump();
    EXPECT_LE(frame.size(), kMaxFrameBytes);
    ASSERT_FALSE(whole) << "the event came whole before its last part";
    whole = joined.add(decode_notify(nlohmann::json::parse(frame)));
  }
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->id, 41);
  EXPECT_EQ(whole->crl->number, 9);
  EXPECT_EQ(whole->crl->der, event.crl->der);
  EXPECT_FALSE(whole->crl->size);

  // A CRL that fits goes whole, without offset or size, as before.
  Notify small = event;
  small.crl->der.resize(1000);
  ASSERT_EQ(notify_parts(small).size(), 1u);
  EXPECT_FALSE(encode(small).at("crl").contains("size"));
  EXPECT_EQ(joined.add(small)->crl->der, small.crl->der);

  // After a failure the engine starts again from the first part; a part
  // that does not follow the one before is a protocol error.
  EXPECT_FALSE(joined.add(parts[0]));
  EXPECT_FALSE(joined.add(parts[0]));
  EXPECT_THROW(joined.add(parts[2]), ProtocolError);
  nlohmann::json overrun = encode(parts[2]);
  overrun["crl"]["size"] = 10;
  EXPECT_THROW(decode_notify(overrun), ProtocolError);
  nlohmann::json half = encode(parts[1]);
  half["crl"].erase("size");
  EXPECT_THROW(decode_notify(half), ProtocolError);
}

TEST(Messages, VerifyRequestRoundTrips) {
  VerifyRequest request;
  request.resubmission = true;
  request.request.id = 7;
  request.request.csr = {1, 2, 3};
  request.request.subject = "CN=x";
  request.request.san = {{"dns", "x.example"}, {"ip", "192.0.2.1"}};
  request.request.key = {"ec", "P-256", 0};
  request.request.attributes = {{"profile", "server"}};
  request.request.requested_extensions = {{"2.5.29.17", false, {0x30, 0x00}}};
  VerifyRequest decoded = decode_verify_request(encode(request));
  EXPECT_TRUE(decoded.resubmission);
  EXPECT_EQ(decoded.request.id, 7);
  EXPECT_EQ(decoded.request.csr, request.request.csr);
  EXPECT_EQ(decoded.request.san, request.request.san);
  EXPECT_EQ(decoded.request.key.curve, "P-256");
  EXPECT_EQ(decoded.request.requested_extensions, request.request.requested_extensions);
  EXPECT_FALSE(decoded.request.profile);
}

// The profile travels typed, as the engine parsed it, and is checked like
// every other field.
TEST(Messages, TheRequestsProfileTravelsTypedAndIsChecked) {
  VerifyRequest request;
  request.request.id = 1;
  request.request.key = {"ed25519", "", 0};
  request.request.profile =
      ProfileSnapshot{"subca", "pend", 1825, {"ec-p384"}, false, {"keyCertSign", "cRLSign"}, {}, true, 0};
  nlohmann::json wire = encode(request);
  EXPECT_EQ(decode_verify_request(wire).request.profile, request.request.profile);
  nlohmann::json bad = wire;
  bad["request"]["profile"]["decision"] = "maybe";
  EXPECT_THROW(decode_verify_request(bad), ProtocolError);
  bad = wire;
  bad["request"]["profile"]["colour"] = "blue";
  EXPECT_THROW(decode_verify_request(bad), ProtocolError);
  bad = wire;
  bad["request"]["profile"].erase("key_types");
  EXPECT_THROW(decode_verify_request(bad), ProtocolError);
}

TEST(Messages, VerdictDecodesWithItsCertificateProperties) {
  nlohmann::json message = {{"type", "verdict"},
                            {"decision", "issue"},
                            {"message", "ok"},
                            {"certificate",
                             {{"validity_days", 30},
                              {"san", {{{"type", "dns"}, {"value", "a.example"}}}},
                              {"extensions_remove", {"2.5.29.37"}}}}};
  Verdict verdict = decode_verdict(message);
  EXPECT_EQ(verdict.decision, Decision::kIssue);
  ASSERT_TRUE(verdict.certificate);
  EXPECT_EQ(verdict.certificate->validity_days, 30);
  EXPECT_EQ(verdict.certificate->san->at(0).value, "a.example");
  EXPECT_EQ(verdict.certificate->extensions_remove, std::vector<std::string>{"2.5.29.37"});
  EXPECT_EQ(decode_verdict(encode(verdict)).certificate->validity_days, 30);
}

TEST(Messages, UnknownFieldsTypesAndValuesAreRefusedByName) {
  EXPECT_EQ(decode_error([] { decode_verdict({{"type", "verdict"}, {"decision", "issue"}, {"message", ""}, {"x", 1}}); }),
            "verdict has an unknown field 'x'");
  EXPECT_EQ(decode_error([] { decode_verdict({{"type", "verdict"}, {"decision", "maybe"}, {"message", ""}}); }),
            "verdict.decision must be issue, deny or pend, not 'maybe'");
  EXPECT_EQ(decode_error([] { decode_verdict({{"type", "verdict"}, {"decision", "deny"}}); }),
            "verdict lacks the field 'message'");
  EXPECT_EQ(decode_error([] { decode_verdict({{"type", "ack"}}); }), "expected a 'verdict' message, got 'ack'");
  EXPECT_EQ(decode_error([] {
              decode_verdict({{"type", "verdict"},
                              {"decision", "issue"},
                              {"message", ""},
                              {"certificate", {{"validity_days", "long"}}}});
            }),
            "verdict.certificate.validity_days must be an integer");
  EXPECT_EQ(decode_error([] {
              decode_verdict({{"type", "verdict"},
                              {"decision", "issue"},
                              {"message", ""},
                              {"certificate", {{"san", {{{"type", "x400"}, {"value", "v"}}}}}}});
            }),
            "verdict.certificate.san[].type must be dns, ip, email or uri, not 'x400'");
  EXPECT_EQ(decode_error([] { decode_hello_answer({{"type", "hello"}, {"protocol", 2}, {"name", "m"}}, Role::kPolicy); }),
            "the module speaks protocol 2, not 1");
  EXPECT_EQ(decode_error([] {
              decode_hello_answer({{"type", "hello"}, {"protocol", 1}, {"name", "m"}, {"events", {"x"}}}, Role::kPolicy);
            }),
            "hello has an unknown field 'events'");
  EXPECT_EQ(decode_error([] { message_type(nlohmann::json::array()); }),
            "a message must be an object with a string 'type'");
}

}  // namespace
}  // namespace custos::protocol
