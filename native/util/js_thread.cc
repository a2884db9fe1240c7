#include "util/js_thread.h"

namespace paho_redis {

namespace {
thread_local bool t_is_js_thread = false;
}

void MarkJsThread() { t_is_js_thread = true; }
bool OnJsThread() { return t_is_js_thread; }

}  // namespace paho_redis
