// WebDriver: a real headless Chromium driven over the W3C WebDriver protocol
// (chromedriver from Debian's chromium-driver package), for the web pages'
// tests. Talks JSON over HTTP to a chromedriver child it starts on a free
// loopback port; one browser session per object, closed (and chromedriver
// killed) when it is destroyed.
//
// Every call returns what the browser answered; a WebDriver error becomes a
// gtest failure naming the call, and an empty/zero result. Not thread-safe.
#ifndef AISCORE_TESTS_COLLECTOR_WEB_WEB_DRIVER_H_
#define AISCORE_TESTS_COLLECTOR_WEB_WEB_DRIVER_H_

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace aiscore {

// The W3C element reference key.
inline constexpr char kWebElementKey[] = "element-6066-11e4-a52e-4f735466cecf";

class WebDriver {
 public:
  // The chromedriver binary, or "" when it is not installed.
  static std::string FindChromedriver() {
    for (const char* path : {"/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"}) {
      if (std::filesystem::exists(path)) return path;
    }
    return "";
  }

  // Starts chromedriver and a headless Chromium session (window
  // `width` x `height`, the browser's console log kept).
  explicit WebDriver(int width = 1280, int height = 1800) {
    const std::string binary = FindChromedriver();
    if (binary.empty()) return;
    port_ = FreePort();
    std::string port_flag = "--port=" + std::to_string(port_);
    std::string silent = "--silent";
    std::string path = binary;
    char* argv[] = {path.data(), port_flag.data(), silent.data(), nullptr};
    if (posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv, environ) != 0) {
      pid_ = -1;
      return;
    }
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(120, 0);
    for (int i = 0; i < 200; ++i) {  // up to 20 s for chromedriver to listen
      if (auto r = client_->Get("/status"); r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    nlohmann::json caps = {
        {"capabilities",
         {{"alwaysMatch",
           {{"browserName", "chrome"},
            {"goog:chromeOptions",
             {{"args",
               {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions",
                "--window-size=" + std::to_string(width) + "," + std::to_string(height)}}}},
            {"goog:loggingPrefs", {{"browser", "ALL"}}}}}}}};
    nlohmann::json answer = Call("POST", "/session", caps);
    if (answer.contains("sessionId")) session_ = answer["sessionId"].get<std::string>();
  }

  ~WebDriver() {
    if (!session_.empty()) Call("DELETE", Session(""), nullptr);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool ready() const { return !session_.empty(); }

  void Navigate(const std::string& url) { Call("POST", Session("/url"), {{"url", url}}); }
  std::string CurrentUrl() { return String(Call("GET", Session("/url"), nullptr)); }
  std::string Title() { return String(Call("GET", Session("/title"), nullptr)); }

  // The ids of the elements matching a CSS selector, in document order.
  std::vector<std::string> FindAll(const std::string& css) {
    std::vector<std::string> ids;
    nlohmann::json found =
        Call("POST", Session("/elements"), {{"using", "css selector"}, {"value", css}});
    if (!found.is_array()) return ids;
    for (const nlohmann::json& e : found)
      ids.push_back(String(e.value(kWebElementKey, nlohmann::json())));
    return ids;
  }
  // The first match's id; a test failure when there is none.
  std::string Find(const std::string& css) {
    std::vector<std::string> ids = FindAll(css);
    EXPECT_FALSE(ids.empty()) << "no element matches " << css << " on " << CurrentUrl();
    return ids.empty() ? "" : ids[0];
  }
  // The rendered text of an element (what a person reads).
  std::string Text(const std::string& element) {
    return String(Call("GET", Session("/element/" + element + "/text"), nullptr));
  }
  std::string Attribute(const std::string& element, const std::string& name) {
    return String(Call("GET", Session("/element/" + element + "/attribute/" + name), nullptr));
  }
  void Clear(const std::string& element) {
    Call("POST", Session("/element/" + element + "/clear"), nlohmann::json::object());
  }
  void Type(const std::string& element, const std::string& text) {
    Call("POST", Session("/element/" + element + "/value"), {{"text", text}});
  }
  void Click(const std::string& element) {
    Call("POST", Session("/element/" + element + "/click"), nlohmann::json::object());
  }

  // The browser console's messages since the last call, as "LEVEL message".
  std::vector<std::string> ConsoleLog() {
    std::vector<std::string> lines;
    nlohmann::json log = Call("POST", Session("/se/log"), {{"type", "browser"}});
    if (!log.is_array()) return lines;
    for (const nlohmann::json& e : log) {
      lines.push_back(String(e.value("level", nlohmann::json())) + " " +
                      String(e.value("message", nlohmann::json())));
    }
    return lines;
  }

  // A PNG of the viewport.
  std::string Screenshot() {
    nlohmann::json b64 = Call("GET", Session("/screenshot"), nullptr);
    std::string png;
    if (b64.is_string()) absl::Base64Unescape(b64.get<std::string>(), &png);
    return png;
  }

 private:
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  // A JSON string's value; a test failure for anything else.
  static std::string String(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    ADD_FAILURE() << "WebDriver answered " << value.dump() << " where a string was expected";
    return "";
  }

  std::string Session(const std::string& rest) const { return "/session/" + session_ + rest; }

  // One WebDriver command: its "value", or null after a test failure.
  nlohmann::json Call(const std::string& method, const std::string& path,
                      const nlohmann::json& body) {
    if (client_ == nullptr) return nullptr;
    httplib::Result r = method == "GET"      ? client_->Get(path)
                        : method == "DELETE" ? client_->Delete(path)
                                             : client_->Post(path, body.dump(), "application/json");
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": no answer from chromedriver";
      return nullptr;
    }
    nlohmann::json answer = nlohmann::json::parse(r->body, nullptr, false);
    if (r->status != 200 || answer.is_discarded()) {
      ADD_FAILURE() << method << " " << path << ": " << r->status << " " << r->body.substr(0, 500);
      return nullptr;
    }
    return answer["value"];
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
  std::string session_;
};

}  // namespace aiscore

#endif  // AISCORE_TESTS_COLLECTOR_WEB_WEB_DRIVER_H_
