#include "cluster/client_port.hpp"

#include <algorithm>
#include <limits>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/type_ids.hpp"
#include "cluster/inline_actor.hpp"
#include "cluster/messages.hpp"

namespace pyactor::cluster {

bool reply_book::add(uint64_t id, entry x) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (std::find(lost_.begin(), lost_.end(), x.from) != lost_.end())
    return false;
  if (x.own)
    x.own->fetch_add(1);
  if (x.request_id != 0)
    by_request_[x.request_id] = id;
  entries_[id] = std::move(x);
  return true;
}

std::shared_ptr<actors::call_completion>
reply_book::erase_locked(std::unordered_map<uint64_t, entry>::iterator i) {
  auto c = std::move(i->second.completion);
  if (i->second.own)
    i->second.own->fetch_sub(1);
  if (i->second.request_id != 0)
    by_request_.erase(i->second.request_id);
  entries_.erase(i);
  return c;
}

std::shared_ptr<actors::call_completion> reply_book::take(uint64_t id,
                                                          const caf::actor_addr* from) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  if (i == entries_.end() || (from != nullptr && i->second.from != *from))
    return nullptr;
  return erase_locked(i);
}

bool reply_book::has(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.count(id) > 0;
}

std::vector<std::shared_ptr<actors::call_completion>>
reply_book::lose(uint32_t index, const caf::actor_addr& from) {
  std::vector<std::shared_ptr<actors::call_completion>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  if (from && std::find(lost_.begin(), lost_.end(), from) == lost_.end())
    lost_.push_back(from);
  for (auto i = entries_.begin(); i != entries_.end();) {
    auto next = std::next(i);
    if (i->second.node == index || (from && i->second.from == from))
      out.push_back(erase_locked(i));
    i = next;
  }
  return out;
}

void reply_book::revive(const caf::actor_addr& from) {
  std::lock_guard<std::mutex> guard{mtx_};
  lost_.erase(std::remove(lost_.begin(), lost_.end(), from), lost_.end());
}

std::vector<std::pair<uint32_t, std::shared_ptr<actors::call_completion>>>
reply_book::take_expired(int64_t now_ms) {
  std::vector<std::pair<uint32_t, std::shared_ptr<actors::call_completion>>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = entries_.begin(); i != entries_.end();) {
    auto next = std::next(i);
    if (i->second.deadline_ms < now_ms) {
      auto node = i->second.node;
      out.emplace_back(node, erase_locked(i));
    }
    i = next;
  }
  return out;
}

bool reply_book::find_request(uint64_t request_id, uint32_t& node, caf::actor_addr& from) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto r = by_request_.find(request_id);
  if (r == by_request_.end())
    return false;
  auto i = entries_.find(r->second);
  if (i == entries_.end())
    return false;
  node = i->second.node;
  from = i->second.from;
  return true;
}

void client_port_shared::publish(std::vector<fast_route> routes) {
  auto snap = std::make_shared<const std::vector<fast_route>>(std::move(routes));
  std::lock_guard<std::mutex> guard{mtx_};
  routes_ = std::move(snap);
}

std::shared_ptr<const fast_route> client_port_shared::pick() {
  std::shared_ptr<const std::vector<fast_route>> snap;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    snap = routes_;
  }
  auto count = snap->size();
  if (count == 0)
    return nullptr;
  auto start = rotation.fetch_add(1, std::memory_order_relaxed);
  const fast_route* best = nullptr;
  for (size_t k = 0; k < count; ++k) {
    auto& r = (*snap)[(start + k) % count];
    if (r.ready == 0)
      continue;
    // load / ready, compared without division
    if (best == nullptr || r.load() * best->ready < best->load() * r.ready)
      best = &r;
  }
  if (best == nullptr)
    return nullptr;
  return std::shared_ptr<const fast_route>(snap, best);
}

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

class client_port final : public inline_actor {
public:
  using inline_actor::inline_actor;

  std::shared_ptr<client_port_shared> shared;

  void set_link(caf::actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    link_ = std::move(x);
  }

  caf::actor link() {
    std::lock_guard<std::mutex> guard{mtx_};
    return link_;
  }

  const char* name() const override { return "pyactor.client_port"; }

protected:
  void handle(caf::mailbox_element_ptr what, caf::execution_unit* eu) override {
    auto& content = what->content();
    if (content.match_elements<actors::call_atom, std::vector<batched_reply>>()) {
      settle(*what);
      return;
    }
    if (content.match_elements<actors::call_atom, actors::call_request, actors::reply_sink>()
        && send_direct(*what, eu))
      return;
    if (content.match_elements<actors::cancel_atom, uint64_t, caf::actor>()) {
      // From the link: after the calls still queued here for that node.
      auto& to = content.get_as<caf::actor>(2);
      if (to)
        queue(caf::actor_cast<caf::strong_actor_ptr>(to), nullptr, content.get_as<uint64_t>(1));
      return;
    }
    if (auto to = link())
      to->enqueue(std::move(what), eu);
  }

  /// The link answers what it holds; a caller's sink answers when dropped.
  void handle_stopped(caf::mailbox_element&, caf::execution_unit*) override {
    // nop
  }

private:
  /// Replies from a node: each call that node may answer is completed here.
  void settle(caf::mailbox_element& what) {
    if (!what.sender)
      return;
    auto from = what.sender->address();
    auto msg = what.move_content_to_message();
    for (auto& r : msg.get_mutable_as<std::vector<batched_reply>>(1))
      if (auto c = shared->book->take(r.id, &from))
        c->deliver(std::move(r.reply));
  }

  /// Sends a call for any worker straight to a node; false leaves it to the link.
  bool send_direct(caf::mailbox_element& what, caf::execution_unit*) {
    auto& peek = what.content().get_as<actors::call_request>(1);
    if (peek.pin_slot != actors::any_worker || peek.owner_uid != 0)
      return false;
    auto to = link();
    auto route = shared->pick();
    if (!to || route == nullptr || !route->manager)
      return false; // the link routes it (through the head if need be)
    auto msg = what.move_content_to_message();
    auto& request = msg.get_mutable_as<actors::call_request>(1);
    auto& sink = msg.get_mutable_as<actors::reply_sink>(2);
    if (request.timeout_ms == 0)
      request.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(
        shared->default_timeout.count(), std::numeric_limits<uint32_t>::max()));
    auto id = shared->next_id.fetch_add(1);
    reply_book::entry e;
    e.from = route->manager.address();
    e.completion = sink.completion;
    e.node = route->index;
    e.request_id = request.request_id;
    e.deadline_ms = now_ms() + request.timeout_ms + shared->slack.count();
    e.own = route->own;
    // Booked before it leaves: a reply, a cancel or the node's loss finds it.
    if (!shared->book->add(id, std::move(e))) {
      sink.completion->deliver(actors::make_error_reply(
        errc::node_down, "the node was lost while the call was on its way"));
      return true;
    }
    batched_call call{id, std::move(request)};
    queue(caf::actor_cast<caf::strong_actor_ptr>(route->manager), &call, 0);
    return true;
  }

  /// Queues a call (or a cancel) for node `to`; the first one queued asks
  /// the network thread to send the queue, so calls and cancels made
  /// meanwhile (a burst of callbacks on that thread) leave in one message
  /// per node, in order.
  void queue(caf::strong_actor_ptr to, batched_call* call, uint64_t cancel) {
    bool first = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = std::find_if(outbox_.begin(), outbox_.end(),
                            [&](const outgoing& x) { return x.to == to; });
      if (i == outbox_.end()) {
        outbox_.push_back(outgoing{std::move(to), {}, {}});
        i = outbox_.end() - 1;
      }
      if (call != nullptr)
        i->calls.push_back(std::move(*call));
      else
        i->cancels.push_back(cancel);
      first = !posted_;
      posted_ = true;
    }
    if (first) {
      caf::weak_actor_ptr weak = caf::actor_cast<caf::weak_actor_ptr>(this);
      home_system().middleman().backend().post([weak] {
        if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
          static_cast<client_port*>(caf::actor_cast<caf::abstract_actor*>(strong))->flush(strong);
      });
    }
  }

  void flush(const caf::strong_actor_ptr& self) {
    std::vector<outgoing> batch;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      batch.swap(outbox_);
      posted_ = false;
    }
    for (auto& x : batch) {
      if (!x.calls.empty())
        x.to->enqueue(self, caf::make_message_id(),
                      caf::make_message(actors::call_atom_v, std::move(x.calls)), nullptr);
      for (auto id : x.cancels)
        x.to->enqueue(self, caf::make_message_id(), caf::make_message(actors::cancel_atom_v, id),
                      nullptr);
    }
  }

  struct outgoing {
    caf::strong_actor_ptr to;
    std::vector<batched_call> calls;
    std::vector<uint64_t> cancels;
  };
  std::vector<outgoing> outbox_; // guarded by mtx_
  bool posted_ = false;          // guarded by mtx_

  std::mutex mtx_;
  caf::actor link_;
};

} // namespace

caf::actor spawn_client_port(caf::actor_system& sys, std::shared_ptr<client_port_shared> shared) {
  caf::actor_config cfg;
  auto handle = caf::make_actor<client_port, caf::actor>(sys.next_actor_id(), sys.node(), &sys, cfg);
  auto* port = static_cast<client_port*>(caf::actor_cast<caf::abstract_actor*>(handle));
  port->shared = std::move(shared);
  return handle;
}

void set_client_port_link(const caf::actor& port, caf::actor link) {
  static_cast<client_port*>(caf::actor_cast<caf::abstract_actor*>(port))->set_link(std::move(link));
}

} // namespace pyactor::cluster
