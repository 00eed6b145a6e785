"""Conversation: the Pipecat sales agent on each Twilio media stream."""
