// The parallel forms of the runtime: map/starmap/scatter (broadcast and
// batch are in runtime_gather.cpp).
#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "pyactor/limits.hpp"

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

/// Appends one encoded item to `out` (an argument array, or the argument
/// itself for a map without star); false at the end of the input. Throws
/// codec::encode_error for an item that cannot be encoded.
using item_encoder = std::function<bool(std::vector<char>& out)>;

/// Where chunk replies wait for the map's thread. Shared with the reply
/// callbacks, so a callback that fires after the map ended (its sink threw)
/// writes here and never into a freed runner.
struct map_mailbox {
  struct completion {
    size_t chunk_id;
    result<value> outcome;
  };
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<completion> done;
};

/// Runs one streaming map on the calling thread: reads items, sends chunks,
/// collects replies (which arrive on other threads through a mailbox), and
/// delivers results. Returns when every chunk it sent was answered. If the
/// sink or the progress callback throws, the chunks in flight are cancelled
/// and the exception goes to the caller at once; their replies land in the
/// shared mailbox. Not thread-safe; one per map.
class map_runner {
public:
  map_runner(runtime& rt, std::string module, std::string function, item_encoder next,
             bool star, item_sink sink, const map_options& opts, size_t total)
    : rt_(*rt.impl_), module_(std::move(module)), function_(std::move(function)),
      next_(std::move(next)), star_(star), sink_(std::move(sink)), opts_(opts), total_(total) {
    workers_ = std::max<size_t>(1, rt_.routes->load()->size()); // live workers, no request
    if (rt_.connected) { // the cluster's ready workers, from the head
      auto all = rt.status();
      workers_ = std::max<size_t>(1, std::count_if(all.begin(), all.end(), [](auto& w) {
                                    return w.state == "ready";
                                  }));
    }
    max_in_flight_ = opts.max_chunks_in_flight > 0 ? opts.max_chunks_in_flight : 2 * workers_;
    if (opts.chunk > 0)
      chunk_size_ = opts.chunk;
    else if (total > 0)
      chunk_size_ = std::clamp<size_t>((total + 4 * workers_ - 1) / (4 * workers_), 1, max_auto_chunk);
    else
      chunk_size_ = first_adaptive_chunk;
    call_opts_.timeout = opts.timeout;
    // What a chunk's items may take of a request body: the rest is the
    // envelope [op, module, function, items, kwargs, star].
    item_budget_ = limits::max_body_size - std::min(limits::max_body_size,
                                                    module_.size() + function_.size() + 64);
  }

  ~map_runner() {
    if (!in_flight_.empty()) // run() ended by an exception: nobody waits for these
      for (auto& entry : in_flight_)
        rt_.canceller->cancel(entry.second.request_id);
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
      std::deque<map_mailbox::completion> ready;
      {
        std::unique_lock<std::mutex> guard{mailbox_->mtx};
        mailbox_->cv.wait_for(guard, opts_.progress_interval,
                              [&] { return !mailbox_->done.empty(); });
        ready.swap(mailbox_->done);
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
    std::vector<char> items;  // encoded back to back, kept to run them again
    std::vector<size_t> ends; // where each item ends in `items`
    bool alone = false;       // one item run by itself after its chunk's worker died
    uint64_t request_id = 0;
    clock_type::time_point sent;
  };

  /// Appends the next item to `out`; false at the end. An item that did not
  /// fit into the previous chunk comes first.
  bool next_item(std::vector<char>& out) {
    if (carried_) {
      out.insert(out.end(), carry_.begin(), carry_.end());
      carried_ = false;
      return true;
    }
    return next_(out);
  }

  /// Reads items and sends chunks while there is room. An item that cannot
  /// be encoded, or is over the size limit alone, fails by itself with
  /// `bad_request` and is never sent.
  void fill() {
    while (!input_done_ && !stopping_ && in_flight_.size() < max_in_flight_
           && reorder_.size() <= 4 * max_in_flight_) {
      chunk c;
      c.first = next_index_;
      std::optional<error> refused;
      while (c.count < chunk_size_) {
        // Each item is encoded on its own first (the encoder's size check
        // then applies to the item, not to the chunk so far).
        scratch_.clear();
        bool more = false;
        try {
          more = next_item(scratch_);
        } catch (const codec::encode_error& e) {
          refused = make_error(errc::bad_request, e.what());
          break;
        }
        if (!more) {
          input_done_ = true;
          break;
        }
        if (scratch_.size() > item_budget_) {
          refused = make_error(errc::bad_request,
                               "the item is " + std::to_string(scratch_.size())
                                 + " bytes encoded, over the limit of "
                                 + std::to_string(item_budget_)
                                 + " bytes of a request (pyactor::limits::max_body_size)");
          break;
        }
        if (c.items.size() + scratch_.size() > item_budget_) { // full: it starts the next chunk
          carry_.swap(scratch_);
          carried_ = true;
          break;
        }
        c.items.insert(c.items.end(), scratch_.begin(), scratch_.end());
        c.ends.push_back(c.items.size());
        ++c.count;
      }
      if (c.count > 0) {
        next_index_ += c.count;
        summary_.items += c.count;
        c.alone = c.count == 1; // a crash while it runs is its own
        auto id = next_chunk_id_++;
        in_flight_.emplace(id, std::move(c));
        send(id);
      }
      if (refused) {
        size_t index = next_index_++;
        ++summary_.items;
        refused->message = "item " + std::to_string(index) + ": " + refused->message;
        std::vector<result<value>> one;
        one.emplace_back(std::move(*refused));
        deliver(index, std::move(one));
      }
    }
  }

  void send(size_t id) {
    auto& c = in_flight_.at(id);
    c.sent = clock_type::now();
    body_builder body{op::map, 5};
    body.text(module_).text(function_).array(static_cast<uint32_t>(c.count)).raw(c.items);
    body.kwargs({}).flag(star_);
    c.request_id = rt_.send_callback(body.take(), call_opts_,
                                     [mailbox = mailbox_, id](result<value> r) {
                                       std::lock_guard<std::mutex> guard{mailbox->mtx};
                                       mailbox->done.push_back({id, std::move(r)});
                                       mailbox->cv.notify_one();
                                     });
  }

  /// A worker died while running chunk `id`: its items run again one by
  /// one, each alone in its call, so an item that kills its worker is found
  /// and fails by itself while the others succeed.
  void split(size_t id) {
    auto node = in_flight_.extract(id);
    auto& c = node.mapped();
    size_t begin = 0;
    for (size_t k = 0; k < c.count; ++k) {
      chunk one;
      one.first = c.first + k;
      one.count = 1;
      one.alone = true;
      one.items.assign(c.items.begin() + static_cast<std::ptrdiff_t>(begin),
                       c.items.begin() + static_cast<std::ptrdiff_t>(c.ends[k]));
      one.ends.push_back(one.items.size());
      begin = c.ends[k];
      auto one_id = next_chunk_id_++;
      in_flight_.emplace(one_id, std::move(one));
      send(one_id);
    }
  }

  void handle(map_mailbox::completion&& done) {
    auto i = in_flight_.find(done.chunk_id);
    if (i == in_flight_.end())
      return;
    auto& c = i->second;
    // A chunk lost with its worker or its node (a connected runtime).
    bool crashed = !done.outcome && (done.outcome.error().code == errc::worker_crashed
                                     || done.outcome.error().code == errc::node_down);
    if (crashed && opts_.retry_on_crash && !c.alone && !stopping_) {
      split(done.chunk_id);
      return;
    }
    adapt_chunk_size(c, done.outcome);
    auto results = map_results(std::move(done.outcome), c.count);
    if (crashed && c.count == 1 && !results[0]) {
      auto e = results[0].error();
      e.message = "item " + std::to_string(c.first)
                  + (c.alone ? " ran alone and its worker died: " : ": ") + e.message;
      results[0] = std::move(e);
    }
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
  item_encoder next_;
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
  size_t item_budget_ = 0;
  std::vector<char> scratch_; // the item being read
  std::vector<char> carry_;   // an item read but left for the next chunk
  bool carried_ = false;
  std::shared_ptr<map_mailbox> mailbox_ = std::make_shared<map_mailbox>();
};

// -- runtime ----------------------------------------------------------------------------

map_summary runtime::starmap(const std::string& module, const std::string& function,
                             item_source next, item_sink sink, const map_options& opts,
                             size_t total) {
  auto encode = [next = std::move(next), args = list{}](std::vector<char>& out) mutable {
    args.clear();
    if (!next(args))
      return false;
    client::append_array(args, out);
    return true;
  };
  map_runner runner{*this, module, function, std::move(encode), true, std::move(sink), opts, total};
  return runner.run();
}

namespace {

/// Runs a map over an input held by the caller; results in input order.
std::vector<result<value>> collect(runtime& rt, const std::string& module,
                                   const std::string& function, size_t n, item_encoder encode,
                                   bool star, const map_options& opts) {
  std::vector<result<value>> results(n, value{});
  std::vector<bool> answered(n, false);
  map_runner runner{rt, module, function, std::move(encode), star,
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
  auto encode = [&](std::vector<char>& out) {
    if (next == items.size())
      return false;
    client::append_array(items[next++], out);
    return true;
  };
  return collect(*this, module, function, items.size(), encode, true, opts);
}

std::vector<result<value>> runtime::map(const std::string& module, const std::string& function,
                                        const list& items, const map_options& opts) {
  size_t next = 0;
  auto encode = [&](std::vector<char>& out) {
    if (next == items.size())
      return false;
    codec::encode_msgpack(items[next++], out);
    return true;
  };
  return collect(*this, module, function, items.size(), encode, false, opts);
}

} // namespace pyactor
