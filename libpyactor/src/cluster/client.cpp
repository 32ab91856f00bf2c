// pyactor::cluster::client: calls into a running cluster through its head.
#include <future>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "client/request_body.hpp"
#include "cluster/cluster_system.hpp"
#include "cluster/head_actor.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor::cluster {

namespace {

/// Slack past a call's own timeout before the client gives up on the head
/// (the head answers `timeout` itself well before).
constexpr auto client_slack = std::chrono::seconds(15);
constexpr auto status_wait = std::chrono::seconds(15);
constexpr auto keepalive_every = std::chrono::milliseconds(250);

/// Sends one request from a short-lived actor that also monitors the head,
/// and waits for the reply on the calling thread: a head that is lost ends
/// the wait at once (no scoped_actor on the caller's thread).
template <class Reply, class... Ts>
result<Reply> ask(caf::actor_system& sys, const caf::actor& head, const std::string& where,
                  std::chrono::milliseconds wait, Ts... xs) {
  auto promise = std::make_shared<std::promise<result<Reply>>>();
  auto future = promise->get_future();
  auto done = std::make_shared<bool>(false);
  auto set = [promise, done](result<Reply> x) {
    if (*done)
      return;
    *done = true;
    promise->set_value(std::move(x));
  };
  sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(head);
    self->set_down_handler([=](caf::down_msg& down) {
      set(make_error(errc::node_down, "lost the connection to the head at " + where + " ("
                                        + caf::to_string(down.reason) + ")"));
      self->quit();
    });
    self->request(head, wait, xs...)
      .then(
        [=](Reply& reply) {
          set(std::move(reply));
          self->quit();
        },
        [=](caf::error& err) {
          if (err == caf::sec::request_timeout)
            set(make_error(errc::timeout, "the head at " + where + " did not answer within "
                                            + std::to_string(wait.count()) + " ms"));
          else
            set(make_error(errc::node_down,
                           "the head at " + where + " failed the request: " + caf::to_string(err)));
          self->quit();
        });
    // Keeps the connection busy while the reply takes its time (keepalive_atom).
    self->send(self, keepalive_tick{});
    return {
      [=](keepalive_tick) {
        self->send(head, keepalive_atom::value);
        self->delayed_send(self, keepalive_every, keepalive_tick{});
      },
    };
  });
  return future.get();
}

actors::call_request make_request(std::vector<char> body, const call_options& opts) {
  actors::call_request req;
  req.body = std::move(body);
  req.timeout_ms = static_cast<uint32_t>(
    std::clamp<int64_t>(opts.timeout.count(), 0, std::numeric_limits<uint32_t>::max()));
  return req;
}

std::chrono::milliseconds call_wait(const call_options& opts) {
  auto t = opts.timeout.count() > 0 ? opts.timeout : std::chrono::milliseconds(std::chrono::minutes(5));
  return t + client_slack;
}

} // namespace

struct client::impl {
  std::unique_ptr<cluster_system> net;
  caf::actor head;
  std::string where;

  ~impl() {
    if (net && head)
      head = nullptr;
  }

  result<value> call(std::vector<char> body, const call_options& opts) {
    auto reply = ask<actors::call_reply>(*net->sys, head, where, call_wait(opts),
                                         actors::call_atom_v, make_request(std::move(body), opts));
    if (!reply)
      return reply.error();
    return actors::decode_reply(reply.value());
  }
};

client::client(std::unique_ptr<impl> pimpl) : impl_(std::move(pimpl)) {
  // nop
}

client::~client() = default;

result<std::unique_ptr<client>> client::connect(const endpoint& head, const network_options& net,
                                                std::chrono::milliseconds connect_timeout) {
  auto cs = start_cluster_system(net);
  if (!cs)
    return cs.error();
  auto pimpl = std::make_unique<impl>();
  pimpl->net = std::move(cs).value();
  pimpl->where = head.to_string();
  auto& sys = *pimpl->net->sys;
  auto mm = pimpl->net->tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
  auto promise = std::make_shared<std::promise<result<caf::actor>>>();
  auto future = promise->get_future();
  auto where = pimpl->where;
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(mm, connect_timeout, caf::connect_atom::value, head.host, head.port)
      .then(
        [=](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
          if (!ptr)
            promise->set_value(make_error(errc::node_down, "nothing is published at " + where));
          else
            promise->set_value(caf::actor_cast<caf::actor>(std::move(ptr)));
        },
        [=](caf::error& err) {
          promise->set_value(make_error(errc::node_down, "cannot connect to the head at " + where
                                                           + ": " + caf::to_string(err)));
        });
  });
  auto found = future.get();
  if (!found)
    return found.error();
  pimpl->head = std::move(found).value();
  return std::unique_ptr<client>{new client(std::move(pimpl))};
}

result<value> client::call(const std::string& module, const std::string& function, list args,
                           dict kwargs, const call_options& opts) {
  return impl_->call(pyactor::client::body_builder{worker::op::func, 5}
                       .text(module)
                       .text(function)
                       .args(args)
                       .kwargs(kwargs)
                       .flag(opts.by_ref)
                       .take(),
                     opts);
}

result<value> client::eval(const std::string& expression, const call_options& opts) {
  return impl_->call(pyactor::client::body_builder{worker::op::eval, 2}.text(expression).kwargs({}).take(),
                     opts);
}

std::vector<node_worker_reply> client::broadcast(const std::string& module,
                                                 const std::string& function, list args,
                                                 dict kwargs, const std::string& node,
                                                 const call_options& opts) {
  auto body = pyactor::client::body_builder{worker::op::func, 5}
                .text(module)
                .text(function)
                .args(args)
                .kwargs(kwargs)
                .flag(opts.by_ref)
                .take();
  auto replies = ask<std::vector<worker_result>>(*impl_->net->sys, impl_->head, impl_->where,
                                                 call_wait(opts), bcast_atom::value,
                                                 make_request(std::move(body), opts), node);
  std::vector<node_worker_reply> out;
  if (!replies) {
    out.push_back(node_worker_reply{node, 0, replies.error()});
    return out;
  }
  for (auto& r : replies.value())
    out.push_back(node_worker_reply{r.node, r.slot, actors::decode_reply(r.reply)});
  return out;
}

result<std::vector<node_info>> client::status() {
  auto reports = ask<std::vector<node_report>>(*impl_->net->sys, impl_->head, impl_->where,
                                               std::chrono::milliseconds(status_wait),
                                               actors::status_atom_v);
  if (!reports)
    return reports.error();
  std::vector<node_info> out;
  for (auto& r : reports.value())
    out.push_back(to_node_info(r));
  return out;
}

result<std::vector<restart_info>> client::restarts() {
  auto per_node = ask<std::vector<node_restarts>>(*impl_->net->sys, impl_->head, impl_->where,
                                                  std::chrono::milliseconds(status_wait),
                                                  actors::history_atom_v);
  if (!per_node)
    return per_node.error();
  std::vector<restart_info> out;
  for (auto& n : per_node.value())
    for (auto& r : n.records)
      out.push_back(restart_info{r.slot,
                                 std::chrono::system_clock::time_point{
                                   std::chrono::milliseconds(r.at_ms)},
                                 r.reason, r.given_up, n.node});
  return out;
}

} // namespace pyactor::cluster
