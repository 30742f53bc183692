// Package translate turns OpenAI's chat format into Anthropic's messages
// format and back: requests (ChatToMessages, MessagesToChatRequest),
// answers (MessagesToChat, ChatToMessagesResponse), stream events
// (ChunksFromAnthropic, EventsFromChat), finish and stop reasons. What
// cannot be carried over is refused with an *Error naming the field.
package translate
