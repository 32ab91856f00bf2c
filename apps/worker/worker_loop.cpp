#include "worker_loop.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <set>
#include <vector>

#include <malloc.h>
#include <sys/prctl.h>

#include "block_primer.hpp"
#include "dispatcher.hpp"
#include "frame_channel.hpp"

namespace pyactor::worker {

namespace {

struct worker_args {
  int channel_fd = 3;
  int reply_fd = -1; // -1: replies go to channel_fd
  worker_identity identity;
  std::vector<std::string> python_path;
  size_t max_objects = 100000;
  size_t max_frame = max_frame_size;
  std::vector<std::string> imports;
  std::string start_hook;
};

/// A command line the worker cannot run with (exit code 2).
struct usage_error {
  std::string problem;
};

[[noreturn]] void usage(const std::string& problem) {
  throw usage_error{problem};
}

void print_usage(const std::string& problem) {
  std::fprintf(stderr,
               "pyactor-worker: %s\n"
               "usage: pyactor-worker [--python PATH] [--channel-fd N] [--reply-fd N] [--worker-id N]\n"
               "                      [--worker-uid N] [--python-path DIR]... [--max-objects N]\n"
               "                      [--import MODULE]... [--start-hook MODULE.FUNCTION]\n"
               "                      [--max-frame-size BYTES]\n"
               "Started by a pyactor node; reads framed msgpack requests on the channel fd and\n"
               "writes the replies to the reply fd (default: the channel fd).\n",
               problem.c_str());
}

/// Returns and clears the pending Python error as "Type: message".
std::string fetch_error_text() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  py_ref t{type}, v{value}, tb{traceback};
  std::string text = t ? reinterpret_cast<PyTypeObject*>(t.get())->tp_name : "unknown error";
  if (v) {
    py_ref str{PyObject_Str(v.get())};
    const char* s = str ? PyUnicode_AsUTF8(str.get()) : nullptr;
    if (s != nullptr)
      text.append(": ").append(s);
  }
  PyErr_Clear();
  return text;
}

/// Returns `module.attr`; throws std::runtime_error with the Python error.
py_ref import_attr(const char* module, const char* attr) {
  py_ref mod{PyImport_ImportModule(module)};
  if (!mod)
    throw std::runtime_error(std::string{"cannot import "} + module + ": " + fetch_error_text());
  py_ref found{PyObject_GetAttrString(mod.get(), attr)};
  if (!found)
    throw std::runtime_error(std::string{"cannot find "} + module + "." + attr + ": "
                             + fetch_error_text());
  return found;
}

/// Puts `dirs` ahead of the standard sys.path, in the given order.
void extend_sys_path(const std::vector<std::string>& dirs) {
  PyObject* sys_path = PySys_GetObject("path"); // borrowed
  for (size_t i = 0; i < dirs.size(); ++i) {
    py_ref dir{PyUnicode_DecodeFSDefault(dirs[i].c_str())};
    if (!dir || sys_path == nullptr
        || PyList_Insert(sys_path, static_cast<Py_ssize_t>(i), dir.get()) < 0)
      throw std::runtime_error("cannot extend sys.path with '" + dirs[i]
                               + "': " + fetch_error_text());
  }
}

uint64_t number(const char* flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || text.empty() || *end != '\0' || text[0] == '-')
    usage(std::string{flag} + " expects a non-negative integer, got '" + text + "'");
  return x;
}

worker_args parse(const std::vector<std::string>& argv) {
  worker_args args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& flag = argv[i];
    if (flag == "--help")
      usage("help requested");
    if (i + 1 >= argv.size())
      usage("missing value after " + flag);
    const std::string& val = argv[++i];
    if (flag == "--channel-fd")
      args.channel_fd = static_cast<int>(std::min<uint64_t>(number("--channel-fd", val), 1 << 20));
    else if (flag == "--reply-fd")
      args.reply_fd = static_cast<int>(std::min<uint64_t>(number("--reply-fd", val), 1 << 20));
    else if (flag == "--worker-id")
      args.identity.id = number("--worker-id", val);
    else if (flag == "--worker-uid")
      args.identity.uid = number("--worker-uid", val);
    else if (flag == "--python-path")
      args.python_path.emplace_back(val);
    else if (flag == "--max-objects")
      args.max_objects = number("--max-objects", val);
    else if (flag == "--max-frame-size") {
      args.max_frame = number("--max-frame-size", val);
      if (args.max_frame < 1024 || args.max_frame > max_frame_size)
        usage("--max-frame-size may only lower the protocol's limit: from 1024 to "
              + std::to_string(max_frame_size) + ", got " + std::to_string(args.max_frame));
    } else if (flag == "--import")
      args.imports.emplace_back(val);
    else if (flag == "--start-hook")
      args.start_hook = val;
    else
      usage("unknown option " + flag);
  }
  return args;
}

// Imports the configured modules and calls the start hook; throws on failure
// (the process then exits before it reports ready).
void run_start_hooks(const worker_helpers& helpers, const worker_args& args) {
  for (auto& module : args.imports) {
    py_ref mod{PyImport_ImportModule(module.c_str())};
    if (!mod)
      throw std::runtime_error("import " + module + " failed: " + fetch_error_text());
  }
  if (args.start_hook.empty())
    return;
  auto dot = args.start_hook.find('.');
  if (dot == std::string::npos)
    throw std::runtime_error("--start-hook expects MODULE.FUNCTION, got " + args.start_hook);
  py_ref module{PyUnicode_FromString(args.start_hook.substr(0, dot).c_str())};
  py_ref name{PyUnicode_FromString(args.start_hook.substr(dot + 1).c_str())};
  py_ref fn{PyObject_CallFunctionObjArgs(helpers.resolve.get(), module.get(), name.get(), nullptr)};
  py_ref result{fn ? PyObject_CallNoArgs(fn.get()) : nullptr};
  if (!result)
    throw std::runtime_error("start hook " + args.start_hook
                             + " failed: " + fetch_error_text());
}

// -- interrupts ---------------------------------------------------------------------------
// The node interrupts a call with sigqueue(SIGINT, ticket): only that call
// gets KeyboardInterrupt, even when the signal races with its start or end.
// A plain SIGINT (no ticket) interrupts whatever runs.

/// Pipelined calls check the SIGINT handler at most this often.
constexpr std::chrono::microseconds handler_check_interval{50};

/// Reply buffers larger than this are freed after use.
constexpr size_t release_above = size_t{256} << 20;

std::atomic<uint64_t> running_call{0};     // the call being served, 0 between calls
std::atomic<uint64_t> interrupt_ahead{0};  // a call interrupted before it started

void on_sigint(int, siginfo_t* info, void*) {
  if (info->si_code != SI_QUEUE) {
    PyErr_SetInterruptEx(SIGINT);
    return;
  }
  auto ticket = reinterpret_cast<uintptr_t>(info->si_value.sival_ptr);
  auto running = running_call.load();
  if (ticket == running)
    PyErr_SetInterruptEx(SIGINT); // async-signal-safe
  else if (ticket > running)
    interrupt_ahead.store(ticket);
}

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigint;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

// SIGINT belongs to pyactor: signal.signal(SIGINT, ...) is refused with a
// warning (pyactor._worker.protect_sigint), and a handler set behind
// Python's back (a C library, ctypes) is replaced before the next call.
void keep_interrupt_handler(PyObject* restore_python_handler) {
  struct sigaction current {};
  if (sigaction(SIGINT, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) != 0
      && current.sa_sigaction == on_sigint)
    return;
  py_ref done{PyObject_CallNoArgs(restore_python_handler)};
  if (!done)
    PyErr_Clear();
  install_interrupt_handler();
  static bool warned = false;
  if (!warned) {
    warned = true;
    std::fprintf(stderr, "pyactor: the SIGINT handler was changed outside signal.signal; pyactor "
                         "restored its own (SIGINT interrupts the running call on timeout and "
                         "cancel)\n");
  }
}

// Sends one reply frame: header, then the payload `serve` appended.
void send_reply(frame_channel& channel, std::vector<char>& out, uint64_t call_id, status code) {
  put_u64(out.data() + 4, call_id);
  out[12] = static_cast<char>(code);
  seal_frame(out, 0);
  channel.write_all(out.data(), out.size());
}

} // namespace

int run_worker(const std::vector<std::string>& argv) {
  worker_args args;
  try {
    args = parse(argv);
  } catch (const usage_error& e) {
    print_usage(e.problem);
    return 2;
  }
  // Large payloads: keep freed memory instead of returning it to the kernel
  // and faulting it in again for the next one (shared/design.md floors).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
  prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the node
  try {
    extend_sys_path(args.python_path);
    python_types types{import_attr("pyactor", "Atom"), import_attr("pyactor", "Tagged"),
                       import_attr("pyactor", "Opaque"), import_attr("pyactor.encoders", "encode"),
                       import_attr("pyactor.encoders", "decode")};
    py_ref restore_sigint = import_attr("pyactor._worker", "restore_sigint");
    {
      py_ref protect = import_attr("pyactor._worker", "protect_sigint");
      py_ref done{PyObject_CallNoArgs(protect.get())};
      if (!done)
        throw std::runtime_error("cannot protect SIGINT: " + fetch_error_text());
    }
    worker_helpers helpers{import_attr("pyactor._worker", "describe_exception"),
                           import_attr("pyactor._worker", "resolve"),
                           import_attr("pyactor._worker", "cast"),
                           import_attr("pyactor._worker", "versions")};
    run_start_hooks(helpers, args);
    object_table objects{args.max_objects};
    python_codec codec{types, objects, args.identity.uid, args.max_frame};
    dispatcher serve{codec, objects, helpers, args.identity};
    frame_channel channel{args.channel_fd, args.reply_fd < 0 ? args.channel_fd : args.reply_fd};
    std::vector<char> out;
    // The ready frame: call id 0 carrying the versions map.
    std::vector<char> versions_request{'\x91', '\x09'}; // msgpack [op::versions]
    out.assign(reply_header_size, 0);
    send_reply(channel, out, 0, serve.serve(versions_request.data(), versions_request.size(), out));
    uint64_t call_id = 0;
    const char* body = nullptr;
    size_t size = 0;
    std::set<uint64_t> skips; // calls cancelled before they started
    install_interrupt_handler();
    auto handler_checked = std::chrono::steady_clock::now();
    block_primer prime; // after each reply, while the node reads it (block_primer.hpp)
    prime();
    while (channel.next(call_id, body, size)) {
      if (call_id & skip_flag)
        continue; // a skip that came too late or was already seen
      channel.scan_skips(skips);
      skips.erase(skips.begin(), skips.lower_bound(call_id)); // too late for those
      out.assign(reply_header_size, 0);
      if (PyErr_CheckSignals() < 0) // an interrupt meant for an earlier call
        PyErr_Clear();
      running_call.store(call_id);
      if (skips.erase(call_id) > 0 || interrupt_ahead.load() == call_id) {
        running_call.store(0);
        auto code = serve.refuse(
          request_error::bad("skipped: cancelled or timed out before it started"), out);
        send_reply(channel, out, call_id, code);
        continue;
      }
      auto code = serve.serve(body, size, out);
      running_call.store(0);
      send_reply(channel, out, call_id, code);
      // After the reply, while the node reads it, not on the call's path:
      // the handler a call may have replaced is back before the next call,
      // or, for pipelined calls already buffered, at most
      // `handler_check_interval` later (one sigaction, not one per call).
      auto now = std::chrono::steady_clock::now();
      if (!channel.frame_buffered() || now - handler_checked >= handler_check_interval) {
        keep_interrupt_handler(restore_sigint.get());
        handler_checked = now;
      }
      if (out.capacity() > release_above) // a huge reply's buffer is not kept
        std::vector<char>{}.swap(out);
      prime();
    }
    return 0;
  } catch (const std::exception& e) {
    if (PyErr_Occurred())
      PyErr_Clear();
    std::fprintf(stderr, "pyactor-worker %llu: %s\n",
                 static_cast<unsigned long long>(args.identity.id), e.what());
    return 3;
  }
}

} // namespace pyactor::worker
