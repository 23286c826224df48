#include "appliance/http/routes.h"

namespace custos::server::routes {

// The REST API under /api/v1, and the one engine call every route makes.

void Routes::submit(const Request& request, Response& response) const {
  std::string type = media_type(request);
  std::vector<std::uint8_t> der;
  nlohmann::json attributes;
  if (type == "application/json") {
    allow_parameters(request, {});
    nlohmann::json body = json_body(request, {"csr", "profile", "attributes"});
    std::string csr = required_string(body, "csr");
    if (!trim(csr).starts_with("-----BEGIN ")) throw HttpError(400, "\"csr\" must be a PEM CERTIFICATE REQUEST");
    der = submitted_request(csr);
    attributes = checked_attributes(body);
    if (std::optional<std::string> profile = optional_string(body, "profile")) {
      if (attributes.contains("profile")) {
        throw HttpError(400, "give the profile once: as \"profile\" or in \"attributes\"");
      }
      attributes["profile"] = checked_profile(*profile);
    }
  } else if (type == "application/pkcs10") {
    allow_parameters(request, {"profile"});
    der = submitted_request(request.body);
    attributes = nlohmann::json::object();
    if (request.has_param("profile")) attributes["profile"] = checked_profile(request.get_param_value("profile"));
  } else {
    throw HttpError(415, "send the request as application/json, or as application/pkcs10 (PEM or DER)");
  }
  nlohmann::json args = {{"csr", to_base64(der)}, {"attributes", std::move(attributes)}};
  send_json(response, rest_disposition(ask(request, response, Op::kSubmit, std::move(args))));
}

void Routes::retrieve(const Request& request, Response& response) const {
  allow_parameters(request, {});
  send_json(response, rest_disposition(ask(request, response, Op::kRetrieve, {{"id", id_in_path(request)}})));
}

// A page at a time, newest first: ?limit= (at most custosd's page, 250)
// and ?after= (the last request_id of the page before).
void Routes::list(const Request& request, Response& response) const {
  allow_parameters(request, {"state", "limit", "after"});
  nlohmann::json args = nlohmann::json::object();
  if (request.has_param("state")) {
    static constexpr std::string_view kStates[] = {"pending", "issued", "denied", "revoked", "failed", "received"};
    std::string state = request.get_param_value("state");
    if (std::find(std::begin(kStates), std::end(kStates), state) == std::end(kStates)) {
      throw HttpError(400, "state is one of pending, issued, denied, revoked, failed, received");
    }
    args["state"] = state;
  }
  if (request.has_param("limit")) args["limit"] = positive_integer(request.get_param_value("limit"), "limit");
  if (request.has_param("after")) args["after"] = positive_integer(request.get_param_value("after"), "after");
  send_json(response, ask(request, response, Op::kList, std::move(args)));
}

void Routes::whoami(const Request& request, Response& response) const {
  allow_parameters(request, {});
  send_json(response, ask(request, response, Op::kWhoami));
}

void Routes::resubmit(const Request& request, Response& response) const {
  allow_parameters(request, {});
  std::int64_t id = id_in_path(request);
  json_body(request, {});
  send_json(response, rest_disposition(ask(request, response, Op::kResubmit, {{"id", id}})));
}

void Routes::deny(const Request& request, Response& response) const {
  allow_parameters(request, {});
  std::int64_t id = id_in_path(request);
  nlohmann::json body = json_body(request, {"message"});
  nlohmann::json args = {{"id", id}, {"message", optional_string(body, "message").value_or("")}};
  send_json(response, rest_disposition(ask(request, response, Op::kDeny, std::move(args))));
}

void Routes::revoke(const Request& request, Response& response) const {
  allow_parameters(request, {});
  std::string serial = serial_in_path(request);
  nlohmann::json body = json_body(request, {"reason", "at"});
  std::string reason = required_string(body, "reason");
  if (!x509::parse_revocation_reason(reason)) {
    throw HttpError(400, "\"reason\" is an RFC 5280 reason name, such as keyCompromise, superseded or certificateHold");
  }
  nlohmann::json args = {{"serial", serial}, {"reason", reason}};
  if (std::optional<std::string> at = optional_string(body, "at")) {
    try {
      args["at"] = parse_rfc3339(*at);
    } catch (const Error& error) {
      throw HttpError(400, std::string("\"at\": ") + error.what());
    }
  }
  send_json(response, ask(request, response, Op::kRevoke, std::move(args)));
}

void Routes::unrevoke(const Request& request, Response& response) const {
  allow_parameters(request, {});
  std::string serial = serial_in_path(request);
  json_body(request, {});
  send_json(response, ask(request, response, Op::kUnrevoke, {{"serial", serial}}));
}

void Routes::publish_crl(const Request& request, Response& response) const {
  allow_parameters(request, {});
  json_body(request, {});
  nlohmann::json published = ask(request, response, Op::kPublishCrl);
  send_json(response, {{"number", published.at("number")}});
}

nlohmann::json Routes::ask(const Request& request, const Response& response, Op op,
                   nlohmann::json args) const {
  const operations::Operation& row = operations::operation(op);
  operations::check_arguments(row, args);
  nlohmann::json call = {{"op", row.name}, {"caller", caller_of(request, response, tls_)}, {"args", std::move(args)}};
  nlohmann::json answer;
  try {
    answer = engine_->call(call);
  } catch (const Error& error) {
    spdlog::error("http {} {}: the engine did not answer: {}", request_id(response), row.name, one_line(error.what()));
    throw HttpError(503, "the CA engine is unavailable; try again later");
  }
  if (!answer.is_object() || !answer.contains("ok") || !answer.at("ok").is_boolean()) {
    throw Error("the engine's answer to " + std::string(row.name) + " has no \"ok\"");
  }
  if (answer.at("ok").get<bool>()) return answer.at("result");
  std::string message = answer.at("error").get<std::string>();
  operations::FailureKind kind = operations::parse_failure_kind(answer.at("kind").get<std::string>());
  auto role = answer.find("role");
  if (kind == operations::FailureKind::kForbidden && role != answer.end() && role->is_string()) {
    message += " (this needs the " + role->get<std::string>() + " role)";
  }
  throw HttpError(operations::http_status(kind), message);
}

}  // namespace custos::server::routes
