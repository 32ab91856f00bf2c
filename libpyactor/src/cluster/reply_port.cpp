#include "cluster/reply_port.hpp"

#include <caf/all.hpp>

#include "actors/type_ids.hpp"
#include "cluster/messages.hpp"

namespace pyactor::cluster {

void reply_book::add(uint64_t id, caf::actor_addr from,
                     std::shared_ptr<actors::call_completion> c) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_[id] = entry{std::move(from), std::move(c)};
}

std::shared_ptr<actors::call_completion> reply_book::take(uint64_t id,
                                                          const caf::actor_addr* from) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  if (i == entries_.end() || (from != nullptr && i->second.from != *from))
    return nullptr;
  auto c = std::move(i->second.completion);
  entries_.erase(i);
  return c;
}

namespace {

class reply_port final : public caf::monitorable_actor {
public:
  explicit reply_port(caf::actor_config& cfg) : caf::monitorable_actor(cfg) {
    register_at_system();
  }

  std::shared_ptr<reply_book> book;
  caf::actor link;

  const char* name() const override { return "pyactor.reply_port"; }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* eu) override {
    auto& content = what->content();
    if (content.match_elements<caf::exit_msg>()) {
      if (cleanup(caf::error{content.get_as<caf::exit_msg>(0).reason}, eu))
        unregister_from_system();
      return;
    }
    if (getf(is_terminated_flag))
      return;
    if (content.match_elements<actors::call_atom, std::vector<batched_reply>>()) {
      if (!what->sender)
        return;
      auto from = what->sender->address();
      auto msg = what->move_content_to_message();
      std::vector<uint64_t> settled;
      for (auto& r : msg.get_mutable_as<std::vector<batched_reply>>(1))
        if (auto c = book->take(r.id, &from)) {
          c->deliver(std::move(r.reply));
          settled.push_back(r.id);
        }
      if (!settled.empty() && link)
        link->enqueue(nullptr, caf::make_message_id(),
                      caf::make_message(settled_atom::value, std::move(settled)), eu);
      return;
    }
    if (link)
      link->enqueue(std::move(what), eu);
  }

  void on_destroy() override {
    if (!getf(is_cleaned_up_flag)) {
      cleanup(caf::exit_reason::unreachable, nullptr);
      monitorable_actor::on_destroy();
      unregister_from_system();
    }
  }
};

} // namespace

caf::actor spawn_reply_port(caf::actor_system& sys, std::shared_ptr<reply_book> book,
                            caf::actor link) {
  caf::actor_config cfg;
  auto handle = caf::make_actor<reply_port, caf::actor>(sys.next_actor_id(), sys.node(), &sys, cfg);
  auto* port = static_cast<reply_port*>(caf::actor_cast<caf::abstract_actor*>(handle));
  port->book = std::move(book);
  port->link = std::move(link);
  return handle;
}

} // namespace pyactor::cluster
