// Addon registration only; the surface is described in binding.h.
#include <napi.h>

#include "binding.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return gregor::init_binding(env, exports); }

NODE_API_MODULE(gregor_native, Init)
