// Package translate carries requests, answers and streams between OpenAI's
// chat format, Anthropic's messages format and the Responses API:
// requests (ChatToMessages, MessagesToChatRequest, ResponsesToChat),
// answers (MessagesToChat, ChatToMessagesResponse, ChatToResponse),
// streams (ChunksFromAnthropic, EventsFromChat, ResponsesFromChat: each a
// Stream, composed with Chain), tools, reasoning, finish and stop reasons.
// What cannot be carried over is refused with an *Error naming the field,
// or, where Options say so, dropped and named in a Dropped.
package translate
