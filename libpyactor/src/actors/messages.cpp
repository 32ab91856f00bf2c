#include "actors/messages.hpp"

#include "pyactor/codec/msgpack.hpp"

namespace pyactor::actors {

call_reply make_error_reply(errc code, const std::string& message) {
  call_reply reply;
  reply.code = static_cast<uint8_t>(code);
  codec::encode_msgpack(value{list{value{""}, value{message}, value{""}}}, reply.payload);
  return reply;
}

error error_from_details(errc code, const value& details) {
  error result;
  result.code = code;
  const list* fields = details.get_if<list>();
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

error decode_error_reply(const call_reply& reply) {
  auto decoded = codec::decode_msgpack(reply.payload);
  return error_from_details(static_cast<errc>(reply.code), decoded ? decoded.value() : value{});
}

result<value> decode_reply(const call_reply& reply) {
  if (!reply.ok())
    return decode_error_reply(reply);
  auto decoded = codec::decode_msgpack(reply.payload);
  if (!decoded)
    return make_error(errc::bad_request,
                      "cannot decode the worker's result: " + decoded.error().message);
  return decoded;
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

} // namespace pyactor::actors
