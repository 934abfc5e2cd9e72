
      export type PossibleTypesResultData = {
  "possibleTypes": {
    "ViewerEventPayload": [
      "AppointmentCreatedEvent",
      "AppointmentUpdatedEvent",
      "ConversationDeletedEvent",
      "ConversationUpdatedEvent",
      "MessageAddedEvent",
      "MessageDeletedEvent",
      "MessageEditedEvent",
      "MessageReadEvent",
      "MessageUnreadEvent",
      "ReactionChangedEvent",
      "UnreadCountEvent",
      "UserUpdatedEvent",
      "WebhookEndpointDisabledEvent"
    ]
  }
};
      const result: PossibleTypesResultData = {
  "possibleTypes": {
    "ViewerEventPayload": [
      "AppointmentCreatedEvent",
      "AppointmentUpdatedEvent",
      "ConversationDeletedEvent",
      "ConversationUpdatedEvent",
      "MessageAddedEvent",
      "MessageDeletedEvent",
      "MessageEditedEvent",
      "MessageReadEvent",
      "MessageUnreadEvent",
      "ReactionChangedEvent",
      "UnreadCountEvent",
      "UserUpdatedEvent",
      "WebhookEndpointDisabledEvent"
    ]
  }
};
      export default result;
    