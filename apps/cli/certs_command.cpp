// `pyactor certs DIR NAME...`: a test CA and a certificate per name, made by
// the openssl command line tool, for mutual TLS in a minute.
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.hpp"

extern char** environ;

namespace pyactor::cli {

namespace {

const char* certs_help =
  "usage: pyactor certs DIR NAME...\n"
  "  Creates a test CA (DIR/ca.pem, DIR/ca.key; reused when present) and, for each\n"
  "  NAME, DIR/NAME.pem and DIR/NAME.key signed by it (RSA 2048, openssl CLI).\n"
  "  e.g. pyactor certs certs head node1 node2 client\n"
  "       pyactor head --listen 10.0.0.1:7400 --ca certs/ca.pem --cert certs/head.pem \\\n"
  "                    --key certs/head.key\n";

/// Runs `openssl ARGS...` quietly; returns what went wrong, or "".
std::string openssl(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string prog = "openssl";
  argv.push_back(prog.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0); // progress dots
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return std::string{"cannot run openssl: "} + std::strerror(rc)
           + " (install the openssl package)";
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd = "openssl";
    for (auto& a : args)
      cmd += " " + a;
    return "'" + cmd + "' failed";
  }
  return {};
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "ca")
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return false;
  return name.front() != '.' && name.front() != '-';
}

} // namespace

int run_certs(const invocation& inv) {
  if (wants_help(inv, certs_help))
    return ok;
  if (inv.args.size() < 2)
    return usage_error("certs expects a directory and at least one name", certs_help);
  const auto& dir = inv.args.front();
  for (size_t i = 1; i < inv.args.size(); ++i)
    if (!valid_name(inv.args[i]))
      return usage_error("certs: '" + inv.args[i]
                           + "' is not a usable name (letters, digits, '-', '_', '.'; not 'ca')",
                         certs_help);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::cerr << "pyactor: certs: cannot create directory '" << dir << "': " << std::strerror(errno)
              << "\n";
    return usage;
  }
  ::umask(077); // keys readable by their owner only
  auto ca_pem = dir + "/ca.pem", ca_key = dir + "/ca.key";
  if (!exists(ca_pem) || !exists(ca_key)) {
    if (auto e = openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                          "-out", ca_pem, "-days", "3650", "-subj", "/CN=pyactor test CA"});
        !e.empty()) {
      std::cerr << "pyactor: certs: " << e << "\n";
      return call_failed;
    }
    std::cout << "created " << ca_pem << " (keep " << ca_key << " private)\n";
  } else {
    std::cout << "using the CA in " << ca_pem << "\n";
  }
  for (size_t i = 1; i < inv.args.size(); ++i) {
    auto& name = inv.args[i];
    auto key = dir + "/" + name + ".key", csr = dir + "/" + name + ".csr",
         pem = dir + "/" + name + ".pem";
    auto e = openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", "/CN=" + name});
    if (e.empty())
      e = openssl({"x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
                   "-CAcreateserial", "-out", pem, "-days", "825"});
    ::unlink(csr.c_str());
    if (!e.empty()) {
      std::cerr << "pyactor: certs: " << e << "\n";
      return call_failed;
    }
    std::cout << "created " << pem << " and " << key << "\n";
  }
  return ok;
}

} // namespace pyactor::cli
