#include "actors/call_ledger.hpp"

#include <algorithm>

#include "actors/worker_actor.hpp"
#include "worker/protocol.hpp"

namespace pyactor::actors {

namespace {

/// A kill alarm for `ticket | reinterrupt_flag` interrupts again instead of killing.
constexpr uint64_t reinterrupt_flag = uint64_t{1} << 63;

/// Ticket 0 in the kill alarms is the start timeout (tickets start at 1).
constexpr uint64_t start_alarm = 0;

} // namespace

ledger_callee::~ledger_callee() {
  // nop
}

void ledger_callee::deliver_call(const call_request&, reply_to&& to, call_reply&& reply) {
  deliver(std::move(to), std::move(reply));
}

// -- ledger_sinks -------------------------------------------------------------------------

void ledger_sinks::put(uint64_t ticket, reply_sink sink) {
  std::lock_guard<std::mutex> guard{mtx_};
  sinks_.emplace(ticket, std::move(sink));
}

reply_sink ledger_sinks::take(uint64_t ticket) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = sinks_.find(ticket);
  if (i == sinks_.end())
    return {};
  auto sink = std::move(i->second);
  sinks_.erase(i);
  return sink;
}

bool ledger_sinks::complete(uint64_t ticket, uint8_t status, std::vector<char>& payload) {
  auto sink = take(ticket);
  if (!sink.completion)
    return false;
  sink.completion->deliver(call_reply{reply_code_of(status), std::move(payload)});
  payload = {};
  return true;
}

// -- call_ledger: lifecycle ---------------------------------------------------------------

call_ledger::call_ledger(ledger_callee& callee, ledger_config config)
  : callee_(callee), config_(std::move(config)) {
  if (config_.pipeline_depth == 0)
    config_.pipeline_depth = 1;
}

void call_ledger::started(time_point now) {
  if (mode_ != mode::starting || config_.start_timeout.count() <= 0)
    return;
  kills_.emplace(now + config_.start_timeout, start_alarm);
  arm();
}

bool call_ledger::ready() {
  if (mode_ != mode::starting)
    return false;
  mode_ = mode::serving;
  kills_.erase(kills_.begin(), kills_.end()); // only the start timeout can be here
  pump();
  return true;
}

void call_ledger::drain() {
  if (mode_ == mode::starting || mode_ == mode::serving)
    mode_ = mode::drained;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& entry : waiting)
    give_back(std::move(entry.second));
}

bool call_ledger::process_died(const std::string& what) {
  mode_ = mode::dead;
  auto written = std::move(written_);
  written_.clear();
  // An abandoned call ahead of the written ones was the one running.
  bool abandoned_ahead = !abandoned_.empty()
                         && (written.empty() || abandoned_.begin()->first < written.begin()->first);
  bool running = abandoned_ahead || !written.empty();
  abandoned_.clear();
  kills_.clear();
  if (!written.empty() && !abandoned_ahead) {
    answer(written.begin()->second,
           make_error_reply(errc::worker_crashed, what + " while the call was running"));
    written.erase(written.begin());
  }
  // The process ran frames in order: none of these started.
  for (auto& entry : written) {
    auto& c = entry.second;
    if (c.sink_in_table) {
      c.to.sink = sinks_->take(c.ticket);
      c.sink_in_table = false;
      if (!c.to.sink.completion) { // the I/O thread answered it after all
        forget_deadline(c);
        callee_.released(c.request);
        continue;
      }
    }
    give_back(std::move(c));
  }
  drain(); // and the waiting ones
  return running;
}

void call_ledger::abandon_all(const std::string& why) {
  for (auto* calls : {&waiting_, &written_}) {
    auto taken = std::move(*calls);
    calls->clear();
    for (auto& entry : taken)
      answer(entry.second, make_error_reply(errc::worker_crashed, why));
  }
  abandoned_.clear();
  kills_.clear();
  deadlines_.clear();
  if (mode_ != mode::dead)
    mode_ = mode::drained;
}

// -- call_ledger: calls -------------------------------------------------------------------

void call_ledger::accept(call_request&& request, reply_to&& to, time_point now) {
  call c{std::move(request), std::move(to)};
  if (mode_ != mode::serving) {
    give_back(std::move(c));
    return;
  }
  c.ticket = next_ticket_++;
  auto timeout = c.request.timeout_ms > 0 ? std::chrono::milliseconds(c.request.timeout_ms)
                                          : config_.default_timeout;
  if (timeout.count() > 0) {
    c.deadline = now + timeout;
    deadlines_.emplace(c.deadline, c.ticket);
  }
  auto ticket = c.ticket;
  waiting_.emplace(ticket, std::move(c));
  arm();
  // A reply still owed wakes the reader, which pumps after the batch.
  if (!config_.coalesce_writes || (written_.empty() && abandoned_.empty()))
    pump();
}

bool call_ledger::cancel(uint64_t request_id, time_point now) {
  if (request_id == 0)
    return false;
  for (auto* calls : {&waiting_, &written_})
    for (auto& entry : *calls)
      if (entry.second.request.request_id == request_id) {
        end_early(entry.first, errc::cancelled, "the call was cancelled", now);
        return true;
      }
  return false;
}

void call_ledger::on_reply(uint64_t ticket, uint8_t status, std::vector<char>&& payload,
                           time_point now) {
  auto i = written_.find(ticket);
  if (i == written_.end()) {
    abandoned_.erase(ticket); // an interrupted or skipped call ended after all: dropped
    watch_front(now);
    return;
  }
  // Calls run in order: anything abandoned before this one is done.
  abandoned_.erase(abandoned_.begin(), abandoned_.lower_bound(ticket));
  auto c = std::move(i->second);
  written_.erase(i);
  ++served_;
  answer(c, call_reply{reply_code_of(status), std::move(payload)});
  watch_front(now);
}

void call_ledger::on_alarm(time_point now) {
  if (now >= alarm_at_)
    alarm_at_ = time_point::max(); // this alarm fired
  std::vector<uint64_t> due;
  for (auto& d : deadlines_) {
    if (d.first > now)
      break;
    due.push_back(d.second);
  }
  for (auto ticket : due)
    end_early(ticket, errc::timeout, "the call did not finish within its timeout", now);
  due.clear();
  while (!kills_.empty() && kills_.begin()->first <= now) {
    due.push_back(kills_.begin()->second);
    kills_.erase(kills_.begin());
  }
  for (auto ticket : due)
    on_kill_due(ticket);
  arm();
  pump();
}

void call_ledger::pump() {
  frames_.clear();
  while ((mode_ == mode::serving || mode_ == mode::drained) && !waiting_.empty()
         && written_.size() + abandoned_.size() < config_.pipeline_depth
         && (config_.max_calls == 0 || calls_written_ < config_.max_calls)) {
    auto first = waiting_.begin();
    uint64_t ticket = first->first;
    auto& c = first->second;
    auto& body = c.request.body;
    size_t start = frames_.size();
    frames_.resize(start + worker::request_header_size);
    worker::put_u64(frames_.data() + start + 4, ticket);
    frames_.insert(frames_.end(), body.begin(), body.end());
    worker::seal_frame(frames_, start);
    if (c.to.sink.completion) { // the I/O thread may complete it directly
      sinks_->put(ticket, std::move(c.to.sink));
      c.sink_in_table = true;
    }
    written_.emplace(ticket, std::move(c));
    waiting_.erase(first);
    ++calls_written_;
  }
  if (!frames_.empty())
    callee_.write(frames_.data(), frames_.size());
}

// -- call_ledger: internals ---------------------------------------------------------------

void call_ledger::answer(call& c, call_reply&& reply) {
  forget_deadline(c);
  callee_.released(c.request);
  if (!c.sink_in_table) {
    callee_.deliver_call(c.request, std::move(c.to), std::move(reply));
  } else if (auto sink = sinks_->take(c.ticket); sink.completion) {
    c.sink_in_table = false;
    callee_.deliver_call(c.request, reply_to{{}, std::move(sink)}, std::move(reply));
  } // else the I/O thread already delivered the reply
}

void call_ledger::give_back(call&& c) {
  forget_deadline(c);
  callee_.released(c.request); // whoever routed it here counted it as this worker's load
  callee_.hand_back(std::move(c.request), std::move(c.to));
}

void call_ledger::forget_deadline(const call& c) {
  if (c.deadline != time_point::max())
    deadlines_.erase({c.deadline, c.ticket});
}

void call_ledger::end_early(uint64_t ticket, errc code, const std::string& why, time_point now) {
  if (auto i = waiting_.find(ticket); i != waiting_.end()) {
    auto c = std::move(i->second);
    waiting_.erase(i);
    answer(c, make_error_reply(code, why + " while it waited for " + callee_.label()));
    return;
  }
  auto i = written_.find(ticket);
  if (i == written_.end())
    return; // already answered
  // The process runs calls in ticket order: this one runs now if no earlier
  // call, answered or abandoned, is still ahead of it.
  bool running = i == written_.begin()
                 && (abandoned_.empty() || abandoned_.begin()->first > ticket);
  auto c = std::move(i->second);
  written_.erase(i);
  abandoned_.emplace(ticket, running);
  answer(c, make_error_reply(code, why + " on " + callee_.label()
                                     + (running ? "; the running call was interrupted" : "")));
  if (mode_ == mode::dead)
    return;
  if (running) {
    interrupt_and_watch(ticket, now);
  } else {
    // Not started yet: ask the process to skip it.
    char skip[worker::request_header_size];
    worker::put_u32(skip, 8);
    worker::put_u64(skip + 4, ticket | worker::skip_flag);
    callee_.write(skip, sizeof(skip));
  }
}

void call_ledger::interrupt_and_watch(uint64_t ticket, time_point now) {
  abandoned_[ticket] = true;
  callee_.interrupt(ticket); // KeyboardInterrupt in the running Python code
  kills_.emplace(now + config_.reinterrupt_delay, ticket | reinterrupt_flag);
  kills_.emplace(now + config_.interrupt_grace, ticket);
  arm();
}

void call_ledger::watch_front(time_point now) {
  if (mode_ == mode::dead || abandoned_.empty())
    return;
  auto front = abandoned_.begin();
  bool first_in_process = written_.empty() || front->first < written_.begin()->first;
  if (first_in_process && !front->second) // asked to skip it; it may have started anyway
    interrupt_and_watch(front->first, now);
}

void call_ledger::on_kill_due(uint64_t ticket) {
  if (mode_ == mode::dead)
    return;
  if (ticket == start_alarm) {
    if (mode_ != mode::starting)
      return;
    start_failure_ = "was not ready within start-timeout ("
                     + std::to_string(config_.start_timeout.count())
                     + " ms): its imports or start hook"
                     + (config_.start_hook.empty() ? std::string{}
                                                   : " '" + config_.start_hook + "'")
                     + " hung, so it was killed (raise start-timeout if it needs longer)";
    callee_.kill("[" + callee_.label() + "] " + start_failure_);
    return;
  }
  if (ticket & reinterrupt_flag) {
    ticket &= ~reinterrupt_flag;
    if (abandoned_.count(ticket) > 0)
      callee_.interrupt(ticket);
    return;
  }
  if (abandoned_.count(ticket) > 0)
    callee_.kill("[" + callee_.label() + "] still busy with interrupted call "
                 + std::to_string(ticket) + " after "
                 + std::to_string(config_.interrupt_grace.count())
                 + " ms: killing the process");
}

void call_ledger::arm() {
  auto next = time_point::max();
  if (!deadlines_.empty())
    next = deadlines_.begin()->first;
  if (!kills_.empty())
    next = std::min(next, kills_.begin()->first);
  if (next >= alarm_at_ || mode_ == mode::dead)
    return;
  alarm_at_ = next;
  callee_.set_alarm(next);
}

} // namespace pyactor::actors
