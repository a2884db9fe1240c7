#include "persistence/outbox_handoff.h"

namespace paho_redis {

namespace {

struct Handoff {
  const std::string* entry_id = nullptr;
  bool taken = false;
};
thread_local Handoff t_handoff;

}  // namespace

OutboxHandoff::OutboxHandoff(const std::string& entry_id) { t_handoff = {&entry_id, false}; }

OutboxHandoff::~OutboxHandoff() { t_handoff = {}; }

bool OutboxHandoff::taken() const { return t_handoff.taken; }

std::string OutboxHandoff::TakeForCommandPut() {
  if (t_handoff.entry_id == nullptr || t_handoff.taken) return {};
  t_handoff.taken = true;
  return *t_handoff.entry_id;
}

}  // namespace paho_redis
