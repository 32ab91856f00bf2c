#include "client_actor.hpp"

#include <exception>

#include <caf/all.hpp>

namespace pyactor::client {

caf::behavior client_behavior(caf::event_based_actor* self,
                              std::function<void(const std::string&)> log) {
  return {
    [=](client_job& job) {
      try {
        job.run(self);
      } catch (const std::exception& x) {
        log(std::string{"[pyactor] a client job threw (ignored): "} + x.what());
      } catch (...) {
        log("[pyactor] a client job threw a non-standard exception (ignored)");
      }
    },
  };
}

} // namespace pyactor::client
