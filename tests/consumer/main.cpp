// Starts a pool from an installed pyactor, makes real calls and checks them.
// Prints "consumer ok" and exits 0 only if every answer is right.
#include <iostream>

#include <pyactor/cluster.hpp>
#include <pyactor/cluster_config.hpp>
#include <pyactor/limits.hpp>
#include <pyactor/pyactor.hpp>

int main() {
  pyactor::runtime_options options;
  options.workers = 1;
  auto rt = pyactor::runtime::start(options);
  if (!rt) {
    std::cerr << "consumer: cannot start: " << rt.error().to_string() << "\n";
    return 1;
  }
  auto& py = *rt.value();
  auto sum = py.call("operator", "add", {2, 40});
  if (!sum || !(sum.value() == pyactor::value{42})) {
    std::cerr << "consumer: operator.add(2, 40) gave "
              << (sum ? sum.value().to_string() : sum.error().to_string()) << "\n";
    return 1;
  }
  // The package the workers load must be the installed one.
  auto where = py.eval("__import__('pyactor').__file__");
  if (!where) {
    std::cerr << "consumer: eval failed: " << where.error().to_string() << "\n";
    return 1;
  }
  // The cluster API links from the installed library too: nothing listens on
  // loopback port 1 (tcpmux, unused here), so connect fails with an error.
  pyactor::cluster::connect_options copts;
  copts.connect_timeout = std::chrono::milliseconds(500);
  auto remote = pyactor::runtime::connect("127.0.0.1:1", copts);
  if (remote) {
    std::cerr << "consumer: connect to 127.0.0.1:1 unexpectedly succeeded\n";
    return 1;
  }
  std::cout << "pyactor package " << where.value().to_string() << "\nconsumer ok\n";
  return 0;
}
