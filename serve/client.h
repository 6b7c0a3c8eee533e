#pragma once
// Blocking clients for the server's endpoints over one connection each, with timeouts: the
// load generator and the tests use them. Each owns a private io_context, so any number can
// run on their own threads.
#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace cortex::serve {

struct HttpReply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = true;
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  // Sends one request on the kept-alive connection (reconnecting when the server closed it).
  // Throws cortex::Error on a network failure or timeout.
  HttpReply request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& content_type = "application/json");
  HttpReply get(const std::string& target) { return request("GET", target); }
  HttpReply post(const std::string& target, const std::string& body,
                 const std::string& content_type = "application/json") {
    return request("POST", target, body, content_type);
  }
  void disconnect();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class StreamClient {
 public:
  StreamClient(std::string host, uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~StreamClient();
  void send_text(const std::string& message);
  void send_binary(const std::string& message);
  // The next message; throws cortex::Error when the server closed the stream (close_code()
  // then tells why) or on a timeout.
  std::string receive();
  void close();
  bool is_open() const;
  int close_code() const;  // the server's close frame code, 0 if none came

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cortex::serve
