#include "actors/call_lane.hpp"

#include <csignal>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <caf/all.hpp>

namespace pyactor::actors {

namespace {

/// The lane whose channel this thread reads in `lead`, if any: a reply the
/// leader completes itself needs no wake-up (no eventfd write and read).
thread_local const call_lane* leading_lane = nullptr;

} // namespace

// -- the ledger's side effects ----------------------------------------------------------

/// Runs under the lane's mutex: writes and signals go to the process at once
/// (they never block); deliveries and hand-backs are collected and carried
/// out once the mutex is released.
class call_lane::callee final : public ledger_callee {
public:
  explicit callee(call_lane& lane) : lane_(lane) {
    // nop
  }

  void write(const char* data, size_t size) override {
    if (lane_.process_ != nullptr)
      lane_.process_->send(data, size);
  }

  void interrupt(uint64_t ticket) override {
    if (lane_.process_ != nullptr)
      lane_.process_->interrupt(ticket);
  }

  void kill(const std::string& why) override {
    send_log(lane_.config_.log, why);
    if (lane_.process_ != nullptr)
      lane_.process_->signal(SIGKILL);
  }

  void set_alarm(time_point at) override {
    lane_.ledger_alarm_ = at;
    lane_.set_alarm_locked(at);
  }

  void deliver(reply_to&& to, call_reply&& reply) override {
    lane_.effects_.push_back(effect{false, false, std::move(to), std::move(reply), {}});
  }

  void deliver_call(const call_request& request, reply_to&& to, call_reply&& reply) override {
    bool wakes = request.request_id != 0 && lane_.blocking_ids_.erase(request.request_id) > 0;
    lane_.effects_.push_back(effect{false, wakes, std::move(to), std::move(reply), {}});
  }

  void hand_back(call_request&& request, reply_to&& to) override {
    lane_.blocking_ids_.erase(request.request_id);
    lane_.effects_.push_back(effect{true, false, std::move(to), {}, std::move(request)});
  }

  void released(const call_request& request) override {
    lane_.config_.stats->load.fetch_sub(1);
    if (request.request_id != 0 && request.request_id == lane_.lead_unreported_) {
      lane_.lead_unreported_ = 0; // taken and released before any report: nothing to say
      return;
    }
    lane_.released_ids_.push_back(request.request_id);
    lane_.arm_report_locked(clock_type::now());
  }

  std::string label() const override {
    return lane_.label_locked();
  }

private:
  call_lane& lane_;
};

// -- construction -------------------------------------------------------------------------

call_lane::call_lane(call_lane_config config) : config_(std::move(config)) {
  if (!config_.stats)
    config_.stats = std::make_shared<worker_stats>();
  callee_ = std::make_unique<callee>(*this);
  // Whoever reads replies pumps after every batch (on_batch_end): a call
  // taken while a reply is owed goes out with the others in one write.
  config_.ledger.coalesce_writes = true;
  ledger_ = std::make_unique<call_ledger>(*callee_, config_.ledger);
  lead_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

call_lane::~call_lane() {
  if (lead_fd_ >= 0)
    ::close(lead_fd_);
}

// -- callers ------------------------------------------------------------------------------

bool call_lane::try_call(call_request& request, reply_sink& sink, bool* lead) {
  return take_call(request, sink, lead, lead != nullptr ? lead_mode::blocking : lead_mode::none);
}

bool call_lane::try_call_polled(call_request& request, reply_sink& sink, bool* lead) {
  return take_call(request, sink, lead, lead_mode::polled);
}

bool call_lane::take_call(call_request& request, reply_sink& sink, bool* lead,
                          lead_mode mode) {
  auto now = clock_type::now();
  std::vector<effect> fx;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ || exited_ || process_ == nullptr || !queued_.empty() || !ledger_->serving())
      return false;
    config_.stats->load.fetch_add(1);
    bool leads = mode != lead_mode::none && reader_ == reader::free && lead_fd_ >= 0;
    // A blocking leader's call is reported by the leader itself, and only if
    // it still runs after `report_delay` (see `lead`): a quick blocking call
    // wakes neither the I/O thread nor the scheduler. A polling leader's
    // call is reported like any other: measured, that report (which counts
    // the call on this worker for up to `report_delay`) keeps a caller's
    // next sequential calls on this same, warm worker; without it the
    // direct route's rotation alternates the workers and a gateway's
    // sequential py:func cost more CPU and latency.
    bool self_reported = leads && mode == lead_mode::blocking;
    if (self_reported)
      lead_unreported_ = request.request_id;
    else
      accepted_ids_.push_back(request.request_id);
    if (mode == lead_mode::blocking)
      blocking_ids_.insert(request.request_id);
    ledger_->accept(std::move(request), reply_to{{}, std::move(sink)}, now);
    if (leads) {
      reader_ = reader::leader; // this caller reads its own reply
      poll_leader_ = mode == lead_mode::polled;
      if (poll_leader_)
        arm_report_locked(now);
      *lead = true;
    } else {
      arm_report_locked(now);
      ensure_reader_locked();
    }
    if (!effects_.empty()) // else effects_ keeps its buffer for the next reply
      fx.swap(effects_);
  }
  if (!fx.empty())
    carry_out(std::move(fx), false, false);
  return true;
}

void call_lane::note_queued(uint64_t request_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!closed_)
    queued_.insert(request_id);
}

// -- the worker actor ---------------------------------------------------------------------

void call_lane::attach(worker_process* p) {
  std::lock_guard<std::mutex> guard{mtx_};
  process_ = p;
  ledger_->started(clock_type::now());
}

void call_lane::accept(call_request&& request, reply_to&& to) {
  std::vector<effect> fx;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = queued_.find(request.request_id); i != queued_.end())
      queued_.erase(i);
    config_.stats->load.fetch_add(1);
    accepted_ids_.push_back(request.request_id);
    ledger_->accept(std::move(request), std::move(to), clock_type::now());
    ensure_reader_locked();
    fx.swap(effects_);
  }
  carry_out(std::move(fx), true, false);
}

void call_lane::cancel(uint64_t request_id) {
  std::vector<effect> fx;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ledger_->cancel(request_id, clock_type::now());
    ensure_reader_locked();
    fx.swap(effects_);
  }
  carry_out(std::move(fx), true, false);
}

bool call_lane::ready() {
  std::vector<effect> fx;
  bool result;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    result = ledger_->ready();
    ensure_reader_locked();
    fx.swap(effects_);
  }
  carry_out(std::move(fx), true, false);
  return result;
}

void call_lane::drain() {
  std::vector<effect> fx;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ledger_->drain();
    fx.swap(effects_);
  }
  carry_out(std::move(fx), true, false);
}

bool call_lane::process_died(const std::string& what) {
  std::vector<effect> fx;
  bool running;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    exited_ = true;
    running = ledger_->process_died(what);
    fx.swap(effects_);
  }
  carry_out(std::move(fx), true, false);
  return running;
}

void call_lane::close(const std::string& why) {
  std::vector<effect> fx;
  {
    std::unique_lock<std::mutex> guard{mtx_};
    closed_ = true;
    // A caller reading the channel uses the process: it leaves first.
    wake_leader();
    leader_left_.wait(guard, [&] { return reader_ != reader::leader; });
    ledger_->abandon_all(why);
    process_ = nullptr;
    queued_.clear();
    blocking_ids_.clear();
    fx.swap(effects_);
    for (auto* jobs : {&actor_jobs_, &read_fx_, &io_jobs_}) {
      for (auto& job : *jobs)
        fx.push_back(std::move(job));
      jobs->clear();
    }
  }
  carry_out(std::move(fx), true, false);
}

void call_lane::run_actor_jobs() {
  std::vector<effect> jobs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    jobs.swap(actor_jobs_);
  }
  if (!jobs.empty())
    carry_out(std::move(jobs), true, false);
}

void call_lane::flush_report() {
  std::lock_guard<std::mutex> guard{mtx_};
  flush_report_locked();
}

bool call_lane::idle() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ledger_->idle();
}

bool call_lane::recycle_due() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ledger_->recycle_due();
}

bool call_lane::serving() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ledger_->serving();
}

uint64_t call_lane::served() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ledger_->served();
}

std::string call_lane::start_failure() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ledger_->start_failure();
}

std::string call_lane::label() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return label_locked();
}

// -- the I/O thread ------------------------------------------------------------------------

void call_lane::on_frame(uint64_t call_id, uint8_t status, std::vector<char>&& payload) {
  frames_.push_back(reply_frame{call_id, status, std::move(payload)});
}

void call_lane::on_batch_end() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (closed_) {
    frames_.clear();
    return;
  }
  auto now = clock_type::now();
  for (auto& f : frames_)
    ledger_->on_reply(f.call_id, f.status, std::move(f.payload), now);
  frames_.clear();
  ledger_->pump(); // the slots the replies freed, before anyone is woken
  config_.stats->served.store(ledger_->served(), std::memory_order_relaxed);
  if (reader_ == reader::io && !outstanding_locked() && ledger_->serving()
      && process_ != nullptr) {
    reader_ = reader::free; // the next caller that waits reads the reply itself
    process_->set_io_reader(false);
  }
  if (reader_ == reader::leader && !poll_leader_) {
    // Read by a caller: it completes blocking callers only.
    for (auto& e : effects_) {
      if (e.wakes_caller || !e.to.sink.completion)
        read_fx_.push_back(std::move(e));
      else
        io_jobs_.push_back(std::move(e));
    }
    if (!io_jobs_.empty())
      set_alarm_locked(now); // the I/O thread runs them now
  } else {
    for (auto& e : effects_)
      read_fx_.push_back(std::move(e));
  }
  effects_.clear();
  read_poke_ = read_poke_ || !actor_jobs_.empty() || ledger_->recycle_due() || !ledger_->serving();
}

void call_lane::on_read_end() {
  std::vector<effect> fx;
  bool poke;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (read_fx_.empty() && !read_poke_)
      return;
    fx.swap(read_fx_);
    poke = read_poke_;
    read_poke_ = false;
  }
  carry_out(std::move(fx), false, poke);
  // The buffer goes back for the next read (effects are large: a read's
  // vector would grow past 1 KiB again, which is costly in glibc).
  fx.clear();
  std::lock_guard<std::mutex> guard{mtx_};
  if (read_fx_.empty() && read_fx_.capacity() < fx.capacity())
    read_fx_.swap(fx); // (what came meanwhile stays where it is)
}

void call_lane::on_alarm() {
  std::vector<effect> fx;
  bool poke;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return;
    auto now = clock_type::now();
    if (now >= report_at_) {
      report_at_ = time_point::max();
      flush_report_locked();
    }
    if (now >= ledger_alarm_) {
      ledger_alarm_ = time_point::max();
      ledger_->on_alarm(now); // may ask for the next alarm
    }
    // The process keeps one alarm and forgets it once it rang: ask again
    // for what is still pending.
    if (ledger_alarm_ != time_point::max())
      set_alarm_locked(ledger_alarm_);
    if (report_at_ != time_point::max())
      set_alarm_locked(report_at_);
    ensure_reader_locked();
    fx.swap(effects_);
    for (auto& job : io_jobs_) // completions a leader left to this thread
      fx.push_back(std::move(job));
    io_jobs_.clear();
    poke = !actor_jobs_.empty() || !ledger_->serving();
  }
  carry_out(std::move(fx), false, poke);
}

void call_lane::on_exit() {
  std::lock_guard<std::mutex> guard{mtx_};
  exited_ = true;
}

// -- the leader ---------------------------------------------------------------------------

void call_lane::lead(const std::function<bool()>& done) {
  worker_process* p;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    p = process_;
  }
  // The process stays while reader_ is `leader`: `close` waits for it.
  bool channel = p != nullptr;
  struct leading {
    explicit leading(const call_lane* lane) : outer(leading_lane) { leading_lane = lane; }
    ~leading() { leading_lane = outer; }
    const call_lane* outer;
  } scope{this};
  // The leader's own call is reported to the scheduler at this time if it
  // is still unanswered then (try_call).
  auto report_at = clock_type::now() + config_.report_delay;
  for (;;) {
    int wait_ms = -1;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_ || done())
        break;
      if (lead_unreported_ != 0) {
        auto now = clock_type::now();
        if (now >= report_at)
          flush_report_locked();
        else
          wait_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(report_at - now).count() + 1);
      }
    }
    pollfd fds[2] = {{lead_fd_, POLLIN, 0}, {channel ? p->reply_fd() : -1, POLLIN, 0}};
    if (::poll(fds, 2, wait_ms) < 0 && errno != EINTR)
      break; // the I/O thread takes over below
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(lead_fd_, &count, sizeof(count));
    }
    if (channel && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
      channel = p->read_some(); // closed: wait for the actor to settle the call
  }
  std::lock_guard<std::mutex> guard{mtx_};
  reader_ = reader::free;
  if (!closed_)
    ensure_reader_locked();
  leader_left_.notify_all();
}

void call_lane::wake_leader() {
  if (leading_lane == this)
    return; // the leader completed a call itself: it checks `done` next
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(lead_fd_, &one, sizeof(one));
}

bool call_lane::poll_fds(int& replies, int& wake) const {
  std::lock_guard<std::mutex> guard{mtx_};
  wake = lead_fd_;
  if (process_ == nullptr || closed_)
    return false;
  replies = process_->reply_fd();
  return true;
}

bool call_lane::poll_read(bool woken) {
  worker_process* p;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (woken) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(lead_fd_, &count, sizeof(count));
    }
    p = closed_ ? nullptr : process_;
    if (p == nullptr) {
      release_lead_locked();
      return false;
    }
  }
  // The process stays while reader_ is `leader`: `close` waits for it.
  bool open = p->read_some(); // delivers on this thread (on_read_end)
  std::lock_guard<std::mutex> guard{mtx_};
  if (!closed_ && open && outstanding_locked())
    return true;
  release_lead_locked();
  return false;
}

void call_lane::end_poll_lead() {
  std::lock_guard<std::mutex> guard{mtx_};
  release_lead_locked();
}

void call_lane::release_lead_locked() {
  if (reader_ != reader::leader)
    return;
  reader_ = reader::free;
  poll_leader_ = false;
  if (!closed_)
    ensure_reader_locked(); // outstanding calls: the I/O thread reads them
  leader_left_.notify_all();
}

bool call_lane::outstanding_locked() const {
  return ledger_->written_count() + ledger_->abandoned_count() + ledger_->waiting_count() > 0;
}

void call_lane::ensure_reader_locked() {
  if (reader_ != reader::free || process_ == nullptr || !outstanding_locked())
    return;
  reader_ = reader::io;
  process_->set_io_reader(true);
}

// -- internals ----------------------------------------------------------------------------

void call_lane::carry_out(std::vector<effect>&& effects, bool on_actor, bool poke) {
  for (auto& e : effects) {
    if (e.to.sink.completion) {
      if (!e.give_back)
        e.to.sink.completion->deliver(std::move(e.reply));
      else if (config_.scheduler)
        caf::anon_send(config_.scheduler, call_atom_v, std::move(e.request), std::move(e.to.sink));
      else
        e.to.sink.completion->deliver(
          make_error_reply(errc::worker_crashed, label() + " left before the call ran"));
      continue;
    }
    if (!e.to.promise.pending())
      continue;
    if (!on_actor) { // a response promise is settled on the actor's thread
      std::lock_guard<std::mutex> guard{mtx_};
      actor_jobs_.push_back(std::move(e));
      poke = true;
    } else if (!e.give_back) {
      e.to.promise.deliver(std::move(e.reply));
    } else if (config_.scheduler) {
      e.to.promise.delegate(config_.scheduler, call_atom_v, std::move(e.request));
    } else {
      e.to.promise.deliver(
        make_error_reply(errc::worker_crashed, label() + " left before the call ran"));
    }
  }
  if (poke && !on_actor)
    poke_actor();
}

void call_lane::poke_actor() {
  if (auto strong = config_.actor.lock())
    caf::anon_send(caf::actor_cast<worker_actor_impl>(strong), reply_atom_v,
                   std::vector<reply_frame>{});
}

void call_lane::arm_report_locked(time_point now) {
  if (report_at_ != time_point::max() || !config_.scheduler)
    return;
  report_at_ = now + config_.report_delay;
  set_alarm_locked(report_at_);
}

void call_lane::flush_report_locked() {
  if (lead_unreported_ != 0) { // the leader's call is reported with the others
    accepted_ids_.push_back(lead_unreported_);
    lead_unreported_ = 0;
  }
  if (accepted_ids_.empty() && released_ids_.empty())
    return;
  if (config_.scheduler)
    caf::anon_send(config_.scheduler, held_atom_v, config_.uid, std::move(accepted_ids_),
                   std::move(released_ids_));
  accepted_ids_.clear();
  released_ids_.clear();
}

void call_lane::set_alarm_locked(time_point at) {
  if (process_ != nullptr)
    process_->set_alarm(at);
}

std::string call_lane::label_locked() const {
  return "worker " + std::to_string(config_.slot) + " (pid "
         + std::to_string(process_ != nullptr ? process_->pid() : -1) + ")";
}

} // namespace pyactor::actors
