{
  'variables': {
    'addon_sources': [
      'native/addon.cc',
      'native/util/js_thread.cc',
      'native/persistence/key_ledger.cc',
      'native/persistence/operation_log.cc',
      'native/persistence/persistence_call.cc',
      'native/persistence/store_bridge.cc',
      'native/persistence/store_bridge_batches.cc',
      'native/persistence/native_batch.cc',
      'native/persistence/store_bridge_wrap.cc',
      'native/persistence/paho_persistence.cc',
      'native/persistence/paho_persistence_discard.cc',
      'native/persistence/paho_persistence_commands.cc',
      'native/persistence/paho_persistence_held.cc',
      'native/client/sent_publish.cc',
      'native/util/command_queue.cc',
      'native/client/mqtt_client.cc',
      'native/client/mqtt_client_callbacks.cc',
      'native/client/mqtt_client_publish.cc',
      'native/client/mqtt_client_commands.cc',
      'native/client/publish_window.cc',
      'native/client/event_burst.cc',
      'native/client/paho_waker.cc',
      'native/client/mqtt_client_wrap.cc',
      'native/client/inbound_gate.cc',
      'native/client/mqtt_properties.cc',
      'native/util/trace_sink.cc',
      'native/persistence/outbox_handoff.cc',
    ],
  },
  'targets': [
    {
      'target_name': 'paho_mqtt_redis',
      'sources': ['<@(addon_sources)'],
      'includes': ['native/addon.gypi'],
    },
  ],
  'conditions': [
    # The test build (npm run build:native:test): the same addon plus native/test/'s driver,
    # which calls a bridge's MQTTClient_persistence as Paho does. Never shipped.
    ['"<!(echo $PAHO_REDIS_TEST_BUILD)"=="1"', {
      'targets': [
        {
          'target_name': 'paho_mqtt_redis_test',
          'sources': ['<@(addon_sources)', 'native/test/persistence_driver.cc'],
          'includes': ['native/addon.gypi'],
          'defines': ['PAHO_REDIS_TEST_ADDON'],
        },
      ],
    }],
  ],
}
