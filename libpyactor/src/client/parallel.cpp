// The parallel forms of the runtime: map/starmap/scatter (broadcast and
// batch are in runtime_gather.cpp).
#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <unordered_map>

#include "runtime_impl.hpp"

namespace pyactor {

using client::body_builder;
using worker::op;

namespace {

using clock_type = std::chrono::steady_clock;

/// Largest and first chunk sizes when the runtime chooses.
constexpr size_t max_auto_chunk = 10000;
constexpr size_t first_adaptive_chunk = 16;
/// Chunk duration the adaptive sizing aims for.
constexpr double target_chunk_seconds = 0.02;
constexpr int max_chunk_attempts = 3;

/// Splits a map reply [results, statuses] into one result per item.
std::vector<result<value>> map_results(result<value>&& reply, size_t n) {
  std::vector<result<value>> out;
  out.reserve(n);
  auto parts = reply ? reply.value().get_if<list>() : nullptr;
  bool well_formed = parts != nullptr && parts->size() == 2 && (*parts)[0].is<list>()
                     && (*parts)[1].is<bytes>() && (*parts)[0].as<list>().size() == n
                     && (*parts)[1].as<bytes>().data.size() == n;
  if (!well_formed) {
    auto e = reply ? make_error(errc::bad_request, "the worker's map reply does not hold one "
                                                   "result per item")
                   : reply.error();
    for (size_t i = 0; i < n; ++i)
      out.emplace_back(e);
    return out;
  }
  auto& results = (*parts)[0].as<list>();
  auto& statuses = (*parts)[1].as<bytes>().data;
  for (size_t i = 0; i < n; ++i) {
    if (statuses[i] == 0)
      out.emplace_back(std::move(results[i]));
    else
      out.emplace_back(actors::error_from_details(
        static_cast<errc>(actors::reply_code_of(statuses[i])), results[i]));
  }
  return out;
}

} // namespace

// -- map_runner -------------------------------------------------------------------------

/// Appends up to `max_items` encoded items to `out`; returns how many (0 at
/// the end of the input). An item is an argument array, or the argument
/// itself for a map without star.
using chunk_filler = std::function<size_t(std::vector<char>& out, size_t max_items)>;

/// Runs one streaming map on the calling thread: reads items, sends chunks,
/// collects replies (which arrive on actor threads through a queue), and
/// delivers results. Returns only when every chunk it sent was answered, so
/// no reply callback outlives it. Not thread-safe; one per map.
class map_runner {
public:
  map_runner(runtime& rt, std::string module, std::string function, chunk_filler fill,
             bool star, item_sink sink, const map_options& opts, size_t total)
    : rt_(*rt.impl_), module_(std::move(module)), function_(std::move(function)),
      fill_(std::move(fill)), star_(star), sink_(std::move(sink)), opts_(opts), total_(total) {
    workers_ = std::max<size_t>(1, rt_.routes->load()->size()); // live workers, no request
    max_in_flight_ = opts.max_chunks_in_flight > 0 ? opts.max_chunks_in_flight : 2 * workers_;
    if (opts.chunk > 0)
      chunk_size_ = opts.chunk;
    else if (total > 0)
      chunk_size_ = std::clamp<size_t>((total + 4 * workers_ - 1) / (4 * workers_), 1, max_auto_chunk);
    else
      chunk_size_ = first_adaptive_chunk;
    call_opts_.timeout = opts.timeout;
  }

  map_summary run() {
    started_ = clock_type::now();
    last_progress_ = started_;
    for (;;) {
      if (opts_.cancel.cancelled() && !stopping_)
        stop(true);
      fill();
      if (in_flight_.empty() && (input_done_ || stopping_))
        break;
      std::deque<completion> ready;
      {
        std::unique_lock<std::mutex> guard{mtx_};
        cv_.wait_for(guard, opts_.progress_interval, [&] { return !done_.empty(); });
        ready.swap(done_);
      }
      for (auto& c : ready)
        handle(std::move(c));
      report_progress(false);
    }
    flush_ordered(true);
    report_progress(true);
    return summary_;
  }

private:
  struct chunk {
    size_t first = 0;
    size_t count = 0;
    std::vector<char> body; // kept to send again after a crash
    int attempts = 0;
    uint64_t request_id = 0;
    clock_type::time_point sent;
  };

  struct completion {
    size_t chunk_id;
    result<value> outcome;
  };

  /// Reads items and sends chunks while there is room.
  void fill() {
    std::vector<char> items;
    while (!input_done_ && !stopping_ && in_flight_.size() < max_in_flight_
           && reorder_.size() <= 4 * max_in_flight_) {
      items.clear();
      size_t count = fill_(items, chunk_size_);
      if (count < chunk_size_)
        input_done_ = true;
      if (count == 0)
        break;
      chunk c;
      c.first = next_index_;
      c.count = count;
      body_builder body{op::map, 5};
      body.text(module_).text(function_).array(static_cast<uint32_t>(count)).raw(items);
      body.kwargs({}).flag(star_);
      c.body = body.take();
      next_index_ += count;
      summary_.items += count;
      auto id = next_chunk_id_++;
      in_flight_.emplace(id, std::move(c));
      send(id);
    }
  }

  void send(size_t id) {
    auto& c = in_flight_.at(id);
    ++c.attempts;
    c.sent = clock_type::now();
    c.request_id = rt_.send_callback(c.body, call_opts_, [this, id](result<value> r) {
      std::lock_guard<std::mutex> guard{mtx_};
      done_.push_back(completion{id, std::move(r)});
      cv_.notify_one();
    });
  }

  void handle(completion&& done) {
    auto i = in_flight_.find(done.chunk_id);
    if (i == in_flight_.end())
      return;
    auto& c = i->second;
    if (!done.outcome && done.outcome.error().code == errc::worker_crashed && opts_.retry_on_crash
        && c.attempts < max_chunk_attempts && !stopping_) {
      send(done.chunk_id); // its worker died: run it again elsewhere
      return;
    }
    adapt_chunk_size(c, done.outcome);
    auto results = map_results(std::move(done.outcome), c.count);
    size_t first = c.first;
    in_flight_.erase(i);
    deliver(first, std::move(results));
  }

  void adapt_chunk_size(const chunk& c, const result<value>& outcome) {
    if (opts_.chunk > 0 || total_ > 0 || !outcome)
      return;
    double seconds = std::chrono::duration<double>(clock_type::now() - c.sent).count();
    double per_item = std::max(seconds / static_cast<double>(c.count), 1e-7);
    auto target = static_cast<size_t>(target_chunk_seconds / per_item);
    chunk_size_ = std::clamp<size_t>((chunk_size_ + target) / 2, 1, max_auto_chunk);
  }

  void deliver(size_t first, std::vector<result<value>>&& results) {
    for (auto& r : results) {
      if (r) {
        ++summary_.ok;
      } else {
        ++summary_.failed;
        if (opts_.stop_on_error && !stopping_ && r.error().code != errc::cancelled) {
          summary_.stopped_on_error = true;
          stop(false);
        }
      }
    }
    done_items_ += results.size();
    if (!opts_.ordered) {
      for (size_t k = 0; k < results.size(); ++k)
        sink_(item_result{first + k, std::move(results[k])});
      return;
    }
    reorder_.emplace(first, std::move(results));
    flush_ordered(false);
  }

  /// Hands over ordered results that are next in line (all at the end).
  void flush_ordered(bool all) {
    while (!reorder_.empty() && (all || reorder_.begin()->first == next_deliver_)) {
      auto node = reorder_.extract(reorder_.begin());
      for (size_t k = 0; k < node.mapped().size(); ++k)
        sink_(item_result{node.key() + k, std::move(node.mapped()[k])});
      next_deliver_ = node.key() + node.mapped().size();
    }
  }

  /// Stops reading input and cancels every chunk in flight.
  void stop(bool cancelled) {
    stopping_ = true;
    summary_.cancelled = summary_.cancelled || cancelled;
    for (auto& entry : in_flight_)
      rt_.canceller->cancel(entry.second.request_id);
  }

  void report_progress(bool final) {
    if (!opts_.on_progress)
      return;
    auto now = clock_type::now();
    if (!final && now - last_progress_ < opts_.progress_interval)
      return;
    last_progress_ = now;
    map_progress p;
    p.done = done_items_;
    p.failed = summary_.failed;
    p.total = total_;
    double seconds = std::chrono::duration<double>(now - started_).count();
    p.items_per_second = seconds > 0 ? static_cast<double>(done_items_) / seconds : 0;
    if (total_ > 0 && p.items_per_second > 0)
      p.eta_seconds = static_cast<double>(total_ - std::min(total_, done_items_)) / p.items_per_second;
    opts_.on_progress(p);
  }

  runtime::impl& rt_;
  std::string module_;
  std::string function_;
  chunk_filler fill_;
  bool star_;
  item_sink sink_;
  map_options opts_;
  call_options call_opts_;
  size_t total_;
  size_t workers_ = 1;
  size_t max_in_flight_ = 2;
  size_t chunk_size_ = 1;
  size_t next_index_ = 0;
  size_t next_deliver_ = 0;
  size_t next_chunk_id_ = 0;
  size_t done_items_ = 0;
  bool input_done_ = false;
  bool stopping_ = false;
  map_summary summary_;
  std::unordered_map<size_t, chunk> in_flight_;
  std::map<size_t, std::vector<result<value>>> reorder_;
  clock_type::time_point started_;
  clock_type::time_point last_progress_;
  std::mutex mtx_; // guards done_, filled on actor threads
  std::condition_variable cv_;
  std::deque<completion> done_;
};

// -- runtime ----------------------------------------------------------------------------

map_summary runtime::starmap(const std::string& module, const std::string& function,
                             item_source next, item_sink sink, const map_options& opts,
                             size_t total) {
  auto fill = [next = std::move(next)](std::vector<char>& out, size_t max_items) {
    size_t count = 0;
    list args;
    while (count < max_items) {
      args.clear();
      if (!next(args))
        break;
      client::append_array(args, out);
      ++count;
    }
    return count;
  };
  map_runner runner{*this, module, function, fill, true, std::move(sink), opts, total};
  return runner.run();
}

namespace {

/// Runs a map over an input held by the caller; results in input order.
std::vector<result<value>> collect(runtime& rt, const std::string& module,
                                   const std::string& function, size_t n, chunk_filler fill,
                                   bool star, const map_options& opts) {
  std::vector<result<value>> results(n, value{});
  std::vector<bool> answered(n, false);
  map_runner runner{rt, module, function, std::move(fill), star,
                    [&](item_result&& r) {
                      results[r.index] = std::move(r.outcome);
                      answered[r.index] = true;
                    },
                    opts, n};
  runner.run();
  for (size_t i = 0; i < n; ++i) // skipped after stop_on_error or cancel
    if (!answered[i])
      results[i] = make_error(errc::cancelled, "the map stopped before this item ran");
  return results;
}

} // namespace

std::vector<result<value>> runtime::starmap(const std::string& module, const std::string& function,
                                            const std::vector<list>& items,
                                            const map_options& opts) {
  size_t next = 0;
  auto fill = [&](std::vector<char>& out, size_t max_items) {
    size_t count = 0;
    for (; count < max_items && next < items.size(); ++count)
      client::append_array(items[next++], out);
    return count;
  };
  return collect(*this, module, function, items.size(), fill, true, opts);
}

std::vector<result<value>> runtime::map(const std::string& module, const std::string& function,
                                        const list& items, const map_options& opts) {
  size_t next = 0;
  auto fill = [&](std::vector<char>& out, size_t max_items) {
    size_t count = 0;
    for (; count < max_items && next < items.size(); ++count)
      codec::encode_msgpack(items[next++], out);
    return count;
  };
  return collect(*this, module, function, items.size(), fill, false, opts);
}

} // namespace pyactor
