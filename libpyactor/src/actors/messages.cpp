#include "pyactor/actors/messages.hpp"

#include "pyactor/codec/msgpack.hpp"
#include "pyactor/actors/worker_info.hpp"

namespace pyactor::actors {

call_reply make_error_reply(errc code, const std::string& message) {
  call_reply reply;
  reply.code = static_cast<uint8_t>(code);
  codec::encode_msgpack(value{list{value{""}, value{message}, value{""}}}, reply.payload);
  return reply;
}

error decode_error_reply(const call_reply& reply) {
  error result;
  result.code = static_cast<errc>(reply.code);
  auto decoded = codec::decode_msgpack(reply.payload);
  const list* fields = decoded ? decoded.value().get_if<list>() : nullptr;
  if (fields == nullptr || fields->size() != 3 || !(*fields)[0].is<std::string>()
      || !(*fields)[1].is<std::string>() || !(*fields)[2].is<std::string>()) {
    result.message = "the error reply could not be decoded";
    return result;
  }
  result.python_type = (*fields)[0].as<std::string>();
  result.message = (*fields)[1].as<std::string>();
  result.traceback = (*fields)[2].as<std::string>();
  return result;
}

call_completion::~call_completion() {
  // nop: derived classes call complete_if_abandoned()
}

void call_completion::deliver(call_reply&& reply) {
  if (done_)
    return;
  done_ = true;
  complete(std::move(reply));
}

void call_completion::complete_if_abandoned() noexcept {
  if (done_)
    return;
  try {
    deliver(make_error_reply(errc::worker_crashed,
                             "the call was dropped: its worker went away before it ran"));
  } catch (...) {
    // nothing left to tell
  }
}

const char* to_string(worker_state x) {
  switch (x) {
    case worker_state::starting: return "starting";
    case worker_state::ready: return "ready";
    case worker_state::restarting: return "restarting";
    case worker_state::failed: return "failed";
    case worker_state::stopped: return "stopped";
  }
  return "unknown";
}

} // namespace pyactor::actors
