//! Non-blocking WebSocket client over mio (placeholder until the client lands).
