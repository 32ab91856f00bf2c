#include "cluster/call_port.hpp"

#include <caf/all.hpp>

#include "actors/type_ids.hpp"
#include "cluster/inline_actor.hpp"
#include "cluster/messages.hpp"

namespace pyactor::cluster {

// -- port_calls ---------------------------------------------------------------------------

std::pair<uint64_t, bool> port_calls::add(const caf::actor_addr& sender, uint64_t sender_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = next_id_++;
  calls_.emplace(id, entry{sender, sender_id});
  bool fresh = sender && senders_.insert(sender).second;
  return {id, fresh};
}

bool port_calls::remove(uint64_t id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return calls_.erase(id) > 0;
}

uint64_t port_calls::find(const caf::actor_addr& sender, uint64_t sender_id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, e] : calls_)
    if (e.sender_id == sender_id && e.sender == sender)
      return id;
  return 0;
}

std::vector<uint64_t> port_calls::drop_sender(const caf::actor_addr& sender) {
  std::lock_guard<std::mutex> guard{mtx_};
  senders_.erase(sender);
  std::vector<uint64_t> ids;
  for (auto& [id, e] : calls_)
    if (e.sender == sender)
      ids.push_back(id);
  return ids;
}

namespace {

/// Replies to batched calls on their way to the network thread, by sender.
class reply_outbox : public std::enable_shared_from_this<reply_outbox> {
public:
  using post_function = std::function<void(std::function<void()>)>;

  reply_outbox(caf::weak_actor_ptr port, post_function post)
    : port_(std::move(port)), post_(std::move(post)) {
    // nop
  }

  /// Queues `reply` for `to`; the first one queued asks the network thread
  /// to flush (what comes until it runs goes along).
  void push(const caf::strong_actor_ptr& to, batched_reply&& reply) {
    bool first = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = std::find_if(queued_.begin(), queued_.end(),
                            [&](const auto& entry) { return entry.first == to; });
      if (i == queued_.end()) {
        queued_.emplace_back(to, std::vector<batched_reply>{});
        i = queued_.end() - 1;
      }
      i->second.push_back(std::move(reply));
      first = !posted_;
      posted_ = true;
    }
    if (first)
      post_([self = shared_from_this()] { self->flush(); });
  }

private:
  void flush() {
    std::vector<std::pair<caf::strong_actor_ptr, std::vector<batched_reply>>> batch;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      batch.swap(queued_);
      posted_ = false;
    }
    auto port = caf::actor_cast<caf::strong_actor_ptr>(port_);
    for (auto& [to, replies] : batch)
      to->enqueue(port, caf::make_message_id(),
                  caf::make_message(actors::call_atom_v, std::move(replies)), nullptr);
  }

  caf::weak_actor_ptr port_; // the port owns this
  post_function post_;
  std::mutex mtx_;
  std::vector<std::pair<caf::strong_actor_ptr, std::vector<batched_reply>>> queued_;
  bool posted_ = false;
};

/// Answers one call straight to its sender, from whichever thread settles it.
class port_completion final : public actors::call_completion {
public:
  port_completion(std::shared_ptr<port_calls> calls, uint64_t id, caf::strong_actor_ptr port,
                  caf::strong_actor_ptr to, caf::message_id mid,
                  std::shared_ptr<reply_outbox> outbox, bool batched, uint64_t reply_id)
    : calls_(std::move(calls)),
      id_(id),
      port_(std::move(port)),
      to_(std::move(to)),
      mid_(mid),
      outbox_(std::move(outbox)),
      batched_(batched),
      reply_id_(reply_id) {
    // nop
  }

  ~port_completion() override { complete_if_abandoned(); }

protected:
  void complete(actors::call_reply&& reply) override {
    calls_->remove(id_);
    if (!to_)
      return;
    if (batched_ && outbox_) {
      outbox_->push(to_, batched_reply{reply_id_, std::move(reply)});
    } else if (batched_) {
      std::vector<batched_reply> one;
      one.push_back(batched_reply{reply_id_, std::move(reply)});
      to_->enqueue(port_, caf::make_message_id(),
                   caf::make_message(actors::call_atom_v, std::move(one)), nullptr);
    } else {
      to_->enqueue(port_, mid_.response_id(), caf::make_message(std::move(reply)), nullptr);
    }
  }

private:
  std::shared_ptr<port_calls> calls_;
  uint64_t id_;
  caf::strong_actor_ptr port_;
  caf::strong_actor_ptr to_;
  caf::message_id mid_;
  std::shared_ptr<reply_outbox> outbox_;
  bool batched_;
  uint64_t reply_id_;
};

class call_port final : public inline_actor {
public:
  using inline_actor::inline_actor;

  call_port_config config;
  std::shared_ptr<reply_outbox> outbox;

  const char* name() const override { return "pyactor.call_port"; }

protected:
  void handle(caf::mailbox_element_ptr what, caf::execution_unit* eu) override {
    auto& content = what->content();
    if (content.match_elements<actors::call_atom, actors::call_request>()) {
      auto msg = what->move_content_to_message();
      auto& request = msg.get_mutable_as<actors::call_request>(1);
      submit(what->sender, what->mid, false, 0, std::move(request));
      return;
    }
    if (content.match_elements<actors::call_atom, std::vector<batched_call>>()) {
      if (!what->sender)
        return; // nobody to answer
      auto msg = what->move_content_to_message();
      for (auto& entry : msg.get_mutable_as<std::vector<batched_call>>(1))
        submit(what->sender, caf::make_message_id(), true, entry.id, std::move(entry.request));
      return;
    }
    if (content.match_elements<actors::cancel_atom, uint64_t>()) {
      auto request_id = content.get_as<uint64_t>(1);
      if (!what->sender || request_id == 0)
        return;
      if (auto id = config.calls->find(what->sender->address(), request_id); id != 0)
        config.cancel(id);
      return;
    }
    if (config.manager)
      config.manager->enqueue(std::move(what), eu);
  }

private:
  void submit(const caf::strong_actor_ptr& sender, caf::message_id mid, bool batched,
              uint64_t reply_id, actors::call_request&& request) {
    caf::actor_addr from = sender ? sender->address() : caf::actor_addr{};
    auto [id, fresh] = config.calls->add(from, request.request_id);
    if (fresh)
      caf::anon_send(config.manager, track_atom::value, caf::actor_cast<caf::actor>(sender));
    request.request_id = id;
    actors::reply_sink sink{std::make_shared<port_completion>(
      config.calls, id, caf::actor_cast<caf::strong_actor_ptr>(this), sender, mid, outbox,
      batched, reply_id)};
    config.submit(std::move(request), std::move(sink));
  }
};

} // namespace

caf::actor spawn_call_port(caf::actor_system& sys, call_port_config config) {
  caf::actor_config cfg;
  auto handle = caf::make_actor<call_port, caf::actor>(sys.next_actor_id(), sys.node(), &sys, cfg);
  auto* port = static_cast<call_port*>(caf::actor_cast<caf::abstract_actor*>(handle));
  if (config.post)
    port->outbox = std::make_shared<reply_outbox>(caf::actor_cast<caf::weak_actor_ptr>(handle),
                                                  config.post);
  port->config = std::move(config);
  return handle;
}

} // namespace pyactor::cluster
