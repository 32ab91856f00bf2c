// `pyactor run`: start the embedded default and show what pyactor does.
#include <iostream>
#include <chrono>

#include "cli.hpp"

namespace pyactor::cli {

namespace {

/// Prints one step of the tour: what was called and what came back.
void show(const std::string& what, const result<value>& r) {
  std::cout << "  " << what << "\n    -> ";
  if (r)
    std::cout << r.value().to_string() << "\n";
  else
    std::cout << "error " << r.error().to_string() << "\n";
}

} // namespace

int run_tour(const invocation& inv) {
  const char* help = "usage: pyactor run [--workers N] [--config FILE]\n"
                     "Starts the pool (one worker per core by default) and runs a short tour.\n";
  for (auto& a : inv.args)
    if (a == "--help") {
      std::cout << help;
      return ok;
    }
  if (!inv.args.empty()) {
    std::cerr << "pyactor: run takes no arguments\n" << help;
    return usage;
  }
  auto rt = start_runtime(inv.options);
  if (!rt)
    return usage;
  auto& py = *rt;
  std::cout << "pyactor: " << py.size() << " Python workers on this node (no network port)\n";
  auto v = py.versions();
  if (v)
    std::cout << "versions: " << v.value().to_string() << "\n";

  std::cout << "\nModule functions, constants and builtins:\n";
  show("math.pow(2, 16)", py.call("math", "pow", {2, 16}));
  show("os.path.isdir(b\"/tmp\")", py.call("os", "path.isdir", {make_bytes("/tmp")}));
  show("int(\"101010\", base=2)", py.builtin("int", {"101010"}, dict{{{"base", 2}}}));
  show("math.pi as float / int / str", py.constant("math", "pi"));
  show("  cast to int", py.constant("math", "pi", "int"));
  show("  cast to str", py.constant("math", "pi", "str"));
  show("pow(6, 42), past 64 bits", py.builtin("pow", {6, 42}));
  show("operator.truediv(462, 11)", py.op("truediv", {462, 11}));

  std::cout << "\nValues that are not JSON travel by value and come back as themselves:\n";
  auto date = py.create("datetime", "date", {1923, 4, 2});
  show("datetime.date(1923, 4, 2)", date);
  if (date)
    show("  .strftime(\"%Y.%m.%d\") on it", py.method(date.value(), "strftime", {"%Y.%m.%d"}));
  show("{1, 2, 3} (a set)", py.eval("{1, 2, 3}"));

  std::cout << "\nObjects without a by-value form stay in their worker as references:\n";
  call_options by_ref;
  by_ref.by_ref = true;
  auto items = py.create("builtins", "list", {}, {}, by_ref);
  show("builtins.list() by reference", items);
  if (items) {
    show("  .append(42) in its worker", py.method(items.value(), "append", {42}));
    show("  .append(7)", py.method(items.value(), "append", {7}));
    show("  len() of it", py.builtin("len", {items.value()}));
    show("  release it", py.release(items.value()));
  }

  std::cout << "\nErrors come back as data, and the worker keeps serving:\n";
  show("math.sqrt(-1)", py.call("math", "sqrt", {-1}));
  show("nosuchmodule.f()", py.call("nosuchmodule", "f"));

  std::cout << "\nThe same call on every worker (broadcast of os.getpid):\n";
  for (auto& reply : py.broadcast("os", "getpid"))
    show("worker " + std::to_string(reply.worker), reply.outcome);

  std::cout << "\nScatter/gather (math.pow over 5 argument lists, in input order):\n";
  std::vector<list> powers;
  for (int i = 0; i < 5; ++i)
    powers.push_back(list{value{2}, value{i}});
  list gathered;
  for (auto& r : py.starmap("math", "pow", powers))
    gathered.push_back(r ? r.value() : value{r.error().to_string()});
  show("starmap(math.pow, [(2, 0) ... (2, 4)])", value{gathered});

  std::cout << "\nAsynchronous calls run in parallel (time.sleep(0.2) on each worker at once):\n";
  auto started = std::chrono::steady_clock::now();
  std::vector<call_handle> sleeps;
  for (auto& w : py.status()) {
    call_options on;
    on.worker = w.id;
    sleeps.push_back(py.call_async("time", "sleep", {0.2}, {}, on));
  }
  for (auto& h : sleeps)
    h.get();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now()
                                                                  - started);
  std::cout << "  all done after " << ms.count() << " ms\n";

  std::cout << "\nThe pool:\n";
  for (auto& w : py.status())
    std::cout << "  worker " << w.id << ": pid " << w.pid << ", " << w.state << ", "
              << w.served << " calls served, " << (w.rss_bytes >> 20) << " MiB\n";
  return ok;
}

} // namespace pyactor::cli
