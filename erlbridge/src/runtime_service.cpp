#include "runtime_service.hpp"

#include <atomic>
#include <memory>

namespace pyactor::erlbridge {

value item_outcome(const result<value>& r) {
  if (r)
    return tuple{{atom{"ok"}, r.value()}};
  auto& e = r.error();
  if (e.code == errc::python_exception)
    return tuple{{atom{"error"}, tuple{{atom{"python"}, e.python_type, e.message, e.traceback}}}};
  return tuple{{atom{"error"}, tuple{{atom{"pyactor"}, atom{to_string(e.code)}, e.message}}}};
}

namespace {

value worker_value(const worker_info& w) {
  dict d;
  auto put = [&](const char* k, value v) { d.items.emplace_back(atom{k}, std::move(v)); };
  put("id", static_cast<unsigned long>(w.id));
  put("pid", w.pid);
  put("state", atom{w.state});
  put("served", static_cast<unsigned long>(w.served));
  put("in_flight", w.in_flight);
  put("restarts", w.restarts);
  put("rss_bytes", static_cast<unsigned long>(w.rss_bytes));
  put("last_exit", w.last_exit);
  return d;
}

} // namespace

runtime_service::runtime_service(runtime& rt) : rt_(rt) {
  admin_ = std::thread([this] { admin_loop(); });
}

runtime_service::~runtime_service() {
  reader_.release(); // on the loop's thread, which destroys the service
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  admin_.join();
}

void runtime_service::offer_reading(bool on) {
  reader_.offer(on);
}

void runtime_service::reading_fds(std::vector<int>& out) {
  reader_.fds(out);
}

void runtime_service::on_readable(int fd) {
  reader_.on_ready(fd);
}

void runtime_service::stop_reading() {
  reader_.offer(false);
  reader_.release();
}

void runtime_service::admin_loop() {
  for (;;) {
    std::pair<std::function<result<value>()>, completion> job;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty())
        return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      if (stopping_) {
        guard.unlock();
        job.second(make_error(errc::not_running, "the bridge is stopping"));
        continue;
      }
    }
    job.second(job.first());
  }
}

void runtime_service::run_admin(std::function<result<value>()> job, completion done) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    jobs_.emplace_back(std::move(job), std::move(done));
  }
  cv_.notify_one();
}

uint64_t runtime_service::submit(bridge_request req, completion done) {
  switch (req.kind) {
    case request_kind::starmap:
      return starmap(std::move(req), std::move(done));
    case request_kind::status:
      run_admin(
        [this]() -> result<value> {
          list ws;
          for (auto& w : rt_.status())
            ws.push_back(worker_value(w));
          return value{std::move(ws)};
        },
        std::move(done));
      return 0;
    case request_kind::workers:
      run_admin(
        [this]() -> result<value> {
          list ids;
          for (auto& w : rt_.status())
            if (w.state == "ready")
              ids.push_back(static_cast<unsigned long>(w.id));
          return value{std::move(ids)};
        },
        std::move(done));
      return 0;
    case request_kind::add_workers: {
      auto n = req.count;
      run_admin(
        [this, n]() -> result<value> {
          list ids;
          for (auto id : rt_.add_workers(n))
            ids.push_back(static_cast<unsigned long>(id));
          return value{std::move(ids)};
        },
        std::move(done));
      return 0;
    }
    case request_kind::ping:
      done(value{atom{"pong"}});
      return 0;
    default:
      return submit_call(std::move(req), std::move(done));
  }
}

} // namespace pyactor::erlbridge
