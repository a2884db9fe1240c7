// Which threads are JavaScript threads. A persistence callback that arrives on one must
// not wait for JavaScript: the thread it would wait for is itself.
#pragma once

namespace paho_redis {

// Marks the calling thread as the JS thread of a Node environment (main or worker).
void MarkJsThread();
bool OnJsThread();

}  // namespace paho_redis
