#include "fakes/nginx_process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace broker::testing {

NginxProcess::NginxProcess(const TempDir& dir, const std::string& http_body)
    : prefix_(dir.file("nginx")) {
  std::filesystem::create_directories(prefix_ + "/logs");
  std::string temp_paths;
  for (const char* kind : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    temp_paths += std::string("  ") + kind + "_temp_path " + prefix_ + "/" + kind + ";\n";
  }
  const std::string conf = std::string(geteuid() == 0 ? "user root;\n" : "") +
                           "daemon off;\nworker_processes 1;\npid " + prefix_ +
                           "/nginx.pid;\nerror_log " + prefix_ +
                           "/logs/error.log info;\nevents { worker_connections 256; }\nhttp {\n"
                           "  access_log " +
                           prefix_ + "/logs/access.log;\n" + temp_paths + http_body + "}\n";
  writeFile(prefix_ + "/nginx.conf", conf);
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"nginx", "-p", prefix_, "-e", prefix_ + "/logs/error.log", "-c",
                               prefix_ + "/nginx.conf"},
      dir.file("nginx.out"));
}

bool NginxProcess::waitFor(const std::string& ready_url) const {
  return process_->waitForHttp(ready_url);
}

std::string NginxProcess::log() const {
  std::string error_log;
  if (std::filesystem::exists(prefix_ + "/logs/error.log")) {
    error_log = readFile(prefix_ + "/logs/error.log");
  }
  return process_->log() + error_log;
}

std::pair<std::string, std::string> loopbackCertificate(const TempDir& dir,
                                                        const std::string& name) {
  const std::string cert = dir.file(name + "-cert.pem");
  const std::string key = dir.file(name + "-key.pem");
  auto made = runCommand({findProgram("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                          "-addext", "subjectAltName=IP:127.0.0.1"});
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return {cert, key};
}

}  // namespace broker::testing
