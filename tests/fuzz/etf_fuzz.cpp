// libFuzzer target for the ETF decoder: decoding never crashes, and what it
// accepts re-encodes to a canonical form that is stable under a second pass
// (and, in the exact mapping, decodes back to the same value).
#include "pyactor/codec/etf.hpp"

#include <cstdlib>

using namespace pyactor;
using namespace pyactor::codec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (auto mapping : {etf_mapping::exact, etf_mapping::python}) {
    etf_options options;
    options.mapping = mapping;
    auto v = decode_etf(data, size, options);
    if (!v) {
      if (v.error().message.rfind("etf: ", 0) != 0)
        std::abort(); // every error says where it comes from
      continue;
    }
    auto once = encode_etf(*v);
    if (!once)
      std::abort();
    auto again = decode_etf(*once, options);
    // In the python mapping {bytes, Bin} comes back as Bin: only exact is one-to-one.
    if (!again || (mapping == etf_mapping::exact && !(*again == *v)))
      std::abort();
    auto twice = encode_etf(*again);
    if (!twice || *twice != *once)
      std::abort();
    format_erlang(*v);
  }
  return 0;
}
