import { builder } from './builder.js';

export const RoleEnum = builder.enumType('Role', {
  description: 'What kind of account a user is.',
  values: {
    SALON: { description: 'A business account: owns conversations and appointments.' },
    CLIENT: { description: 'A customer of a salon.' },
  } as const,
});

export const ConversationStatusEnum = builder.enumType('ConversationStatus', {
  description: 'Whether a conversation accepts new messages.',
  values: {
    ACTIVE: { description: 'Open: both participants may send.' },
    ARCHIVED: { description: 'Closed by the salon: no new messages from either participant until set ACTIVE again (appointment notices still arrive).' },
  } as const,
});

export const MessageKindEnum = builder.enumType('MessageKind', {
  description: 'Who wrote a message.',
  values: {
    USER: { description: 'Written by one of the participants.' },
    SYSTEM: { description: 'Written by the platform (e.g. an appointment confirmation), for the client.' },
  } as const,
});
