#include "cluster/head_actor.hpp"

#include <algorithm>
#include <memory>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

namespace pyactor::cluster {

const char* head_state::name = "pyactor.head";

namespace {

using self_pointer = head_actor::stateful_pointer<head_state>;
using actors::call_reply;
using actors::call_request;
using actors::make_error_reply;

constexpr auto status_timeout = std::chrono::seconds(5);
constexpr size_t max_name_length = 64;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

uint32_t count_ready(const std::vector<actors::worker_status>& workers) {
  return static_cast<uint32_t>(std::count_if(workers.begin(), workers.end(), [](auto& w) {
    return w.state == "ready";
  }));
}

/// Why a node name is refused, or "".
std::string check_name(const std::string& name) {
  if (name.empty() || name.size() > max_name_length)
    return "a node name has 1 to 64 characters, got " + std::to_string(name.size());
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return "a node name has only letters, digits, '-', '_' and '.', got '" + name + "'";
  return {};
}

/// Answers the pending call `id` once; later answers are dropped.
void finish(self_pointer self, uint64_t id, call_reply&& reply) {
  auto& st = self->state;
  auto i = st.pending.find(id);
  if (i == st.pending.end())
    return;
  auto done = std::move(i->second.done);
  if (auto* node = st.find(i->second.incarnation))
    node->in_flight = std::max<int64_t>(0, node->in_flight - 1);
  st.pending.erase(i);
  done(std::move(reply));
}

/// Forwards `request` to `node`; `done` gets exactly one reply. `client`
/// (may be null) names the sender, so its `cancel` of the request's id
/// reaches the call; the node sees the head's own id instead.
void forward(self_pointer self, head_state::node_entry& node, call_request&& request,
             std::function<void(call_reply&&)> done, caf::actor_addr client = {}) {
  auto& st = self->state;
  if (request.timeout_ms == 0)
    request.timeout_ms = static_cast<uint32_t>(st.config.default_timeout.count());
  auto wait = std::chrono::milliseconds(request.timeout_ms) + st.config.grace;
  auto id = st.next_id++;
  head_state::pending_call pc;
  pc.incarnation = node.incarnation;
  pc.client = std::move(client);
  pc.client_id = request.request_id;
  pc.done = std::move(done);
  st.pending.emplace(id, std::move(pc));
  request.request_id = id;
  ++node.in_flight;
  auto name = node.name;
  self->request(node.manager, wait, actors::call_atom_v, std::move(request))
    .then([=](call_reply& reply) { finish(self, id, std::move(reply)); },
          [=](caf::error& err) {
            if (err == caf::sec::request_timeout)
              finish(self, id, make_error_reply(errc::timeout, "node " + name
                                                                 + " did not answer within "
                                                                 + std::to_string(wait.count())
                                                                 + " ms"));
            else
              finish(self, id, make_error_reply(errc::node_down, "node " + name
                                                                   + " could not run the call: "
                                                                   + caf::to_string(err)));
          });
}

void set_workers(head_state::node_entry& node, std::vector<actors::worker_status> workers) {
  node.workers = std::move(workers);
  node.ready = count_ready(node.workers);
  node.reported = 0;
  for (auto& w : node.workers)
    node.reported += w.in_flight;
}

node_report make_report(const head_state::node_entry& node) {
  node_report r;
  r.name = node.name;
  r.address = node.address;
  r.state = node.up ? "up" : "down";
  r.since_ms = node.since_ms;
  r.pid = node.pid;
  r.note = node.note;
  r.index = node.index;
  r.uid_tag = node.uid_tag;
  r.direct = node.up ? node.direct : std::string{};
  r.draining = node.draining;
  if (node.manager)
    r.node_id = caf::to_string(node.manager.node());
  if (node.up)
    r.workers = node.workers;
  return r;
}

/// Cancels on their nodes the calls of a client that went away.
void on_client_down(self_pointer self, const caf::actor_addr& client) {
  auto& st = self->state;
  st.clients.erase(client);
  size_t cancelled = 0;
  for (auto& [id, pc] : st.pending)
    if (pc.client == client)
      if (auto* node = st.find(pc.incarnation); node != nullptr && node->up) {
        self->send(node->manager, actors::cancel_atom_v, id);
        ++cancelled;
      }
  if (cancelled > 0)
    st.config.log("[head] a client went away: cancelled its " + std::to_string(cancelled)
                  + " calls in flight");
}

void on_down(self_pointer self, const caf::down_msg& down) {
  auto& st = self->state;
  if (st.clients.count(down.source) > 0) {
    on_client_down(self, down.source);
    return;
  }
  for (auto& node : st.nodes) {
    if (!node.up || node.manager.address() != down.source)
      continue;
    node.up = false;
    node.since_ms = now_ms();
    node.note = node.draining ? "removed" : "lost: " + caf::to_string(down.reason);
    node.ready = 0;
    auto why = "node " + node.name + " (" + node.address + ") went down ("
               + caf::to_string(down.reason) + ") while the call was in flight";
    std::vector<uint64_t> lost;
    for (auto& entry : st.pending)
      if (entry.second.incarnation == node.incarnation)
        lost.push_back(entry.first);
    st.config.log("[head] lost node " + node.name + " (" + node.address + "): "
                  + caf::to_string(down.reason) + "; answering " + std::to_string(lost.size())
                  + " calls in flight with node_down");
    for (auto id : lost)
      finish(self, id, make_error_reply(errc::node_down, why));
    node.in_flight = 0;
  }
}

std::string on_join(self_pointer self, join_info& info, const caf::actor& manager) {
  auto& st = self->state;
  if (auto problem = check_name(info.name); !problem.empty())
    return problem;
  if (!manager)
    return "the join carried no node manager";
  auto* node = st.find(info.name);
  if (node != nullptr && node->up) {
    if (node->manager.address() == manager.address()) {
      set_workers(*node, std::move(info.workers));
      return {};
    }
    return "a node named '" + info.name + "' is already up (from " + node->address
           + "): give this node another --name";
  }
  for (auto& other : st.nodes)
    if (other.name != info.name && other.uid_tag == info.uid_tag && info.uid_tag != 0)
      return "node '" + other.name + "' has the same worker uid tag "
             + std::to_string(info.uid_tag) + ": restart this node (it draws another)";
  if (node == nullptr) {
    st.nodes.emplace_back();
    node = &st.nodes.back();
    node->name = info.name;
    node->index = static_cast<uint32_t>(st.nodes.size());
  }
  node->uid_tag = info.uid_tag;
  node->draining = false;
  node->incarnation = st.next_incarnation++;
  node->manager = caf::actor_cast<node_manager_actor>(manager);
  node->up = true;
  node->since_ms = now_ms();
  node->pid = info.pid;
  node->note.clear();
  node->in_flight = 0;
  node->address = "?";
  node->direct.clear();
  set_workers(*node, std::move(info.workers));
  self->monitor(node->manager);
  auto incarnation = node->incarnation;
  auto name = info.name;
  auto listen_host = info.listen_host;
  auto listen_port = info.listen_port;
  // Where the node's connection comes from, for status.
  self->request(self->home_system().middleman().actor_handle(), status_timeout, caf::get_atom::value,
                manager.node())
    .then(
      [=](const caf::node_id&, std::string& host, uint16_t port) {
        if (auto* n = self->state.find(incarnation)) {
          n->address = host + ":" + std::to_string(port);
          if (listen_port != 0)
            n->direct = endpoint{listen_host.empty() ? host : listen_host, listen_port}.to_string();
        }
        self->state.config.log("[head] node " + name + " joined from " + host + ":"
                               + std::to_string(port));
      },
      [=](caf::error&) { self->state.config.log("[head] node " + name + " joined"); });
  // Its workers, for routing, right away rather than at the next refresh.
  self->request(node->manager, status_timeout, actors::status_atom_v)
    .then(
      [=](std::vector<actors::worker_status>& workers) {
        if (auto* n = self->state.find(incarnation); n != nullptr && n->up && !workers.empty())
          set_workers(*n, std::move(workers));
      },
      [=](caf::error&) {});
  return {};
}

/// Asks every node in `targets` for its workers; `done` gets the answers
/// (an empty list for a node that did not answer).
void ask_all(self_pointer self, std::vector<uint64_t> targets,
             std::function<void(std::map<uint64_t, std::vector<actors::worker_status>>&)> done) {
  struct gather {
    size_t outstanding = 0;
    std::map<uint64_t, std::vector<actors::worker_status>> answers;
    std::function<void(std::map<uint64_t, std::vector<actors::worker_status>>&)> done;
  };
  auto g = std::make_shared<gather>();
  g->outstanding = targets.size();
  g->done = std::move(done);
  if (targets.empty()) {
    g->done(g->answers);
    return;
  }
  for (auto inc : targets) {
    auto* node = self->state.find(inc);
    auto step = [g, inc](std::vector<actors::worker_status> workers) {
      g->answers[inc] = std::move(workers);
      if (--g->outstanding == 0)
        g->done(g->answers);
    };
    self->request(node->manager, status_timeout, actors::status_atom_v)
      .then([=](std::vector<actors::worker_status>& w) { step(std::move(w)); },
            [=](caf::error&) { step({}); });
  }
}

std::vector<uint64_t> up_nodes(head_state& st, const std::string& only = {}) {
  std::vector<uint64_t> result;
  for (auto& n : st.nodes)
    if (n.up && (only.empty() || n.name == only))
      result.push_back(n.incarnation);
  return result;
}

caf::typed_response_promise<std::vector<worker_result>>
broadcast(self_pointer self, call_request& request, const std::string& only) {
  auto promise = self->make_response_promise<std::vector<worker_result>>();
  auto& st = self->state;
  if (!only.empty() && st.find(only) == nullptr) {
    worker_result r{only, 0, make_error_reply(errc::bad_request, "no node named '" + only
                                                                   + "' (nodes: " + st.describe()
                                                                   + ")")};
    promise.deliver(std::vector<worker_result>{std::move(r)});
    return promise;
  }
  struct collect {
    std::vector<worker_result> results;
    size_t outstanding = 1; // released after every call is sent
    caf::typed_response_promise<std::vector<worker_result>> promise;
    void step() {
      if (--outstanding > 0)
        return;
      std::sort(results.begin(), results.end(), [](auto& a, auto& b) {
        return std::tie(a.node, a.slot) < std::tie(b.node, b.slot);
      });
      promise.deliver(std::move(results));
    }
  };
  auto c = std::make_shared<collect>();
  c->promise = promise;
  auto req = request;
  ask_all(self, up_nodes(st, only), [self, c, req](auto& answers) {
    for (auto& [inc, workers] : answers) {
      auto* node = self->state.find(inc);
      if (node == nullptr || !node->up)
        continue;
      if (workers.empty()) { // the node did not answer: say so instead of skipping it
        c->results.push_back(worker_result{
          node->name, 0,
          make_error_reply(errc::node_down, "node " + node->name
                                              + " did not list its workers in time")});
        continue;
      }
      set_workers(*node, workers);
      for (auto& w : workers) {
        if (w.state != "ready")
          continue;
        auto index = c->results.size();
        c->results.push_back(worker_result{node->name, w.slot, {}});
        auto pinned = req;
        pinned.pin_slot = w.slot;
        ++c->outstanding;
        forward(self, *node, std::move(pinned), [c, index](call_reply&& reply) {
          c->results[index].reply = std::move(reply);
          c->step();
        });
      }
    }
    c->step();
  });
  return promise;
}

/// The recent restarts of every node that is up, asked now, in node order.
caf::typed_response_promise<std::vector<node_restarts>> history(self_pointer self) {
  struct gather {
    size_t outstanding = 0;
    std::vector<node_restarts> answers;
    caf::typed_response_promise<std::vector<node_restarts>> promise;
  };
  auto g = std::make_shared<gather>();
  g->promise = self->make_response_promise<std::vector<node_restarts>>();
  for (auto& node : self->state.nodes)
    if (node.up)
      g->answers.push_back(node_restarts{node.name, node.index, {}});
  g->outstanding = g->answers.size();
  if (g->outstanding == 0) {
    g->promise.deliver(std::vector<node_restarts>{});
    return g->promise;
  }
  for (size_t k = 0; k < g->answers.size(); ++k) {
    auto* node = self->state.find_index(g->answers[k].index);
    auto step = [g, k](std::vector<actors::restart_record> records) {
      g->answers[k].records = std::move(records);
      if (--g->outstanding == 0)
        g->promise.deliver(std::move(g->answers));
    };
    self->request(node->manager, status_timeout, actors::history_atom_v)
      .then([=](std::vector<actors::restart_record>& records) { step(std::move(records)); },
            [=](caf::error&) { step({}); });
  }
  return g->promise;
}

caf::typed_response_promise<std::vector<node_report>> report(self_pointer self) {
  auto promise = self->make_response_promise<std::vector<node_report>>();
  ask_all(self, up_nodes(self->state), [self, promise](auto& answers) mutable {
    std::vector<node_report> reports;
    for (auto& node : self->state.nodes) {
      if (auto i = answers.find(node.incarnation); node.up && i != answers.end())
        set_workers(node, i->second);
      reports.push_back(make_report(node));
    }
    promise.deliver(std::move(reports));
  });
  return promise;
}

/// Where `request` goes: the node its pin or object reference names, or the
/// least loaded one; the request's pin becomes that node's own slot (a pin
/// on slot 0 names a node, any of its workers). Fails with the reply the
/// caller gets.
result<head_state::node_entry*> route(self_pointer self, call_request& request) {
  auto& st = self->state;
  if (request.owner_uid != 0) {
    auto* node = st.find_tag(uid_tag_of(request.owner_uid));
    if (node == nullptr || !node->up)
      return make_error(errc::stale_ref,
                        "the object reference's worker uid " + std::to_string(request.owner_uid)
                          + (node == nullptr ? " names no node of this cluster"
                                             : " belongs to node " + node->name + ", which is "
                                                 + node->note)
                          + ": the object is gone (nodes: " + st.describe() + ")");
    request.pin_slot = actors::any_worker; // the node's scheduler routes by the uid
    return node;
  }
  if (request.pin_slot != actors::any_worker) {
    auto index = node_index_of(request.pin_slot);
    auto* node = st.find_index(index);
    auto local = slot_of(request.pin_slot);
    if (node != nullptr && local == 0 && node->up && !node->draining && node->ready > 0) {
      // Slot 0: any worker of that node (a client's pick of a node it does
      // not reach directly).
      request.pin_slot = actors::any_worker;
      return node;
    }
    if (node != nullptr && local == 0) { // that node cannot take it now: any other
      request.pin_slot = actors::any_worker;
      return route(self, request);
    }
    if (node == nullptr || local == 0)
      return make_error(errc::bad_request,
                        "no worker " + std::to_string(request.pin_slot)
                          + " in the cluster: a worker id is node index * 2^32 + slot, as status "
                            "lists them (nodes: " + st.describe() + ")");
    if (!node->up)
      return make_error(errc::node_down, "worker " + std::to_string(request.pin_slot)
                                           + " is on node " + node->name + ", which is "
                                           + node->note);
    request.pin_slot = local;
    return node;
  }
  auto* node = st.pick();
  if (node == nullptr)
    return make_error(errc::no_workers,
                      "no node of the cluster has a ready worker (nodes: " + st.describe() + ")");
  return node;
}

/// The n newest workers, taken one by one from the nodes with the most
/// ready workers.
std::vector<uint64_t> newest(head_state& st, uint32_t n) {
  std::map<uint32_t, std::vector<uint64_t>> slots; // node index -> ready slots, ascending
  for (auto& node : st.nodes)
    if (node.up && !node.draining)
      for (auto& w : node.workers)
        if (w.state == "ready")
          slots[node.index].push_back(w.slot);
  std::vector<uint64_t> ids;
  while (ids.size() < n) {
    auto most = slots.end();
    for (auto i = slots.begin(); i != slots.end(); ++i)
      if (!i->second.empty() && (most == slots.end() || i->second.size() > most->second.size()))
        most = i;
    if (most == slots.end())
      break;
    std::sort(most->second.begin(), most->second.end());
    ids.push_back(cluster_worker_id(most->first, most->second.back()));
    most->second.pop_back();
  }
  return ids;
}

caf::typed_response_promise<std::vector<uint64_t>> grow(self_pointer self, uint32_t n,
                                                        const std::string& name) {
  auto promise = self->make_response_promise<std::vector<uint64_t>>();
  auto& st = self->state;
  head_state::node_entry* node = nullptr;
  if (!name.empty()) {
    node = st.find(name);
    if (node == nullptr || !node->up || node->draining) {
      promise.deliver(caf::make_error(caf::sec::invalid_argument,
                                      "no node named '" + name + "' is up (nodes: "
                                        + st.describe() + ")"));
      return promise;
    }
  } else {
    for (auto& n : st.nodes)
      if (n.up && !n.draining && (node == nullptr || n.workers.size() < node->workers.size()))
        node = &n;
    if (node == nullptr) {
      promise.deliver(caf::make_error(caf::sec::invalid_argument, "no node is up"));
      return promise;
    }
  }
  auto index = node->index;
  self->request(node->manager, std::chrono::minutes(3), actors::grow_atom_v, n)
    .then(
      [=](std::vector<uint64_t>& slots) mutable {
        for (auto& s : slots)
          s = cluster_worker_id(index, s);
        promise.deliver(std::move(slots));
      },
      [=](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

caf::typed_response_promise<std::vector<uint64_t>> shrink(self_pointer self,
                                                          std::vector<uint64_t> ids) {
  auto promise = self->make_response_promise<std::vector<uint64_t>>();
  auto& st = self->state;
  std::map<uint32_t, std::vector<uint64_t>> by_node;
  for (auto id : ids)
    if (auto* node = st.find_index(node_index_of(id)); node != nullptr && node->up)
      by_node[node->index].push_back(slot_of(id));
  struct collect {
    std::vector<uint64_t> removed;
    size_t outstanding = 1;
    caf::typed_response_promise<std::vector<uint64_t>> promise;
    void step() {
      if (--outstanding == 0) {
        std::sort(removed.begin(), removed.end());
        promise.deliver(std::move(removed));
      }
    }
  };
  auto c = std::make_shared<collect>();
  c->promise = promise;
  for (auto& [index, slots] : by_node) {
    ++c->outstanding;
    auto i = index;
    self->request(st.find_index(index)->manager, caf::infinite, actors::shrink_atom_v, slots)
      .then(
        [=](std::vector<uint64_t>& gone) {
          for (auto s : gone)
            c->removed.push_back(cluster_worker_id(i, s));
          c->step();
        },
        [=](caf::error&) { c->step(); });
  }
  c->step();
  return promise;
}

caf::typed_response_promise<std::string> drain(self_pointer self, const std::string& name) {
  auto promise = self->make_response_promise<std::string>();
  auto& st = self->state;
  auto* node = st.find(name);
  if (node == nullptr || !node->up) {
    promise.deliver("no node named '" + name + "' is up (nodes: " + st.describe() + ")");
    return promise;
  }
  if (node->address == "local") {
    promise.deliver(std::string{"the head's own workers are not a node to remove: use "
                                "remove_workers, or stop the head"});
    return promise;
  }
  node->draining = true; // no new calls; the ones in flight finish
  st.config.log("[head] removing node " + name + ": draining its workers");
  auto incarnation = node->incarnation;
  self->request(node->manager, caf::infinite, drain_atom::value)
    .then(
      [=](std::string& why) mutable {
        self->state.config.log("[head] node " + name + " drained; it stops now");
        promise.deliver(std::move(why));
      },
      [=](caf::error& err) mutable {
        if (auto* n = self->state.find(incarnation))
          n->draining = false;
        promise.deliver("node " + name + " did not drain: " + caf::to_string(err));
      });
  return promise;
}

} // namespace

// -- head_state --------------------------------------------------------------------------

head_state::node_entry* head_state::find(const std::string& node_name) {
  for (auto& n : nodes)
    if (n.name == node_name)
      return &n;
  return nullptr;
}

head_state::node_entry* head_state::find(uint64_t incarnation) {
  for (auto& n : nodes)
    if (n.incarnation == incarnation)
      return &n;
  return nullptr;
}

head_state::node_entry* head_state::find_index(uint32_t index) {
  return index >= 1 && index <= nodes.size() ? &nodes[index - 1] : nullptr;
}

head_state::node_entry* head_state::find_tag(uint64_t uid_tag) {
  for (auto& n : nodes)
    if (n.uid_tag == uid_tag && uid_tag != 0)
      return &n;
  return nullptr;
}

head_state::node_entry* head_state::pick() {
  node_entry* best = nullptr;
  size_t count = nodes.size();
  for (size_t k = 0; k < count; ++k) {
    auto& n = nodes[(rotation + k) % count];
    if (!n.up || n.ready == 0 || n.draining)
      continue;
    // load / ready, compared without division
    auto load = [](const node_entry& x) { return std::max(x.in_flight, x.reported); };
    if (best == nullptr || load(n) * best->ready < load(*best) * n.ready)
      best = &n;
  }
  ++rotation;
  return best;
}

std::string head_state::describe() const {
  std::string text;
  for (auto& n : nodes) {
    text += text.empty() ? "" : ", ";
    text += n.name + (n.up ? " (up, " + std::to_string(n.ready) + " ready)" : " (" + n.note + ")");
  }
  return text.empty() ? "none" : text;
}

head_state::~head_state() {
  for (auto& entry : pending)
    if (entry.second.done)
      entry.second.done(make_error_reply(errc::not_running, "the head stopped"));
}

// -- behavior -----------------------------------------------------------------------------

head_actor::behavior_type head_behavior(self_pointer self, head_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  if (!st.config.log)
    st.config.log = [](const std::string&) {};
  if (st.config.local) {
    head_state::node_entry local;
    local.name = "head";
    local.index = 1;
    local.uid_tag = st.config.local_uid_tag;
    local.incarnation = st.next_incarnation++;
    local.manager = st.config.local;
    local.address = "local";
    local.up = true;
    local.since_ms = now_ms();
    local.pid = static_cast<int64_t>(::getpid());
    st.nodes.push_back(std::move(local));
    self->monitor(st.config.local);
  }
  self->set_down_handler([=](caf::down_msg& down) { on_down(self, down); });
  self->send(self, refresh_tick{});
  self->send(self, keepalive_tick{});
  return {
    [=](join_atom, join_info& info, caf::actor& manager) { return on_join(self, info, manager); },
    [=](actors::call_atom, call_request& request) -> caf::result<call_reply> {
      auto target = route(self, request);
      if (!target)
        return make_error_reply(target.error().code, target.error().message);
      // Before make_response_promise, which takes the sender out.
      auto sender = self->current_sender();
      auto client = sender ? sender->address() : caf::actor_addr{};
      if (client && self->state.clients.insert(client).second)
        self->monitor(client);
      auto promise = self->make_response_promise<call_reply>();
      forward(self, *target.value(), std::move(request),
              [promise](call_reply&& reply) mutable { promise.deliver(std::move(reply)); },
              std::move(client));
      return promise;
    },
    [=](actors::cancel_atom, uint64_t client_id) {
      auto sender = self->current_sender();
      if (!sender || client_id == 0)
        return;
      auto& st = self->state;
      for (auto& [id, pc] : st.pending)
        if (pc.client_id == client_id && pc.client == sender->address()) {
          if (auto* node = st.find(pc.incarnation); node != nullptr && node->up)
            self->send(node->manager, actors::cancel_atom_v, id);
          return;
        }
    },
    [=](actors::grow_atom, uint32_t n, std::string& node) { return grow(self, n, node); },
    [=](actors::shrink_atom, std::vector<uint64_t>& ids) { return shrink(self, std::move(ids)); },
    [=](actors::shrink_atom, uint32_t n) { return shrink(self, newest(self->state, n)); },
    [=](drain_atom, std::string& name) { return drain(self, name); },
    [=](bcast_atom, call_request& request, std::string& only) {
      return broadcast(self, request, only);
    },
    [=](actors::status_atom) { return report(self); },
    [=](actors::history_atom) { return history(self); },
    [=](nodes_atom) {
      std::vector<node_report> reports;
      for (auto& node : self->state.nodes)
        reports.push_back(make_report(node));
      return reports;
    },
    [=](keepalive_atom) {
      // nop: the traffic is the point
    },
    [=](keepalive_tick) {
      for (auto& node : self->state.nodes)
        if (node.up && node.address != "local")
          self->send(node.manager, keepalive_atom::value);
      self->delayed_send(self, self->state.config.keepalive, keepalive_tick{});
    },
    [=](refresh_tick) {
      ask_all(self, up_nodes(self->state), [self](auto& answers) {
        for (auto& [inc, workers] : answers)
          if (auto* node = self->state.find(inc); node != nullptr && node->up && !workers.empty())
            set_workers(*node, workers);
      });
      self->delayed_send(self, self->state.config.refresh, refresh_tick{});
    },
  };
}

} // namespace pyactor::cluster
