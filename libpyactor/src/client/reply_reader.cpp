// reply_reader: a thread's own poll loop reads its calls' replies (the lanes
// it leads; see call_lane::try_call_polled).
#include "pyactor/reply_reader.hpp"

#include <algorithm>

#include "actors/call_lane.hpp"
#include "runtime_impl.hpp"

namespace pyactor {

thread_local reply_reader::impl* reply_reader::impl::offered = nullptr;

reply_reader::reply_reader() : impl_(std::make_unique<impl>()) {
  // nop
}

reply_reader::~reply_reader() {
  release();
  if (impl::offered == impl_.get())
    impl::offered = nullptr;
}

void reply_reader::offer(bool on) {
  if (on == impl_->offering)
    return;
  impl_->offering = on;
  impl::offered = on ? impl_.get() : nullptr;
}

void reply_reader::fds(std::vector<int>& out) const {
  for (auto& lane : impl_->lanes) {
    int replies = -1;
    int wake = -1;
    if (lane->poll_fds(replies, wake)) {
      out.push_back(replies);
      out.push_back(wake);
    } else {
      out.push_back(wake); // ends the lead at the next turn
    }
  }
}

void reply_reader::on_ready(int fd) {
  auto& lanes = impl_->lanes;
  std::shared_ptr<actors::call_lane> lane;
  bool woken = false;
  for (auto& l : lanes) {
    int replies = -1;
    int wake = -1;
    bool attached = l->poll_fds(replies, wake);
    if (fd == wake || (attached && fd == replies)) {
      lane = l;
      woken = fd == wake;
      break;
    }
  }
  if (!lane)
    return;
  // Completions run here and may submit calls that add lanes: find it again.
  if (!lane->poll_read(woken))
    lanes.erase(std::remove(lanes.begin(), lanes.end(), lane), lanes.end());
}

size_t reply_reader::reading() const {
  return impl_->lanes.size();
}

void reply_reader::release() {
  auto lanes = std::move(impl_->lanes);
  impl_->lanes.clear();
  for (auto& lane : lanes)
    lane->end_poll_lead();
}

} // namespace pyactor
