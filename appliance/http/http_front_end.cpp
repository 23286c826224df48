#include "appliance/http/http_front_end.h"

#include "appliance/http/routes.h"

namespace custos::server {
namespace {

using namespace routes;  // the helpers and the routes

bool expects_body(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" || method == "PRI";
}

struct Refusal {
  int status;
  std::string reason;
};

// What the request line and headers alone rule out: on the plain server
// anything but /crl and /ocsp, and the bodies httplib 0.11 would read
// without bound (chunked, or without a length until the peer closes) or
// inflate (gzip, brotli).
std::optional<Refusal> refusal(const Request& request, bool tls) {
  if (!tls && request.path != "/crl" && request.path != "/ocsp" && !request.path.starts_with("/ocsp/")) {
    return Refusal{403, "plain HTTP serves only /crl and /ocsp; use HTTPS"};
  }
  if (request.has_header("Transfer-Encoding")) {
    return Refusal{411, "send the body with a Content-Length; Transfer-Encoding is not accepted"};
  }
  if (expects_body(request.method) && !request.has_header("Content-Length")) {
    return Refusal{411, "a " + request.method + " request needs a Content-Length"};
  }
  std::string length = request.get_header_value("Content-Length");
  if (request.get_header_value_count("Content-Length") > 1 || length.size() > 20 ||
      !std::all_of(length.begin(), length.end(), is_digit)) {
    return Refusal{400, "the Content-Length is not one decimal number"};
  }
  std::string encoding = lower(trim(request.get_header_value("Content-Encoding")));
  if (!encoding.empty() && encoding != "identity") return Refusal{415, "compressed request bodies are not accepted"};
  return std::nullopt;
}

// Runs before httplib reads a body: gives the request its id and answers
// what refusal() rules out.
HandlerResponse screen(const Request& request, Response& response, bool tls) {
  response.set_header(kRequestIdHeader, next_request_id());
  std::optional<Refusal> refused = refusal(request, tls);
  if (!refused) return HandlerResponse::Unhandled;
  // The body, if any, stays unread: the connection cannot carry another request.
  response.set_header("Connection", "close");
  send_error(request, response, refused->status, refused->reason);
  return HandlerResponse::Handled;
}

std::string bare_error_message(int status) {
  switch (status) {
    case 400: return "malformed HTTP request";
    case 404: return "no such resource";
    case 413: return "the request body is larger than " + std::to_string(kMaxBodyBytes) + " bytes";
    case 414: return "the request line is too long";
    case 416: return "the requested range cannot be served";
    default: return "HTTP error " + std::to_string(status);
  }
}

// httplib's own refusals (no route, a body too large, a malformed request
// line) come with an empty body: give them the one line the others have.
HandlerResponse describe_bare_error(const Request& request, Response& response) {
  if (response.body.empty()) send_error(request, response, response.status, bare_error_message(response.status));
  // The body is in place either way; Handled would only make httplib apply
  // a Range header to it.
  return HandlerResponse::Unhandled;
}

void answer_exception(const Request& request, Response& response, std::exception_ptr exception) {
  std::string what = "an exception of unknown type";
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& error) {
    what = error.what();
  } catch (...) {
  }
  std::string id = request_id(response);
  spdlog::error("http {} {} {}: {}", id, request.method, printable(request.path), one_line(what));
  // Start the answer afresh: the route may have set headers for a success.
  response.headers.clear();
  response.set_header(kRequestIdHeader, id);
  send_error(request, response, 500, "internal error; the server log has the details under request " + id);
}

void log_exchange(const Request& request, const Response& response) {
  spdlog::info("http {} {} {} {} {}", request_id(response), request.remote_addr, request.method,
               printable(request.path), response.status);
}

}  // namespace

void HttpFrontEnd::serve_on(httplib::Server& server, bool tls, std::size_t max_connections) const {
  apply_limits(server, max_connections);
  server.set_pre_routing_handler([tls](const Request& request, Response& response) {
    return screen(request, response, tls);
  });
  server.set_error_handler(httplib::Server::HandlerWithResponse(describe_bare_error));
  server.set_exception_handler(answer_exception);
  server.set_logger(log_exchange);
  // RFC 9110 §6.6.1: an origin server with a clock sends Date on every answer.
  server.set_post_routing_handler([](const Request&, Response& response) {
    if (!response.has_header("Date")) response.set_header("Date", http_date(std::time(nullptr)));
  });

  Routes routes(engine_, tls, kept_);
  auto route = [routes](void (Routes::*handler)(const Request&, Response&) const) -> httplib::Server::Handler {
    return [routes, handler](const Request& request, Response& response) {
      try {
        (routes.*handler)(request, response);
      } catch (const HttpError& error) {
        send_error(request, response, error.status(), error.what());
      }
    };
  };
  // Every pattern bounds its repetitions: libstdc++'s std::regex recurses
  // once per character matched, and a long enough path overflows the stack.
  server.Get("/crl", route(&Routes::crl));
  server.Post("/ocsp", route(&Routes::ocsp_post));
  server.Get("/ocsp/(.{1,1024})", route(&Routes::ocsp_get));
  if (!tls) return;

  const std::string est = R"(/\.well-known/est(?:/([^/]{1,64}))?)";
  server.Get(est + "/cacerts", route(&Routes::est_cacerts));
  server.Get(est + "/csrattrs", route(&Routes::est_csrattrs));
  server.Post(est + "/simpleenroll", route(&Routes::est_simpleenroll));
  server.Post(est + "/simplereenroll", route(&Routes::est_simplereenroll));

  server.Post("/api/v1/requests", route(&Routes::submit));
  server.Get("/api/v1/requests", route(&Routes::list));
  server.Get("/api/v1/whoami", route(&Routes::whoami));
  server.Get("/api/v1/requests/([^/]{1,32})", route(&Routes::retrieve));
  server.Post("/api/v1/requests/([^/]{1,32})/resubmit", route(&Routes::resubmit));
  server.Post("/api/v1/requests/([^/]{1,32})/deny", route(&Routes::deny));
  server.Post("/api/v1/certificates/([^/]{1,128})/revoke", route(&Routes::revoke));
  server.Post("/api/v1/certificates/([^/]{1,128})/unrevoke", route(&Routes::unrevoke));
  server.Post("/api/v1/crl", route(&Routes::publish_crl));
}

}  // namespace custos::server
