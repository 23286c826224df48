// The load generator for custosd: CLIENTS threads, each with its own
// HTTPS connection (a TLS client certificate), submitting one request after
// another to POST /api/v1/requests for SECONDS. Prints requests per second,
// latency percentiles and failures; with --acknowledged FILE, writes every
// disposition a client received, one JSON object a line, so a test can
// check each against the database. With --ocsp FILE instead of --csr, each
// client POSTs that DER OCSP request to /ocsp (signed afresh each time: a
// POST is not cached).
//
//   load_client --url 127.0.0.1:8443 --ca ca.pem --cert client.pem --key client.key
//               --csr request.pem --clients 64 --seconds 60
//   load_client --url 127.0.0.1:8443 --ca ca.pem --cert client.pem --key client.key
//               --ocsp request.der --clients 8 --seconds 10
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  CLI::App app{"load_client: submits requests to custosd's REST API from many clients at once"};
  std::string address;
  std::string ca;
  std::string certificate;
  std::string key;
  std::string csr_file;
  std::string ocsp_file;
  std::string acknowledged_file;
  int clients = 64;
  int seconds = 60;
  app.add_option("--url", address, "HOST:PORT of custosd's HTTPS")->required();
  app.add_option("--ca", ca, "the CA certificate (PEM) the server's chains to")->required();
  app.add_option("--cert", certificate, "the client certificate (PEM)")->required();
  app.add_option("--key", key, "its key (PEM)")->required();
  CLI::Option* csr_option = app.add_option("--csr", csr_file, "the PKCS#10 request to submit (PEM)");
  app.add_option("--ocsp", ocsp_file, "a DER OCSP request to POST to /ocsp instead")->excludes(csr_option);
  app.add_option("--clients", clients, "concurrent clients (64)");
  app.add_option("--seconds", seconds, "how long (60)");
  app.add_option("--acknowledged", acknowledged_file, "write every disposition received here");
  CLI11_PARSE(app, argc, argv);
  // A server that drops a connection is a failed request to count, not the
  // end of the load.
  std::signal(SIGPIPE, SIG_IGN);

  if (csr_file.empty() == ocsp_file.empty()) {
    std::cerr << "load_client: give --csr or --ocsp\n";
    return 2;
  }
  const bool ocsp = !ocsp_file.empty();
  std::ifstream input(ocsp ? ocsp_file : csr_file, std::ios::binary);
  std::stringstream contents;
  contents << input.rdbuf();
  const std::string path = ocsp ? "/ocsp" : "/api/v1/requests";
  const std::string content_type = ocsp ? "application/ocsp-request" : "application/json";
  const std::string body =
      ocsp ? contents.str() : nlohmann::json{{"csr", contents.str()}, {"profile", "server"}}.dump();
  std::string host = address.substr(0, address.rfind(':'));
  int port = std::stoi(address.substr(address.rfind(':') + 1));

  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::vector<std::string> acknowledged;
  std::atomic<long> failures{0};
  std::string first_failure;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int index = 0; index < clients; ++index) {
    threads.emplace_back([&] {
      httplib::SSLClient client(host, port, certificate, key);
      client.set_ca_cert_path(ca.c_str());
      client.enable_server_certificate_verification(true);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(120, 0);
      std::vector<double> mine;
      std::vector<std::string> answers;
      while (std::chrono::steady_clock::now() < end) {
        auto sent = std::chrono::steady_clock::now();
        httplib::Result result = client.Post(path, body, content_type);
        double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count();
        if (!result || result->status != 200) {
          ++failures;
          std::lock_guard lock(mutex);
          if (first_failure.empty()) {
            first_failure = result ? std::to_string(result->status) + " " + result->body : httplib::to_string(result.error());
          }
          continue;
        }
        mine.push_back(elapsed);
        if (!ocsp) answers.push_back(result->body);
      }
      std::lock_guard lock(mutex);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      acknowledged.insert(acknowledged.end(), answers.begin(), answers.end());
    });
  }
  for (std::thread& thread : threads) thread.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto percentile = [&](double p) {
    return latencies_ms.empty() ? 0.0 : latencies_ms[static_cast<std::size_t>(p * (latencies_ms.size() - 1))];
  };
  std::cout << "clients " << clients << ", " << elapsed << " s: " << latencies_ms.size() << " requests answered ("
            << latencies_ms.size() / elapsed << "/s), " << failures << " failed\n"
            << "latency ms: p50 " << percentile(0.5) << ", p99 " << percentile(0.99) << ", max " << percentile(1.0)
            << "\n";
  if (!first_failure.empty()) std::cout << "first failure: " << first_failure << "\n";
  if (!acknowledged_file.empty()) {
    std::ofstream out(acknowledged_file);
    for (const std::string& answer : acknowledged) out << nlohmann::json::parse(answer).dump() << "\n";
  }
  return failures == 0 ? 0 : 1;
}
